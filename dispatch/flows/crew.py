"""A crew tablet's frames: findings, status, team activation and destination requests.

Each frame is committed to PostgreSQL first, then acknowledged, then published and
checked for a re-triage (Handled: the ack, then the follow-up). Positions: positions.py.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.domain import Role
from dispatch.errors import Conflict, Forbidden, NotFound
from dispatch.flows.crew_batches import CrewBatches, frame_payload
from dispatch.flows.crew_link import CrewLink, Handled, maybe_retriage
from dispatch.flows.fleet import report_status
from dispatch.flows.positions import crew_position
from dispatch.handover import repo
from dispatch.handover.destinations import crew_request
from dispatch.handover.messages import (
    AckFrame,
    CrewActivateTeamMsg,
    CrewMessage,
    DestinationRequestMsg,
    PositionMsg,
    ResumeMsg,
    StatusMsg,
)
from dispatch.handover.prealert import apply_event
from dispatch.handover.state import ActivateTeam, Actor
from dispatch.realtime.outbox import Outgoing
from dispatch.runtime import Runtime

__all__ = ["crew_message"]


def _reused(msg_id: str) -> Conflict:
    return Conflict(f"msg_id {msg_id!r} already names another frame of this call "
                    "(a resend must repeat it unchanged; new content needs a new msg_id)",
                    field="msg_id")


def _refuse_reused(msg_id: str, stored: repo.CrewInsert) -> None:
    """A msg_id reused for other content is refused, never acknowledged as a resend."""
    if stored.conflict:
        raise _reused(msg_id)


async def crew_message(
    *, rt: Runtime, crew: CrewBatches, link: CrewLink, principal: Principal,
    msg: CrewMessage, now: datetime,
) -> Handled:
    """Commit one crew frame; the caller sends the ack, then runs the follow-up."""
    assert not isinstance(msg, ResumeMsg)
    if isinstance(msg, PositionMsg):
        return await crew_position(rt=rt, crew=crew, link=link, principal=principal, msg=msg,
                                   now=now)
    if isinstance(msg, StatusMsg):
        return await _status(rt, link, principal, msg, now)
    if isinstance(msg, DestinationRequestMsg):
        return await _destination_request(rt, link, msg, now)
    body = msg.model_dump(mode="json", exclude_none=True)

    async def check() -> None:
        await maybe_retriage(rt=rt, crew=crew, link=link, principal=principal,
                             call_id=msg.call_id, frame=body, now=now)

    row = repo.CrewRow(vehicle_id=link.vehicle_id, msg_id=msg.msg_id, call_id=msg.call_id,
                       kind=msg.type, occurred_at=getattr(msg, "at", now), body=body)
    if not isinstance(msg, CrewActivateTeamMsg):
        # Written with the other connections' frames in one statement, published by the
        # writer right after it commits.
        stored = await crew.write_frame(row)
        _refuse_reused(msg.msg_id, stored)
        if stored.event_id is None:
            raise Forbidden("this crew is not assigned to the call", field="call_id")
        ack = AckFrame(msg_id=msg.msg_id, event_id=str(stored.event_id))
        return Handled(ack, (check,) if stored.created else ())
    # A team activation changes the handover state, atomically with the message.
    async with rt.pool.acquire() as conn, conn.transaction():
        stored, out = await _store_team_frame(conn, msg, row, now)
    ack = AckFrame(msg_id=msg.msg_id, event_id=str(stored.event_id))
    if not stored.created:
        return Handled(ack)  # a resend: already published the first time
    out.append(("console", frame_payload(row, stored)))

    async def publish() -> None:
        await rt.outbox.publish(out)

    return Handled(ack, (publish, check))


async def _destination_request(
    rt: Runtime, link: CrewLink, msg: DestinationRequestMsg, now: datetime
) -> Handled:
    """Accepted (the screens re-routed) or refused with the reason: destinations.py."""
    row = repo.CrewRow(vehicle_id=link.vehicle_id, msg_id=msg.msg_id, call_id=msg.call_id,
                       kind=msg.type, occurred_at=now,
                       body=msg.model_dump(mode="json", exclude_none=True))
    places = await rt.places.get()
    async with rt.pool.acquire() as conn, conn.transaction():
        stored = await crew_request(conn=conn, places=places, row=row,
                                    hospital_id=msg.hospital_id, reason=msg.reason, now=now)
    ack = AckFrame(msg_id=msg.msg_id, event_id=str(stored.event_id))
    if not stored.created:
        return Handled(ack)  # a resend: applied and published the first time

    async def publish() -> None:
        # the re-routing, before more frames flow
        await rt.outbox.publish([("console", frame_payload(row, stored))],
                                     after_queued=True)

    return Handled(ack, (publish,))


async def _store_team_frame(
    conn: asyncpg.Connection, msg: CrewActivateTeamMsg, row: repo.CrewRow, now: datetime,
) -> tuple[repo.CrewInsert, Outgoing]:
    out: Outgoing = []
    stored = await repo.insert_crew_message(
        conn=conn, vehicle_id=row.vehicle_id, msg_id=row.msg_id, call_id=row.call_id,
        kind=row.kind, occurred_at=row.occurred_at, body=row.body)
    _refuse_reused(row.msg_id, stored)
    if stored.event_id is None:
        raise Forbidden("this crew is not assigned to the call", field="call_id")
    if stored.created and stored.destination_id is not None:
        call = await call_db.get_call(conn=conn, call_id=msg.call_id)
        assert call is not None
        _, out = await apply_event(
            conn=conn, call=call, hospital_id=stored.destination_id, now=now,
            event=ActivateTeam(team=msg.team, by=Actor(role=Role.CREW, id=row.vehicle_id)))
    return stored, out


async def _status(
    rt: Runtime, link: CrewLink, principal: Principal, msg: StatusMsg, now: datetime,
) -> Handled:
    # A resend may race its first delivery (a tablet on two links) or follow a crash
    # between report_status and storing the message: under the vehicle's lock, a
    # status whose clock is already on the timeline is stored and acked, never
    # reported again (that would stamp its clock twice).
    body = msg.model_dump(mode="json")
    async with rt.pool.acquire() as lock_conn, repo.status_lock(
            conn=lock_conn, vehicle_id=link.vehicle_id):
        earlier = await repo.earlier_crew_message(
            conn=lock_conn, vehicle_id=link.vehicle_id, call_id=msg.call_id,
            msg_id=msg.msg_id, kind=msg.type, body=body)
        if earlier is not None:
            event_id, differs = earlier
            if differs:
                raise _reused(msg.msg_id)
            return Handled(AckFrame(msg_id=msg.msg_id, event_id=str(event_id)))
        applied = await repo.status_applied(
            conn=lock_conn, call_id=msg.call_id, vehicle_id=link.vehicle_id,
            status=msg.status.value, at=msg.at)
        if not applied:
            vehicle = await fleet_db.get_vehicle(conn=lock_conn, vehicle_id=link.vehicle_id)
            if vehicle is None:
                raise NotFound(f"vehicle {link.vehicle_id} does not exist", field="vehicle_id")
            if vehicle["call_id"] != msg.call_id:
                raise Forbidden("this vehicle's mission is another call", field="call_id")
            # The same status tapped twice (a new msg_id) must not stamp its clock twice.
            if vehicle["status"] != msg.status.value:
                # On the lock's connection: one per frame, whatever report_status does.
                await report_status(
                    rt=rt, vehicle_id=link.vehicle_id, status=msg.status, at=msg.at,
                    principal=principal, now=now, call_id=msg.call_id, conn=lock_conn)
        stored = await repo.insert_crew_message(
            conn=lock_conn, vehicle_id=link.vehicle_id, msg_id=msg.msg_id,
            call_id=msg.call_id, kind=msg.type, occurred_at=msg.at,
            body=body, require_assignment=False)
    return Handled(AckFrame(msg_id=msg.msg_id, event_id=str(stored.event_id)))
