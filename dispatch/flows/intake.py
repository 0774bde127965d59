"""Taking a call: triage, locate, choose a destination and candidates, store and claim,
publish.

Everything that does not need the call's row is decided first, the receiving centre's
alert included (dispatch.handover.prealert.first_alert); then one statement
(dispatch.db.calls.insert_intake) claims a vehicle and writes the call, its fixes, its
timeline, the audit row and the centre's alert, committed before the reply. A call it
could not assign is searched for again once it is visible to every instance.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db.events import NewEvent
from dispatch.domain import CallStatus, EventKind, Role
from dispatch.flows import aml, bookings, destination
from dispatch.flows.candidates import candidates_if_reachable
from dispatch.flows.claim import (
    after_claim,
    assign_or_recommend,
    claim_options,
    is_booked_later,
    options_of,
    raise_unless_double_assignment,
)
from dispatch.flows.fanout import fanout
from dispatch.flows.outcome import Outcome
from dispatch.geo.fusion import FusedLocation, fuse
from dispatch.geo.places import Places
from dispatch.geo.ranking import Ranked
from dispatch.handover.prealert import first_alert
from dispatch.idempotency import check_replay, request_fingerprint
from dispatch.realtime.outbox import Outgoing
from dispatch.runtime import Runtime
from dispatch.schemas import CallIn
from dispatch.triage import TriageResult, triage_call
from dispatch.triage.destination import DestinationChoice
from dispatch.views import fusion_fix, stored_fix, triage_event

log = logging.getLogger(__name__)


async def take_call(
    *, rt: Runtime, body: CallIn, idempotency_key: str | None, principal: Principal,
    now: datetime,
) -> Outcome:
    """Persist a new call (or find the one this key created) and try to assign it."""
    principal.require(Role.DISPATCHER)
    fingerprint = request_fingerprint(body) if idempotency_key else None
    places = await rt.places.get()
    caller = aml.caller_number(rt=rt, number=body.caller_number)
    result = triage_call(body.answers, complaint=body.complaint, now=now, card=body.card,
                         card_answers=body.card_answers)
    call = call_db.NewCall(
        id=uuid4(),
        idempotency_key=idempotency_key,
        caller_number=caller,
        complaint=body.complaint,
        answers=body.answers.model_dump(mode="json", exclude_none=True),
        acuity=int(result.acuity),
        transport_class=result.transport_class.value,
        pathway=result.pathway.value if result.pathway else None,
        triage=result.to_dict(),
        required_kinds=[k.value for k in result.vehicle_kinds],
        received_at=body.received_at,
        answered_at=body.answered_at,
        booked_from=body.booking.window_start if body.booking else None,
        booked_to=body.booking.window_end if body.booking else None,
        request_fingerprint=fingerprint,
    )
    booked_later = is_booked_later(
        rt=rt, call={"booked_from": call.booked_from, "transport_class": call.transport_class},
        now=now)
    given = [stored_fix(f) for f in body.fixes]
    may_claim = not booked_later and rt.settings.dispatch.auto_assign
    async with rt.pool.acquire() as conn:
        while True:
            prelude = await call_db.intake_prelude(
                conn=conn, caller_number=caller, n_fixes=len(given), key=idempotency_key,
                since=now - timedelta(seconds=rt.settings.intake.aml_hold_s))
            if prelude.key_call is not None:
                assert idempotency_key is not None
                check_replay(key=idempotency_key, stored=prelude.key_fingerprint,
                             fingerprint=fingerprint or "")
                return Outcome(call_id=prelude.key_call, created=False)
            intake, ranked = await _prepare(
                rt=rt, conn=conn, call=call, prelude=prelude, result=result, given=given,
                places=places, principal=principal, may_claim=may_claim, now=now)
            try:
                row = await _write(conn, intake)
            except _HeldAmlTaken:
                continue  # another call took a held report: fuse again without it
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == _KEY_CONSTRAINT:
                    # A concurrent retry with the same key won the insert.
                    assert idempotency_key is not None
                    existing = await _replayed(conn, idempotency_key, fingerprint)
                    assert existing is not None
                    return Outcome(call_id=existing, created=False)
                # Whatever happens to the claim, the call is stored: again, queued.
                raise_unless_double_assignment(exc)
                log.error("claim at intake of call %s refused by the one-live-assignment "
                          "index; storing the call queued", call.id)
                may_claim = False
                continue
            break
    location = intake.fused
    news: Outgoing = [("console", {
        "kind": "call_created", "call_id": str(call.id), "acuity": call.acuity,
        "transport_class": call.transport_class})]
    if location is not None and places.district_id_at(location.lon, location.lat) is None:
        news.append(("console", destination.out_of_area_alert(call.id, location)))
    if row["claimed_vehicle_id"] is not None and not booked_later:
        # the news, the index's removal and the mission in one exchange with Redis
        view = await after_claim(rt=rt, call_id=call.id, vehicle_id=row["claimed_vehicle_id"],
                                 now=now, row=row, news=news)
        return Outcome(call_id=call.id, created=True, recommendations=tuple(ranked),
                       view=view)
    await fanout(rt=rt, items=news)
    if booked_later:
        assert body.booking is not None
        await bookings.plan(rt=rt, call_id=call.id, booking=body.booking, now=now)
        return Outcome(call_id=call.id, created=True)
    # Nothing claimed before the commit: search again now that the queued call is
    # visible to every instance, so a vehicle clearing meanwhile cannot miss it.
    recommendations = await assign_or_recommend(rt=rt, call_id=call.id, principal=principal,
                                                now=now)
    return Outcome(call_id=call.id, created=True, recommendations=recommendations)


class _HeldAmlTaken(Exception):
    """Another call attached a held AML report this intake fused: write it again."""


# the unique index on calls.idempotency_key
_KEY_CONSTRAINT = "calls_idempotency_key_key"


async def _prepare(
    *, rt: Runtime, conn: asyncpg.Connection, call: call_db.NewCall,
    prelude: call_db.Prelude, result: TriageResult, given: list[call_db.StoredFix],
    places: Places, principal: Principal, may_claim: bool, now: datetime,
) -> tuple[call_db.IntakeWrite, list[Ranked]]:
    """Everything a new call's intake writes (its claim and its centre's alert
    included), with the vehicles to try; only the candidates' rows are read, nothing is
    written."""
    held, fix_ids = prelude.held, prelude.fix_ids
    fixes = given + [aml.held_fix(r) for r in held]
    location = fuse([fusion_fix(i, f) for i, f in zip(fix_ids, fixes, strict=True)], now=now)
    choice = None
    ranked: list[Ranked] = []
    if location is not None:
        choice = destination.decide(rt=rt, result=result, location=location, places=places,
                                    now=now)
        if may_claim:
            ranked = await _candidates(rt, conn, call, location, now)
    events = _timeline(call, result, location, choice, places, now)
    alert = None
    if location is not None and choice is not None:
        alert, alerted = _alert(call, location, choice, now)
        events += alerted
    intake = call_db.IntakeWrite(
        call=call, fused=location,
        district_id=places.district_id_at(location.lon, location.lat) if location else None,
        destination_id=choice.hospital_id if choice else None,
        fixes=list(zip(fix_ids, fixes, strict=True)), held_aml=[r["id"] for r in held],
        events=events, options=claim_options(options_of(ranked)),
        assigned_by=principal.subject, role=principal.role.value, now=now, alert=alert)
    return intake, ranked


def _alert(
    call: call_db.NewCall, location: FusedLocation, choice: DestinationChoice, now: datetime
) -> tuple[call_db.CentreAlert, list[tuple[str, datetime, dict[str, Any]]]]:
    """The chosen centre's alert as destination_changed would write it once the call is
    stored, before its claim, with its timeline events (they follow the choice's)."""
    first = first_alert(hospital_id=choice.hospital_id, now=now, call={
        "id": call.id, "complaint": call.complaint, "answers": call.answers,
        "acuity": call.acuity, "pathway": call.pathway, "triage": call.triage,
        "destination_id": choice.hospital_id, "lon": location.lon, "lat": location.lat})
    state = first.state
    return call_db.CentreAlert(
        hospital_id=choice.hospital_id, phase=state.phase.value if state else None,
        state=state.to_dict() if state else None, outbox=first.outbox,
    ), [(e.kind.value, e.occurred_at, e.data) for e in first.events]


async def _candidates(
    rt: Runtime, conn: asyncpg.Connection, call: call_db.NewCall, location: FusedLocation,
    now: datetime,
) -> list[Ranked]:
    """The vehicles to try for a new call: they depend on its place and needs, not its row."""
    return await candidates_if_reachable(rt=rt, conn=conn, now=now, call={
        "id": call.id, "status": CallStatus.QUEUED.value, "lon": location.lon,
        "lat": location.lat, "radius_m": location.radius_m,
        "required_kinds": call.required_kinds, "acuity": call.acuity,
        "transport_class": call.transport_class})


def _timeline(
    call: call_db.NewCall, result: TriageResult, location: FusedLocation | None,
    choice: DestinationChoice | None, places: Places, now: datetime,
) -> list[tuple[str, datetime, dict[str, Any]]]:
    """A new call's events up to its claim, in the order they are recorded."""
    events = [
        NewEvent(EventKind.CALL_RECEIVED, call.received_at, call.id),
        NewEvent(EventKind.CALL_ANSWERED, call.answered_at, call.id),
    ]
    if location is not None:
        events.append(NewEvent(EventKind.LOCATION_FIXED, now, call.id,
                               data=location.to_dict()))
        if places.district_id_at(location.lon, location.lat) is None:
            events.append(destination.out_of_area_event(call.id, location, now))
    events.append(NewEvent(EventKind.TRIAGED, now, call.id, data=triage_event(result)))
    if choice is not None:
        # a new call has no earlier centre and no person's choice to respect
        events.append(destination.chosen_event(call.id, choice, None, now))
    return [(e.kind.value, e.occurred_at, e.data) for e in events]


async def _write(conn: asyncpg.Connection, intake: call_db.IntakeWrite) -> asyncpg.Record:
    """Store the intake, claim and centre alert included; return the call's view row
    (its `claimed_vehicle_id` the vehicle claimed, if any).

    One statement, its own transaction; a call with held AML reports is a transaction,
    to undo it when another call took one of them.
    """
    if not intake.held_aml:
        return await call_db.insert_intake(conn=conn, intake=intake)
    async with conn.transaction():
        row = await call_db.insert_intake(conn=conn, intake=intake)
        if row["held_attached"] != len(intake.held_aml):
            raise _HeldAmlTaken
    return row


async def _replayed(
    conn: asyncpg.Connection, key: str, fingerprint: str | None
) -> UUID | None:
    """The call an Idempotency-Key created, if any; refused if its body was different."""
    found = await call_db.call_for_key(conn=conn, key=key)
    if found is None:
        return None
    call_id, stored = found
    check_replay(key=key, stored=stored, fingerprint=fingerprint or "")
    return call_id
