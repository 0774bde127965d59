"""Handover state changes with their effects: timeline, screens' sight, bus messages.

`destination_changed` runs inside the orchestrator's transaction that chose the centre
(so the alert commits with the choice) and leaves its messages in the outbox (a call
being taken writes the same, worked out by `first_alert`, with its intake);
`crew_status_changed` runs inside the transaction that applies a crew status, and
`call_cancelled` inside the cancel's transaction; both leave their messages in the
outbox too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.events import NewEvent, append_events
from dispatch.domain import EventKind, Role, VehicleStatus
from dispatch.handover import repo
from dispatch.handover.access import hospital_sees
from dispatch.handover.atmist import build_atmist
from dispatch.handover.state import (
    Actor,
    Alert,
    Arrive,
    Effect,
    Event,
    GrantAccess,
    HandoverState,
    IllegalTransition,
    Phase,
    RecordEvent,
    Reroute,
    RevokeAccess,
    Withdraw,
    apply,
)
from dispatch.realtime.outbox import Outgoing, add_outbox

__all__ = [
    "ONCE_PER_CALL",
    "FirstAlert",
    "apply_event",
    "call_cancelled",
    "crew_status_changed",
    "destination_changed",
    "first_alert",
    "hospital_may_see",
    "patient_view",
]

log = logging.getLogger(__name__)

# Clocks a call has once: the crew's at_hospital status and the centre's "arrived" may
# both report arrival, and the crew or the centre may both declare the handover.
ONCE_PER_CALL = frozenset({EventKind.AT_DESTINATION, EventKind.HANDOVER})
_DESTINATION_CHOICE = Actor(role=Role.DISPATCHER, id="destination_choice")


def patient_view(
    *,
    call: Mapping[str, Any],
    findings: Sequence[Mapping[str, Any]],
    state: HandoverState | None,
    now: datetime,
) -> dict[str, Any]:
    """What a receiving centre sees of one inbound patient (no caller number)."""
    atmist = build_atmist(call=call, findings=findings, now=now)
    triage = call.get("triage") or {}
    latest_vitals = next((f for f in reversed(findings) if f.get("type") == "vitals"), None)
    return {
        "call_id": str(call["id"]),
        "acuity": call.get("acuity"),
        "pathway": call.get("pathway"),
        "complaint": call.get("complaint"),
        "reasons": triage.get("reasons", []),
        "destination_id": call.get("destination_id"),
        "scene": None if call.get("lon") is None else {"lon": call["lon"], "lat": call["lat"]},
        "atmist": atmist.to_dict(),
        "latest_vitals": latest_vitals,
        "handover": None if state is None else state.to_dict(),
    }


async def apply_event(
    *,
    conn: asyncpg.Connection,
    call: Mapping[str, Any],
    hospital_id: str,
    event: Event,
    now: datetime,
    skip: frozenset[EventKind] = frozenset(),
) -> tuple[HandoverState, Outgoing]:
    """Apply one event to (call, centre) under a row lock; persist state and timeline."""
    call_id: UUID = call["id"]
    state = await repo.load_state(conn=conn, call_id=call_id, hospital_id=hospital_id,
                                  for_update=True)
    new, effects = apply(state, event, now=now)
    if new == state and not effects:
        return new, []
    await repo.save_state(conn=conn, state=new)
    out = await _carry_out(conn=conn, call=call, state=new, effects=effects, now=now, skip=skip)
    return new, out


async def _carry_out(
    *,
    conn: asyncpg.Connection,
    call: Mapping[str, Any],
    state: HandoverState,
    effects: Sequence[Effect],
    now: datetime,
    skip: frozenset[EventKind],
) -> Outgoing:
    call_id: UUID = call["id"]
    out: Outgoing = []
    vehicles = [a["vehicle_id"] for a in await fleet_db.live_assignments(conn=conn,
                                                                         call_id=call_id)]
    for effect in effects:
        if isinstance(effect, RecordEvent):
            if effect.kind in skip:
                continue
            if effect.kind in ONCE_PER_CALL and await repo.has_event(
                    conn=conn, call_id=call_id, kind=effect.kind.value):
                continue
            await append_events(conn=conn, events=[
                NewEvent(effect.kind, effect.occurred_at, call_id, data=dict(effect.data))])
            out.extend(_recorded(call_id=call_id, state=state, effect=effect,
                                 vehicles=vehicles))
        elif isinstance(effect, GrantAccess):
            findings = await repo.findings_of(conn=conn, call_id=call_id)
            out.append(_granted(call=call, findings=findings, state=state, effect=effect,
                                now=now))
        elif isinstance(effect, RevokeAccess):
            out.append((f"hospital:{effect.hospital_id}",
                        {"kind": "patient_removed", "call_id": str(call_id),
                         "reason": effect.reason}))
    return out


def _recorded(
    *, call_id: UUID, state: HandoverState, effect: RecordEvent, vehicles: Sequence[str]
) -> Outgoing:
    """The messages of an event recorded on the timeline: to the centre, the console and
    the call's vehicles."""
    payload = {"kind": effect.kind.value, "call_id": str(call_id),
               "occurred_at": effect.occurred_at.isoformat(), **dict(effect.data),
               "handover": state.to_dict()}
    return [(f"hospital:{state.hospital_id}", payload), ("console", payload),
            *((f"vehicle:{v}", payload) for v in vehicles)]


