"""Destinations people choose: a dispatcher's override and a crew's request.

Automatic choice (Orchestrator._choose_destination) picks the receiving centre from the
triage; a dispatcher may set another (always allowed, warned when the centre cannot meet
the call's needs), a crew may ask for one (accepted only when it meets them:
dispatch.triage.destination.refusal). Either way the change is recorded on the call's
timeline (destination_chosen with by / reason / previous) and re-routes the screens as
a re-triage does (dispatch.handover.prealert.destination_changed), in one transaction.

A person's choice stands until a person changes it: a later re-triage that would choose
another centre leaves it and tells the console (`destination_suggested`) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.db import calls as call_db
from dispatch.db.events import NewEvent, append_events
from dispatch.domain import CallStatus, EventKind, Role
from dispatch.errors import Conflict, Forbidden, NotFound
from dispatch.geo.places import Hospital, Places
from dispatch.handover import repo
from dispatch.handover.prealert import destination_changed
from dispatch.handover.state import Actor
from dispatch.realtime.outbox import add_outbox
from dispatch.triage.destination import DestinationChoice, HospitalOption, ed_full, refusal

__all__ = ["Change", "change_destination", "chosen_by_person", "crew_request", "option_of",
           "suggest_destination"]

_OVER = frozenset({CallStatus.CLOSED.value, CallStatus.CANCELLED.value})


def option_of(hospital: Hospital, *, eta_s: float = 0.0) -> HospitalOption:
    """A hospital as destination rules see it."""
    return HospitalOption(
        hospital_id=hospital.id, capabilities=hospital.capabilities,
        trauma_level=hospital.trauma_level, diversion=hospital.diversion, eta_s=eta_s,
        unavailable=hospital.unavailable,
        ed_full=ed_full(beds_available=hospital.ed_beds_available,
                        at_capacity=hospital.ed_at_capacity))


@dataclass(frozen=True, slots=True)
class Change:
    """The outcome of a person's choice of destination."""

    call_id: UUID
    hospital_id: str
    previous: str | None
    changed: bool  # False: it was the destination already
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the REST answer)."""
        return {"call_id": str(self.call_id), "destination_id": self.hospital_id,
                "previous": self.previous, "changed": self.changed,
                "warnings": list(self.warnings)}


async def change_destination(
    *,
    conn: asyncpg.Connection,
    places: Places,
    call_id: UUID,
    hospital_id: str,
    reason: str | None,
    by: Actor,
    strict: bool,
    now: datetime,
) -> Change:
    """Set the call's destination in the caller's transaction.

    `strict` (a crew's request): a centre that cannot meet the call's needs is refused
    (Conflict with the reason in Chinese and English); otherwise (a dispatcher) it is
    set with that reason as a warning."""
    call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
    if call is None:
        raise NotFound(f"call {call_id} does not exist", field="call_id")
    if call["status"] in _OVER:
        raise Conflict(f"call {call_id} is {call['status']}: its destination is final",
                       field="call_id")
    hospital = places.hospitals.get(hospital_id)
    if hospital is None:
        raise NotFound(f"医院 {hospital_id} 不存在 / hospital {hospital_id} does not exist",
                       field="hospital_id")
    needs = frozenset((call["triage"] or {}).get("needs", ()))
    refused = refusal(option_of(hospital), needs)
    if refused is not None and strict:
        raise Conflict(refused.text(), field="hospital_id")
    warnings = () if refused is None else (refused.text(),)
    previous: str | None = call["destination_id"]
    if previous == hospital_id:
        return Change(call_id, hospital_id, previous, changed=False, warnings=warnings)
    await call_db.set_destination(conn=conn, call_id=call_id, hospital_id=hospital_id)
    await append_events(conn=conn, events=[NewEvent(
        EventKind.DESTINATION_CHOSEN, now, call_id,
        vehicle_id=by.id if by.role is Role.CREW else None,
        data={"hospital_id": hospital_id, "previous": previous, "by": by.to_dict(),
              "reason": reason, "needs": sorted(needs), "warnings": list(warnings)})])
    await destination_changed(conn=conn, call_id=call_id, previous=previous,
                              hospital_id=hospital_id, now=now, by=by, reason=reason)
    return Change(call_id, hospital_id, previous, changed=True, warnings=warnings)


async def crew_request(
    *,
    conn: asyncpg.Connection,
    places: Places,
    row: repo.CrewRow,
    hospital_id: str,
    reason: str | None,
    now: datetime,
) -> repo.CrewInsert:
    """Store a crew's destination_request frame and apply it, in the caller's transaction.

    A refused request raises (the caller's rollback leaves no frame: a resend is judged
    again); a resend of an accepted one is acknowledged and changes nothing."""
    stored = await repo.insert_crew_message(
        conn=conn, vehicle_id=row.vehicle_id, msg_id=row.msg_id, call_id=row.call_id,
        kind=row.kind, occurred_at=row.occurred_at, body=row.body)
    if stored.event_id is None:
        raise Forbidden("this crew is not assigned to the call", field="call_id")
    if stored.created:
        await change_destination(
            conn=conn, places=places, call_id=row.call_id, hospital_id=hospital_id,
            reason=reason, by=Actor(role=Role.CREW, id=row.vehicle_id), strict=True, now=now)
    return stored


async def chosen_by_person(*, conn: asyncpg.Connection, call_id: UUID) -> bool:
    """Whether the call's destination was last set by a person (its destination_chosen
    event names who: change_destination), not by automatic choice."""
    return bool(await conn.fetchval(
        """SELECT data ? 'by' FROM events WHERE call_id = $1 AND kind = $2
            ORDER BY occurred_at DESC, id DESC LIMIT 1""",
        call_id, EventKind.DESTINATION_CHOSEN.value))


async def last_destination_decision(
    *, conn: asyncpg.Connection, call_id: UUID
) -> dict[str, Any] | None:
    """The data of the call's last destination choice or review (its needs and reasons)."""
    data: dict[str, Any] | None = await conn.fetchval(
        """SELECT data FROM events WHERE call_id = $1 AND kind = ANY($2::text[])
            ORDER BY occurred_at DESC, id DESC LIMIT 1""",
        call_id, [EventKind.DESTINATION_CHOSEN.value, EventKind.DESTINATION_REVIEWED.value])
    return data


async def suggest_destination(
    *, conn: asyncpg.Connection, call_id: UUID, current: str, choice: DestinationChoice
) -> None:
    """Tell the console (through the outbox, on commit) that automatic choice would now
    send the patient elsewhere than the centre a person chose."""
    await add_outbox(conn=conn, items=[("console", {
        "kind": "destination_suggested", "call_id": str(call_id), "current": current,
        **choice.to_dict()})])
