"""Taking a call: triage, store, locate, choose a destination, claim a vehicle, publish.

Intake claims in its own transaction when it can (one commit for the common case); a
call it could not assign is searched for again once it is visible to every instance.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db.events import NewEvent, append_events
from dispatch.domain import CallStatus, EventKind, Role
from dispatch.flows import aml, bookings, destination
from dispatch.flows.candidates import candidates_if_reachable
from dispatch.flows.claim import (
    after_claim,
    assign_or_recommend,
    claim_first,
    is_booked_later,
    options_of,
    raise_unless_double_assignment,
)
from dispatch.flows.fanout import fanout_one
from dispatch.flows.outcome import Outcome
from dispatch.geo.fusion import FusedLocation, fuse
from dispatch.geo.places import Places
from dispatch.geo.ranking import Ranked
from dispatch.idempotency import check_replay, request_fingerprint
from dispatch.runtime import Runtime
from dispatch.schemas import CallIn
from dispatch.triage import TriageResult, triage_call
from dispatch.views import fusion_fix, stored_fix, triage_event

log = logging.getLogger(__name__)


async def take_call(
    *, rt: Runtime, body: CallIn, idempotency_key: str | None, principal: Principal,
    now: datetime,
) -> Outcome:
    """Persist a new call (or find the one this key created) and try to assign it."""
    principal.require(Role.DISPATCHER)
    fingerprint = request_fingerprint(body) if idempotency_key else None
    if idempotency_key:
        async with rt.pool.acquire() as conn:
            existing = await _replayed(conn, idempotency_key, fingerprint)
        if existing is not None:
            return Outcome(call_id=existing, created=False)

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
    events = [
        NewEvent(EventKind.CALL_RECEIVED, body.received_at, call.id),
        NewEvent(EventKind.CALL_ANSWERED, body.answered_at, call.id),
    ]
    booked_later = is_booked_later(
        rt=rt, call={"booked_from": call.booked_from, "transport_class": call.transport_class},
        now=now)
    claimed: str | None = None
    ranked: list[Ranked] = []
    location: FusedLocation | None = None
    for may_claim in (True, False):
        try:
            async with rt.pool.acquire() as conn, conn.transaction():
                if not await call_db.insert_call(conn=conn, call=call):
                    # A concurrent retry with the same key won the insert.
                    assert idempotency_key is not None
                    existing = await _replayed(conn, idempotency_key, fingerprint)
                    assert existing is not None
                    return Outcome(call_id=existing, created=False)
                location = await _store_intake(rt, conn, call, body, result, caller, events,
                                               places, now)
                if (may_claim and location is not None and not booked_later
                        and rt.settings.auto_assign):
                    # Claim in the intake transaction: one commit for the common case.
                    # The new call row is ours alone until it commits, so the lock
                    # order holds.
                    fresh = {"id": call.id, "status": CallStatus.QUEUED.value,
                             "lon": location.lon, "lat": location.lat,
                             "radius_m": location.radius_m,
                             "required_kinds": call.required_kinds, "acuity": call.acuity,
                             "transport_class": call.transport_class}
                    ranked = await candidates_if_reachable(rt=rt, conn=conn, call=fresh,
                                                           now=now)
                    if ranked:
                        claimed = await claim_first(
                            conn=conn, call=fresh, options=options_of(ranked),
                            principal=principal, now=now, expect=[CallStatus.QUEUED.value])
            break
        except asyncpg.UniqueViolationError as exc:
            # Whatever happens to the claim, the call is stored: again, queued.
            raise_unless_double_assignment(exc)
            log.error("claim at intake of call %s refused by the one-live-assignment "
                      "index; storing the call queued", call.id)
            claimed, ranked = None, []
    await fanout_one(rt=rt, topic="console", payload={
        "kind": "call_created", "call_id": str(call.id), "acuity": call.acuity,
        "transport_class": call.transport_class})
    if location is not None and places.district_id_at(location.lon, location.lat) is None:
        await fanout_one(rt=rt, topic="console",
                         payload=destination.out_of_area_alert(call.id, location))
    if booked_later:
        assert body.booking is not None
        await bookings.plan(rt=rt, call_id=call.id, booking=body.booking, now=now)
        return Outcome(call_id=call.id, created=True)
    if claimed is not None:
        view = await after_claim(rt=rt, call_id=call.id, vehicle_id=claimed, now=now)
        return Outcome(call_id=call.id, created=True, recommendations=tuple(ranked),
                       view=view)
    # Nothing claimed before the commit: search again now that the queued call is
    # visible to every instance, so a vehicle clearing meanwhile cannot miss it.
    recommendations = await assign_or_recommend(rt=rt, call_id=call.id, principal=principal,
                                                now=now)
    return Outcome(call_id=call.id, created=True, recommendations=recommendations)


async def _store_intake(
    rt: Runtime, conn: asyncpg.Connection, call: call_db.NewCall, body: CallIn,
    result: TriageResult, caller: str, received: list[NewEvent], places: Places,
    now: datetime,
) -> FusedLocation | None:
    """Write a new call's fixes, location, timeline and destination (caller's
    transaction); return its fused location."""
    events = list(received)
    fixes = [stored_fix(f) for f in body.fixes]
    fixes += await aml.attach_held(rt=rt, conn=conn, call_id=call.id, caller=caller, now=now)
    ids = await call_db.insert_fixes(conn=conn, call_id=call.id, fixes=fixes)
    location = fuse([fusion_fix(i, f) for i, f in zip(ids, fixes, strict=True)], now=now)
    if location is not None:
        await destination.store_location(conn=conn, call_id=call.id, location=location,
                                         places=places)
        events.append(NewEvent(EventKind.LOCATION_FIXED, now, call.id,
                               data=location.to_dict()))
        if places.district_id_at(location.lon, location.lat) is None:
            events.append(destination.out_of_area_event(call.id, location, now))
    events.append(NewEvent(EventKind.TRIAGED, now, call.id, data=triage_event(result)))
    await append_events(conn=conn, events=events)
    if location is not None:
        await destination.choose(rt=rt, conn=conn, call_id=call.id, result=result,
                                 location=location, places=places, now=now)
    return location


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