def _granted(
    *, call: Mapping[str, Any], findings: Sequence[Mapping[str, Any]], state: HandoverState,
    effect: GrantAccess, now: datetime,
) -> tuple[str, dict[str, Any]]:
    """The centre's pre-alert: the patient as it may now see them."""
    view = patient_view(call=call, findings=findings, state=state, now=now)
    return (f"hospital:{effect.hospital_id}",
            {"kind": "pre_alert", "call_id": str(call["id"]), "patient": view})


def _changed(
    *, call_id: UUID, hospital_id: str | None, previous: str | None, by: Actor,
    reason: str | None,
) -> dict[str, Any]:
    """The destination_changed message (who changed it only when a person did)."""
    update: dict[str, Any] = {"kind": "destination_changed", "call_id": str(call_id),
                              "hospital_id": hospital_id, "previous": previous}
    if by != _DESTINATION_CHOICE:
        update |= {"by": by.to_dict(), "reason": reason}
    return update


@dataclass(frozen=True, slots=True)
class FirstAlert:
    """What destination_changed writes when a call being taken gets its first centre:
    the centre's handover state (None without a centre), the timeline events and the
    outbox's messages, in order."""

    state: HandoverState | None
    events: list[NewEvent]
    outbox: Outgoing


def first_alert(
    *, call: Mapping[str, Any], hospital_id: str | None, now: datetime
) -> FirstAlert:
    """destination_changed(previous=None) for a call not yet stored, worked out without
    PostgreSQL so the intake writes it with the call: a new call has no handover state,
    no crew findings and no vehicle yet (its claim follows the alert).

    `call`: the columns patient_view reads, as dispatch.db.calls.get_call returns them."""
    call_id: UUID = call["id"]
    state = None
    events: list[NewEvent] = []
    out: Outgoing = []
    if hospital_id is not None:
        state, effects = apply(HandoverState(call_id=call_id, hospital_id=hospital_id),
                               Alert(by=_DESTINATION_CHOICE), now=now)
        assert not state.teams  # a first alert activates no team
        for effect in effects:
            if isinstance(effect, RecordEvent):
                events.append(NewEvent(effect.kind, effect.occurred_at, call_id,
                                       data=dict(effect.data)))
                out.extend(_recorded(call_id=call_id, state=state, effect=effect,
                                     vehicles=()))
            elif isinstance(effect, GrantAccess):
                out.append(_granted(call=call, findings=(), state=state, effect=effect,
                                    now=now))
    out.append(("console", _changed(call_id=call_id, hospital_id=hospital_id, previous=None,
                                    by=_DESTINATION_CHOICE, reason=None)))
    return FirstAlert(state=state, events=events, outbox=out)


