"""A receiving centre's frames and reports: acknowledgement, team activation, arrival,
handover, diversion and capacity. The room where the hospital's features go.

Each frame is stored once per (hospital, msg_id) with what it changes, in one transaction;
the handover state machine (dispatch.handover.state) decides what it means; its events
are published after the commit (OutboxPublisher.publish).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.domain import EventKind, Role, VehicleStatus
from dispatch.errors import DispatchError, Forbidden, NotFound
from dispatch.flows.fleet import report_status
from dispatch.handover import repo
from dispatch.handover.access import hospital_sees
from dispatch.handover.capacity import Reported, store_report
from dispatch.handover.messages import (
    AckFrame,
    ActivateTeamMsg,
    CapacityMsg,
    CapacityReport,
    DiversionMsg,
    HandoverCompleteMsg,
    HospitalAckMsg,
    HospitalArrivedMsg,
    HospitalMessage,
    ResumeMsg,
)
from dispatch.handover.prealert import apply_event
from dispatch.handover.state import (
    Acknowledge,
    ActivateTeam,
    Actor,
    Arrive,
    CompleteHandover,
    Event,
)
from dispatch.realtime.outbox import Outgoing, add_outbox
from dispatch.runtime import Runtime

__all__ = ["hospital_message", "report_capacity", "retention"]

log = logging.getLogger(__name__)


def retention(rt: Runtime) -> timedelta:
    """How long a centre keeps sight of a patient after handover or closing."""
    return timedelta(seconds=rt.settings.handover.hospital_retention_s)


def _event_of(msg: HospitalMessage, actor: Actor) -> Event:
    """The handover state machine's event for a centre's frame about a patient."""
    if isinstance(msg, HospitalAckMsg):
        return Acknowledge(by=actor)
    if isinstance(msg, ActivateTeamMsg):
        return ActivateTeam(team=msg.team, by=actor)
    if isinstance(msg, HospitalArrivedMsg):
        return Arrive(by=actor)
    assert isinstance(msg, HandoverCompleteMsg)
    return CompleteHandover(by=actor)


async def hospital_message(
    *, rt: Runtime, principal: Principal, msg: HospitalMessage, now: datetime,
) -> AckFrame:
    """Apply one frame of a centre's screen; return the ack once committed."""
    assert not isinstance(msg, ResumeMsg)
    hospital_id = principal.hospital_id
    assert hospital_id is not None
    if isinstance(msg, DiversionMsg):
        return await _diversion(rt, principal, hospital_id, msg)
    if isinstance(msg, CapacityMsg):
        reported = await report_capacity(rt=rt, principal=principal, hospital_id=hospital_id,
                                         report=msg, msg_id=msg.msg_id)
        return AckFrame(msg_id=msg.msg_id, event_id=str(reported.event_id))
    event = _event_of(msg, Actor(role=Role.HOSPITAL, id=hospital_id))
    crews: list[str] = []
    out: Outgoing = []
    async with rt.pool.acquire() as conn, conn.transaction():
        row_id, created = await repo.insert_hospital_message(
            conn=conn, hospital_id=hospital_id, msg_id=msg.msg_id, call_id=msg.call_id,
            kind=msg.type, body=msg.model_dump(mode="json"))
        if not created:
            return AckFrame(msg_id=msg.msg_id, event_id=str(row_id))
        call = await call_db.get_call(conn=conn, call_id=msg.call_id)
        state = await repo.load_state(conn=conn, call_id=msg.call_id, hospital_id=hospital_id)
        if call is None or not hospital_sees(
                state=state, call_status=call["status"], status_at=call["updated_at"],
                now=now, retention=retention(rt)):
            raise Forbidden("this patient is not inbound to your hospital", field="call_id")
        skip: frozenset[EventKind] = frozenset()
        if isinstance(event, Arrive):
            # The crew's at_hospital status stamps at_destination (once, in
            # report_status); the centre's word sets that status for the crew.
            crews = [a["vehicle_id"] for a in await fleet_db.live_assignments(
                conn=conn, call_id=msg.call_id)
                     if a["status"] != VehicleStatus.AT_HOSPITAL.value]
            if crews:
                skip = frozenset({EventKind.AT_DESTINATION})
        _, out = await apply_event(conn=conn, call=call, hospital_id=hospital_id,
                                   event=event, now=now, skip=skip)
    for vehicle_id in crews:
        try:
            await report_status(
                rt=rt, vehicle_id=vehicle_id, status=VehicleStatus.AT_HOSPITAL, at=now, now=now,
                principal=Principal(subject=f"hospital:{hospital_id}", role=Role.DISPATCHER))
        except DispatchError as exc:
            log.warning("arrival declared by %s not applied to %s: %s", hospital_id,
                        vehicle_id, exc)
    await rt.outbox.publish(out)
    return AckFrame(msg_id=msg.msg_id, event_id=str(row_id))


async def _diversion(
    rt: Runtime, principal: Principal, hospital_id: str, msg: DiversionMsg
) -> AckFrame:
    async with rt.pool.acquire() as conn, conn.transaction():
        row_id, created = await repo.insert_hospital_message(
            conn=conn, hospital_id=hospital_id, msg_id=msg.msg_id, call_id=None,
            kind=msg.type, body=msg.model_dump(mode="json"))
        if created:
            diversion = await repo.set_diversion(
                conn=conn, hospital_id=hospital_id, capability=msg.capability.value,
                diverting=msg.on, until=msg.until, declared_by=principal.subject)
    if created:
        # Every instance's destination choice reads the new diversion from now on.
        await rt.places.invalidate()
        payload = {"kind": "diversion", "hospital_id": hospital_id,
                   "capability": msg.capability.value, "on": msg.on,
                   "until": None if msg.until is None else msg.until.isoformat(),
                   "diversion": diversion}
        await rt.outbox.publish([("console", payload), (f"hospital:{hospital_id}", payload)])
    return AckFrame(msg_id=msg.msg_id, event_id=str(row_id))


async def report_capacity(
    *, rt: Runtime, principal: Principal, hospital_id: str, report: CapacityReport,
    msg_id: str | None = None,
) -> Reported:
    """Store a capacity report, publish it, and have every instance reload its places.

    `msg_id`: a screen's frame, stored once per (hospital, msg_id) like its other frames;
    the resend of one changes nothing."""
    frame_id: int | None = None
    async with rt.pool.acquire() as conn, conn.transaction():
        if msg_id is not None:
            frame_id, created = await repo.insert_hospital_message(
                conn=conn, hospital_id=hospital_id, msg_id=msg_id, call_id=None,
                kind="capacity", body=report.model_dump(mode="json"))
            if not created:
                return Reported(event_id=frame_id, capacity=None)
        stored = await store_report(conn=conn, hospital_id=hospital_id, report=report,
                                    reported_by=principal.subject)
        if stored is None:
            raise NotFound(f"hospital {hospital_id} does not exist", field="hospital_id")
        event_id, capacity = stored
        payload = {"kind": "hospital_capacity", **capacity}
        await add_outbox(conn=conn, items=[("console", payload),
                                           (f"hospital:{hospital_id}", payload)])
    # Every instance's destination choice reads the new capacity from now on.
    await rt.places.invalidate()
    await rt.outbox.flush()
    return Reported(event_id=event_id if frame_id is None else frame_id, capacity=capacity)