async def destination_changed(
    *,
    conn: asyncpg.Connection,
    call_id: UUID,
    previous: str | None,
    hospital_id: str | None,
    now: datetime,
    by: Actor = _DESTINATION_CHOICE,
    reason: str | None = None,
) -> None:
    """Re-route away from the previous centre and alert the new one (caller's transaction).

    `by`: who changed it (destination choice, or a person: dispatch.handover.destinations),
    named with `reason` in the destination_changed message."""
    call = await call_db.get_call(conn=conn, call_id=call_id)
    if call is None:
        return
    out: Outgoing = []
    if previous is not None and previous != hospital_id:
        state = await repo.load_state(conn=conn, call_id=call_id, hospital_id=previous)
        if state.phase in (Phase.ALERTED, Phase.ACKNOWLEDGED):
            _, more = await apply_event(
                conn=conn, call=call, hospital_id=previous, now=now,
                event=Reroute(to_hospital_id=hospital_id or "none", by=by))
            out.extend(more)
    if hospital_id is not None:
        try:
            _, more = await apply_event(conn=conn, call=call, hospital_id=hospital_id, now=now,
                                        event=Alert(by=by))
            out.extend(more)
        except IllegalTransition as exc:
            # Already arrived or handed over there: nothing to announce.
            log.info("no pre-alert for call %s at %s: %s", call_id, hospital_id, exc)
    update = _changed(call_id=call_id, hospital_id=hospital_id, previous=previous, by=by,
                      reason=reason)
    out.append(("console", update))
    for a in await fleet_db.live_assignments(conn=conn, call_id=call_id):
        out.append((f"vehicle:{a['vehicle_id']}", update))
    await add_outbox(conn=conn, items=out)


async def call_cancelled(
    *, conn: asyncpg.Connection, call: Mapping[str, Any], by: Actor, now: datetime
) -> None:
    """Withdraw a cancelled call's pre-alert from every centre it is inbound to (caller's
    transaction): the centre loses sight and its screens get `patient_removed` once the
    cancel commits. A patient already arrived stays with its centre."""
    out: Outgoing = []
    for state in await repo.states_of_call(conn=conn, call_id=call["id"]):
        if state.phase in (Phase.ALERTED, Phase.ACKNOWLEDGED):
            _, more = await apply_event(conn=conn, call=call, hospital_id=state.hospital_id,
                                        now=now, event=Withdraw(by=by))
            out.extend(more)
    await add_outbox(conn=conn, items=out)


async def hospital_may_see(
    *,
    conn: asyncpg.Connection,
    call: Mapping[str, Any],
    hospital_id: str,
    now: datetime,
    retention: timedelta,
) -> bool:
    """Whether a centre may see this call now (dispatch.handover.access)."""
    state = await repo.load_state(conn=conn, call_id=call["id"], hospital_id=hospital_id)
    return hospital_sees(state=state, call_status=call["status"], status_at=call["updated_at"],
                         now=now, retention=retention)


def crew_status_news(*, hospital_id: str, call_id: UUID, vehicle_id: str,
                     status: VehicleStatus, at: datetime) -> tuple[str, dict[str, Any]]:
    """The receiving centre's message about a crew's status (topic, payload)."""
    return (f"hospital:{hospital_id}",
            {"kind": "crew_status", "call_id": str(call_id), "vehicle_id": vehicle_id,
             "status": status.value, "at": at.isoformat()})


async def crew_status_changed(
    *,
    conn: asyncpg.Connection,
    vehicle_id: str,
    call_id: UUID | None,
    status: VehicleStatus,
    at: datetime,
    now: datetime,
) -> None:
    """Tell the destination a crew status; on at_hospital, mark the patient arrived.

    Runs in the transaction that applies the status (so both commit, or neither) and
    leaves its messages in the outbox."""
    if call_id is None:
        return
    call = await call_db.get_call(conn=conn, call_id=call_id)
    if call is None or call["destination_id"] is None:
        return
    hospital_id = call["destination_id"]
    out: Outgoing = [crew_status_news(hospital_id=hospital_id, call_id=call_id,
                                      vehicle_id=vehicle_id, status=status, at=at)]
    if status is VehicleStatus.AT_HOSPITAL:
        try:
            # report_status already stamped at_destination: record it once.
            _, more = await apply_event(
                conn=conn, call=call, hospital_id=hospital_id, now=now,
                event=Arrive(by=Actor(role=Role.CREW, id=vehicle_id), at=at),
                skip=frozenset({EventKind.AT_DESTINATION}))
            out.extend(more)
        except IllegalTransition as exc:
            log.info("arrival of call %s at %s not applied: %s", call_id, hospital_id, exc)
    await add_outbox(conn=conn, items=out)
