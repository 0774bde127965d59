"""The one place where domains meet: intake -> fusion -> triage -> search -> claim -> publish.

Every step reads state, calls a pure function (dispatch.triage, dispatch.geo), writes the
result to PostgreSQL and only then publishes on the Redis bus. Claims are conditional
UPDATEs, so any number of instances can run this at once.

Lock order, to rule out deadlocks: a call row first, then a vehicle row. Intake, the
drain, a dispatcher's override and cancel, and a crew's status all follow it; a claim
takes its vehicle with SKIP LOCKED and never waits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from redis.exceptions import RedisError

from dispatch.auth import Principal
from dispatch.db import aml as aml_db
from dispatch.db import bookings as booking_db
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.events import NewEvent, append_events, audit, timeline
from dispatch.db.pool import lent_or_pooled
from dispatch.domain import (
    STATUS_EVENT,
    CallStatus,
    CoordSystem,
    EventKind,
    FixSource,
    Role,
    TransportClass,
    VehicleKind,
    VehicleStatus,
)
from dispatch.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TriageError,
    VehicleUnavailable,
)
from dispatch.geo.aml import AmlMessage
from dispatch.geo.distance import haversine_m
from dispatch.geo.fusion import FusedLocation, fuse, moved_beyond
from dispatch.geo.policy import RESERVE_LEVELS, RankingPolicy, keep_reserve, prefer_coverage
from dispatch.geo.ranking import Candidate, Ranked, search_radii_m
from dispatch.geo.scheduling import BookedTrip, Booking, NetVehicle, plan_booking
from dispatch.geo.uncertainty import (
    UncertainEta,
    eta_correction,
    search_start_m,
    shortlist_size,
)
from dispatch.handover.destinations import (
    chosen_by_person,
    last_destination_decision,
    option_of,
    suggest_destination,
)
from dispatch.handover.prealert import (
    call_cancelled,
    crew_status_changed,
    destination_changed,
    hospital_may_see,
)
from dispatch.handover.state import Actor
from dispatch.idempotency import check_replay, request_fingerprint
from dispatch.overrides import override_warnings
from dispatch.phone import normalise_number
from dispatch.places import Places
from dispatch.runtime import Runtime
from dispatch.schemas import CallIn, FixIn, check_source_time
from dispatch.triage import (
    Answers,
    Findings,
    TriageResult,
    choose_destination,
    retriage,
    triage_call,
)
from dispatch.views import (
    OUT_OF_AREA_REASON,
    fusion_fix,
    parse_ts,
    previous_location,
    render_call,
    stored_fix,
    text_or_none,
    triage_event,
)

log = logging.getLogger(__name__)

LIVE_STATUSES = [CallStatus.QUEUED.value, CallStatus.ASSIGNED.value, CallStatus.ACTIVE.value]
# How many queued calls a clearing vehicle looks at before giving up on distance.
_DRAIN_LOOKAHEAD = 25
# who assigns a freed vehicle the head of the queue
_DRAINER = Principal(subject="queue", role=Role.DISPATCHER)
# pg_advisory_lock class of the queue sweep (the object is the schema's hash)
_SWEEP_LOCK_CLASS = 7_120_002


# (vehicle_id, eta_s, distance_m, reasons) in the order to try
_Option = tuple[str, float | None, float | None, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an intake or update did, for the answer and the publish step."""

    call_id: UUID
    created: bool
    recommendations: tuple[Ranked, ...] = ()
    # the call as a dispatcher sees it, when the flow already read it (saves a round trip)
    view: dict[str, Any] | None = None
    # what the dispatcher is told about an override it made (dispatch.overrides)
    warnings: tuple[dict[str, Any], ...] = ()


def retriage_on_card(
    answers: Answers, findings: Findings | None, *, complaint: str, now: datetime,
    stored: Mapping[str, Any], call_id: UUID,
) -> TriageResult:
    """Triage a call again with the chief-complaint card it was taken on (`stored`: the
    call's stored triage, which keeps `card` and `card_answers`). A card or card answer
    the current card table no longer reads (the table changed since intake) must not
    block a crew's re-triage: it is dropped, and logged."""
    card, card_answers = stored.get("card"), stored.get("card_answers")
    while True:
        try:
            if findings is not None:
                return retriage(answers, findings, complaint=complaint, now=now, card=card,
                                card_answers=card_answers)
            return triage_call(answers, complaint=complaint, now=now, card=card,
                               card_answers=card_answers)
        except TriageError as exc:
            if card is None or not (exc.field or "").startswith("card"):
                raise
            log.warning("call %s: stored card %r no longer reads (%s: %s); re-triaged "
                        "without it", call_id, card, exc.field, exc.message)
            card, card_answers = None, None


class Orchestrator:
    """Cross-domain flows of the service; one per process, stateless across requests."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def _caller(self, number: str) -> str:
        """A caller number in the one form calls and AML reports are matched by."""
        return normalise_number(number, region=self.rt.settings.phone_region,
                                area_code=self.rt.settings.phone_area_code)

    # ------------------------------------------------------------------ intake

    async def take_call(
        self, *, body: CallIn, idempotency_key: str | None, principal: Principal, now: datetime
    ) -> Outcome:
        """Persist a new call (or find the one this key created) and try to assign it."""
        principal.require(Role.DISPATCHER)
        fingerprint = request_fingerprint(body) if idempotency_key else None
        if idempotency_key:
            async with self.rt.pool.acquire() as conn:
                existing = await self._replayed(conn, idempotency_key, fingerprint)
            if existing is not None:
                return Outcome(call_id=existing, created=False)

        places = await self.rt.places.get()
        caller = self._caller(body.caller_number)
        result = triage_call(body.answers, complaint=body.complaint, now=now, card=body.card,
                             card_answers=body.card_answers)
        transport_class = result.transport_class
        call = call_db.NewCall(
            id=uuid4(),
            idempotency_key=idempotency_key,
            caller_number=caller,
            complaint=body.complaint,
            answers=body.answers.model_dump(mode="json", exclude_none=True),
            acuity=int(result.acuity),
            transport_class=transport_class.value,
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
        booked_later = self._booked_later(
            {"booked_from": call.booked_from, "transport_class": call.transport_class}, now)
        claimed: str | None = None
        ranked: list[Ranked] = []
        location: FusedLocation | None = None
        for may_claim in (True, False):
            try:
                async with self.rt.pool.acquire() as conn, conn.transaction():
                    if not await call_db.insert_call(conn=conn, call=call):
                        # A concurrent retry with the same key won the insert.
                        assert idempotency_key is not None
                        existing = await self._replayed(conn, idempotency_key, fingerprint)
                        assert existing is not None
                        return Outcome(call_id=existing, created=False)
                    location = await self._store_intake(conn, call, body, result, caller,
                                                        events, places, now)
                    if (may_claim and location is not None and not booked_later
                            and self.rt.settings.auto_assign):
                        # Claim in the intake transaction: one commit for the common case.
                        # The new call row is ours alone until it commits, so the lock
                        # order holds.
                        fresh = {"id": call.id, "status": CallStatus.QUEUED.value,
                                 "lon": location.lon, "lat": location.lat,
                                 "radius_m": location.radius_m,
                                 "required_kinds": call.required_kinds, "acuity": call.acuity,
                                 "transport_class": call.transport_class}
                        ranked = await self._candidates_if_reachable(conn, fresh, now)
                        if ranked:
                            claimed = await self._claim_first(
                                conn, fresh, [(r.vehicle_id, r.eta_s, r.distance_m, r.reasons)
                                              for r in ranked],
                                principal=principal, now=now,
                                expect=[CallStatus.QUEUED.value])
                break
            except asyncpg.UniqueViolationError as exc:
                # Whatever happens to the claim, the call is stored: again, queued.
                _raise_unless_double_assignment(exc)
                log.error("claim at intake of call %s refused by the one-live-assignment "
                          "index; storing the call queued", call.id)
                claimed, ranked = None, []
        await self._fanout_one("console", {"kind": "call_created", "call_id": str(call.id),
                                            "acuity": call.acuity,
                                            "transport_class": call.transport_class})
        if location is not None and places.district_id_at(location.lon, location.lat) is None:
            await self._fanout_one("console", _out_of_area_alert(call.id, location))
        if booked_later:
            await self._plan_booking(call.id, body, now)
            return Outcome(call_id=call.id, created=True)
        if claimed is not None:
            view = await self._after_claim(call.id, claimed, now)
            return Outcome(call_id=call.id, created=True, recommendations=tuple(ranked),
                           view=view)
        # Nothing claimed before the commit: search again now that the queued call is
        # visible to every instance, so a vehicle clearing meanwhile cannot miss it.
        recommendations = await self._assign_or_recommend(call.id, principal=principal, now=now)
        return Outcome(call_id=call.id, created=True, recommendations=recommendations)

    async def _store_intake(
        self, conn: asyncpg.Connection, call: call_db.NewCall, body: CallIn,
        result: TriageResult, caller: str, received: list[NewEvent], places: Places,
        now: datetime,
    ) -> FusedLocation | None:
        """Write a new call's fixes, location, timeline and destination (caller's
        transaction); return its fused location."""
        events = list(received)
        fixes = [stored_fix(f) for f in body.fixes]
        fixes += await self._attach_held_aml(conn, call.id, caller, now)
        ids = await call_db.insert_fixes(conn=conn, call_id=call.id, fixes=fixes)
        location = fuse([fusion_fix(i, f) for i, f in zip(ids, fixes, strict=True)], now=now)
        if location is not None:
            await self._store_location(conn, call.id, location, places)
            events.append(NewEvent(EventKind.LOCATION_FIXED, now, call.id,
                                   data=location.to_dict()))
            if places.district_id_at(location.lon, location.lat) is None:
                events.append(_out_of_area_event(call.id, location, now))
        events.append(NewEvent(EventKind.TRIAGED, now, call.id, data=triage_event(result)))
        await append_events(conn=conn, events=events)
        if location is not None:
            await self._choose_destination(conn, call.id, result, location, places, now)
        return location

    @staticmethod
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

    async def add_fixes(
        self, *, call_id: UUID, fixes_in: list[FixIn], principal: Principal, now: datetime
    ) -> Outcome:
        """Add location fixes; re-fuse, and re-rank before dispatch or alert the crew after."""
        principal.require(Role.DISPATCHER, Role.GATEWAY)
        places = await self.rt.places.get()
        fixes = [stored_fix(f) for f in fixes_in]
        async with self.rt.pool.acquire() as conn, conn.transaction():
            call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
            if call is None:
                raise NotFound(f"call {call_id} does not exist", field="call_id")
            if call["status"] not in LIVE_STATUSES:
                raise Conflict(f"call is {call['status']}; fixes are taken only on live calls")
            await call_db.insert_fixes(conn=conn, call_id=call_id, fixes=fixes)
            rows = await call_db.fixes_of(conn=conn, call_id=call_id)
            location = fuse([fusion_fix(r["id"], r) for r in rows], now=now)
            moved = False
            corrected: list[dict[str, Any]] = []
            if location is not None:
                previous = previous_location(call)
                moved = previous is None or moved_beyond(previous, location)
                await self._store_location(conn, call_id, location, places)
                if previous is not None:
                    corrected = await self._eta_corrections(conn, call_id, previous, location,
                                                            places, now)
                kind = EventKind.LOCATION_FIXED if previous is None else EventKind.LOCATION_UPDATED
                # Flag the call when this fix takes it out of every district (once per move).
                newly_out = places.district_id_at(location.lon, location.lat) is None and (
                    previous is None or call["district_id"] is not None)
                await append_events(conn=conn, events=[
                    NewEvent(kind, now, call_id, data={
                        **location.to_dict(), "moved": moved,
                        **({"crews_told": corrected} if corrected else {})}),
                    *([_out_of_area_event(call_id, location, now)] if newly_out else []),
                ])
        assert location is not None
        if newly_out:
            await self._fanout_one("console", _out_of_area_alert(call_id, location))
        if call["status"] == CallStatus.QUEUED.value:
            recs = await self._assign_or_recommend(call_id, principal=principal, now=now)
            return Outcome(call_id=call_id, created=False, recommendations=recs)
        if moved:
            await self._publish_to_crews(call_id, {
                "kind": "location_changed", "call_id": str(call_id), **location.to_dict()})
        await self._fanout([(f"vehicle:{c['vehicle_id']}", {
            "kind": "location_corrected", "call_id": str(call_id), **location.to_dict(), **c})
            for c in corrected])
        return Outcome(call_id=call_id, created=False)

    async def _eta_corrections(
        self, conn: asyncpg.Connection, call_id: UUID, previous: FusedLocation,
        location: FusedLocation, places: Places, now: datetime,
    ) -> list[dict[str, Any]]:
        """The crews still on their way whose expected ETA this correction moves by more
        than `location_eta_notify_s`, with their ETA before and after."""
        live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
        rolling = [a["vehicle_id"] for a in live
                   if a["status"] in (VehicleStatus.DISPATCHED.value, VehicleStatus.EN_ROUTE.value)]
        if not rolling:
            return []
        before, after = (self._uncertain_eta(
            {"lon": loc.lon, "lat": loc.lat, "radius_m": loc.radius_m}, places, now)
            for loc in (previous, location))
        out = []
        for v in await fleet_db.get_vehicles(conn=conn, ids=rolling):
            if v["lon"] is None:
                continue
            change = eta_correction(before, after, from_lon=v["lon"], from_lat=v["lat"],
                                    threshold_s=self.rt.settings.location_eta_notify_s)
            if change is not None:
                out.append({"vehicle_id": v["id"], **change})
        return out

    async def retriage_call(
        self,
        *,
        call_id: UUID,
        answers: Answers | None,
        findings: Findings | None,
        complaint: str | None,
        principal: Principal,
        now: datetime,
    ) -> Outcome:
        """Re-run triage with new answers or crew findings; record old and new."""
        principal.require(Role.DISPATCHER, Role.CREW)
        places = await self.rt.places.get()
        async with self.rt.pool.acquire() as conn, conn.transaction():
            call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
            if call is None:
                raise NotFound(f"call {call_id} does not exist", field="call_id")
            if principal.role is Role.CREW:
                await self._require_crew_on_call(conn, principal, call_id)
            merged = Answers.model_validate(
                {**call["answers"], **(answers.model_dump(exclude_none=True) if answers else {})}
            )
            text = complaint if complaint is not None else call["complaint"]
            # the card the call was taken on, and its answers, keep counting
            result = retriage_on_card(merged, findings, complaint=text, now=now,
                                      stored=call["triage"], call_id=call_id)
            await call_db.set_triage(
                conn=conn, call_id=call_id, acuity=int(result.acuity),
                transport_class=result.transport_class.value,
                pathway=result.pathway.value if result.pathway else None,
                triage=result.to_dict(), required_kinds=[k.value for k in result.vehicle_kinds],
                answers=merged.model_dump(mode="json", exclude_none=True),
            )
            await append_events(conn=conn, events=[NewEvent(
                EventKind.RETRIAGED, now, call_id,
                data={"old": call["triage"], "new": triage_event(result)},
            )])
            location = previous_location(call)
            if location is not None:
                await self._choose_destination(conn, call_id, result, location, places, now,
                                               findings=findings,
                                               previous=call["destination_id"])
        await self._fanout_one("console", {"kind": "call_retriaged", "call_id": str(call_id),
                                            "acuity": int(result.acuity)})
        if call["status"] == CallStatus.QUEUED.value:
            recs = await self._assign_or_recommend(call_id, principal=principal, now=now)
            return Outcome(call_id=call_id, created=False, recommendations=recs)
        return Outcome(call_id=call_id, created=False)

    async def receive_aml(
        self, *, message: AmlMessage, form: str, sender: str | None, principal: Principal,
        now: datetime,
    ) -> dict[str, Any]:
        """Store an AML report; add it to the caller's live call, or hold it for intake."""
        principal.require(Role.GATEWAY, Role.DISPATCHER)
        number = message.caller_number or sender
        if not number:
            raise InvalidInput("AML message carries no caller number; give the sender",
                               field="sender")
        caller = self._caller(number)
        async with self.rt.pool.acquire() as conn, conn.transaction():
            call_id = await call_db.live_call_for_caller(conn=conn, caller_number=caller)
            message_id = await aml_db.insert_message(
                conn=conn, message=message, caller_number=caller, form=form, call_id=call_id)
        if call_id is None:
            log.info("AML %d from %s held until the call exists", message_id, caller)
            return {"aml_id": message_id, "call_id": None, "held": True,
                    "warnings": list(message.warnings)}
        fix = FixIn(lon=message.lon, lat=message.lat, accuracy_m=message.accuracy_m,
                    source=message.fix_source, coord_system=CoordSystem.WGS84,
                    observed_at=message.observed_at)
        await self.add_fixes(call_id=call_id, fixes_in=[fix], principal=principal, now=now)
        return {"aml_id": message_id, "call_id": str(call_id), "held": False,
                "warnings": list(message.warnings)}

    async def _attach_held_aml(
        self, conn: asyncpg.Connection, call_id: UUID, caller: str, now: datetime
    ) -> list[call_db.StoredFix]:
        """AML reports that arrived before the call: attach them as its first fixes."""
        since = now - timedelta(seconds=self.rt.settings.aml_hold_s)
        pending = await aml_db.pending_for(conn=conn, caller_number=caller, since=since)
        if not pending:
            return []
        won = set(await aml_db.attach(conn=conn, ids=[r["id"] for r in pending], call_id=call_id))
        return [
            call_db.StoredFix(source=FixSource(r["source"]), coord_system=CoordSystem.WGS84,
                              raw_lon=r["lon"], raw_lat=r["lat"], lon=r["lon"], lat=r["lat"],
                              accuracy_m=r["accuracy_m"], observed_at=r["observed_at"])
            for r in pending if r["id"] in won
        ]

    # ---------------------------------------------------------------- bookings

    def _booked_later(self, call: Mapping[str, Any], now: datetime) -> bool:
        """A non-emergency booking whose window opens beyond the lead time is planned, not
        dispatched now. A booking that triage upgraded to emergency goes now, on the
        emergency fleet, whatever its window."""
        window_start = call["booked_from"]
        return (window_start is not None
                and call["transport_class"] == TransportClass.NON_EMERGENCY.value
                and (window_start - now).total_seconds() > self.rt.settings.booking_lead_s)

    async def _plan_booking(self, call_id: UUID, body: CallIn, now: datetime) -> None:
        """Plan a non-emergency booking onto the fleet around trips already booked."""
        assert body.booking is not None
        places = await self.rt.places.get()
        async with self.rt.pool.acquire() as conn, conn.transaction():
            call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
            assert call is not None
            if call["lon"] is None:
                return
            pickup = (call["lon"], call["lat"])
            dest = (body.booking.dest_lon if body.booking.dest_lon is not None else pickup[0],
                    body.booking.dest_lat if body.booking.dest_lat is not None else pickup[1])
            fleet = [
                NetVehicle(vehicle_id=r["id"], lon=r["lon"], lat=r["lat"], trips=[
                    BookedTrip(call_id=str(t["call_id"]), start=parse_ts(t["start"]),
                               end=parse_ts(t["end"]), end_lon=t["end_lon"], end_lat=t["end_lat"],
                               start_lon=t["start_lon"], start_lat=t["start_lat"])
                    for t in r["trips"]])
                for r in await booking_db.net_fleet(conn=conn, now=now)
            ]

            def travel(a_lon: float, a_lat: float, b_lon: float, b_lat: float) -> float:
                return self.rt.eta.model.eta_s(from_lon=a_lon, from_lat=a_lat, to_lon=b_lon,
                                            to_lat=b_lat,
                                            area_type=places.area_type_at(b_lon, b_lat), at=now)

            plan = plan_booking(
                booking=Booking(call_id=str(call_id), lon=pickup[0], lat=pickup[1],
                                dest_lon=dest[0], dest_lat=dest[1],
                                window_start=body.booking.window_start,
                                window_end=body.booking.window_end),
                fleet=fleet, travel_s=travel, service_s=self.rt.settings.booking_service_s,
                now=now)
            if plan is None:
                await append_events(conn=conn, events=[NewEvent(
                    EventKind.QUEUED, now, call_id,
                    data={"reason": "no non-emergency vehicle can make the booked window"})])
                return
            await booking_db.insert_trip(
                conn=conn, call_id=call_id, vehicle_id=plan.vehicle_id, depart_at=plan.depart_at,
                pickup_at=plan.pickup_at, dropoff_at=plan.dropoff_at, pickup=pickup, dest=dest,
                plan=plan.to_dict())
            await append_events(conn=conn, events=[NewEvent(
                EventKind.BOOKED, now, call_id, plan.vehicle_id, data=plan.to_dict())])

    async def dispatch_due_bookings(self, *, now: datetime) -> int:
        """Dispatch planned bookings whose vehicle must leave now; return how many."""
        scheduler = Principal(subject="booking-scheduler", role=Role.DISPATCHER)
        async with self.rt.pool.acquire() as conn:
            due = await booking_db.due_trips(conn=conn, until=now)
        done = 0
        for trip in due:
            claimed = None
            async with self.rt.pool.acquire() as conn, conn.transaction():
                call = await call_db.get_call(conn=conn, call_id=trip["call_id"], for_update=True)
                if call is None or call["status"] != CallStatus.QUEUED.value:
                    continue
                options: list[_Option] = [(trip["vehicle_id"], None, None, ("booked vehicle",))]
                # the planned vehicle may be held up: any free one of the fleet will do
                options += [(r.vehicle_id, r.eta_s, r.distance_m, r.reasons)
                            for r in await self._candidates(conn, call, now)
                            if r.vehicle_id != trip["vehicle_id"]]
                claimed = await self._claim_first(conn, call, options, principal=scheduler,
                                                  now=now, expect=[CallStatus.QUEUED.value],
                                                  note="booked non-emergency transport")
                if claimed is not None:
                    await booking_db.set_trip_status(conn=conn, call_id=trip["call_id"],
                                                     status="dispatched")
            if claimed is not None:
                await self._after_claim(trip["call_id"], claimed, now)
                done += 1
        return done

    # -------------------------------------------------------------- assignment

    async def recommend(self, *, call_id: UUID, now: datetime) -> list[Ranked]:
        """The best few available vehicles for a call, by ETA."""
        async with self.rt.pool.acquire() as conn:
            call = await call_db.get_call(conn=conn, call_id=call_id)
            if call is None:
                raise NotFound(f"call {call_id} does not exist", field="call_id")
            return await self._candidates(conn, call, now)

    async def dispatch(
        self,
        *,
        call_id: UUID,
        vehicle_id: str | None,
        additional: bool,
        reason: str,
        principal: Principal,
        now: datetime,
    ) -> Outcome:
        """A dispatcher confirms the recommendation or overrides it with a named vehicle."""
        principal.require(Role.DISPATCHER)
        released: list[asyncpg.Record] = []
        warnings: list[dict[str, Any]] = []
        async with self.rt.pool.acquire() as conn, conn.transaction():
            call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
            if call is None:
                raise NotFound(f"call {call_id} does not exist", field="call_id")
            if call["status"] not in LIVE_STATUSES:
                raise Conflict(f"call is {call['status']}; it cannot be dispatched")
            live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
            if vehicle_id is None:
                if live and not additional:
                    raise Conflict("call already has a vehicle; name one to override it",
                                   field="vehicle_id")
                ranked = await self._candidates(conn, call, now)
                if not ranked:
                    raise VehicleUnavailable("no suitable vehicle is available",
                                             field="vehicle_id")
                options: list[_Option] = [
                    (r.vehicle_id, r.eta_s, r.distance_m, r.reasons) for r in ranked]
            else:
                vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
                if vehicle is None:
                    raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
                if vehicle["kind"] not in call["required_kinds"]:
                    raise Conflict(
                        f"a {vehicle['kind']} vehicle cannot serve this "
                        f"{call['transport_class']} call (needs {call['required_kinds']})",
                        field="vehicle_id")
                places = await self.rt.places.get()
                eta, dist = self._eta_to(vehicle, call, places, now)
                options = [(vehicle_id, eta, dist, ("dispatcher override",))]
                warnings = override_warnings(
                    vehicle=vehicle,
                    available_by_district=await fleet_db.available_by_district(conn=conn),
                    district_names={d.id: d.name for d in places.districts.districts})
            claimed = await self._claim_first(
                conn, call, options, principal=principal, now=now,
                expect=LIVE_STATUSES, note=reason, warnings=warnings)
            if claimed is None:
                raise VehicleUnavailable("the vehicle is no longer available",
                                         field="vehicle_id")
            if not additional:
                for a in live:
                    if a["vehicle_id"] == claimed:
                        continue
                    row = await self._release(conn, a["vehicle_id"], call_id, now, principal,
                                              EventKind.UNASSIGNED, {"reason": reason,
                                                                     "replaced_by": claimed})
                    if row is not None:
                        released.append(row)
        await self._after_claim(call_id, claimed, now)
        for row in released:
            await self._vehicle_freed(row, now)
        return Outcome(call_id=call_id, created=False, warnings=tuple(warnings))

    async def cancel(
        self, *, call_id: UUID, reason: str, principal: Principal, now: datetime
    ) -> Outcome:
        """Cancel a live call and free its vehicles."""
        principal.require(Role.DISPATCHER)
        released = []
        async with self.rt.pool.acquire() as conn, conn.transaction():
            call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
            if call is None:
                raise NotFound(f"call {call_id} does not exist", field="call_id")
            if not await call_db.set_status(conn=conn, call_id=call_id,
                                            status=CallStatus.CANCELLED, expect=LIVE_STATUSES):
                raise Conflict(f"call is {call['status']}; it cannot be cancelled")
            for a in await fleet_db.live_assignments(conn=conn, call_id=call_id):
                row = await self._release(conn, a["vehicle_id"], call_id, now, principal,
                                          EventKind.UNASSIGNED, {"reason": "call cancelled"})
                if row is not None:
                    released.append(row)
            await booking_db.set_trip_status(conn=conn, call_id=call_id, status="cancelled")
            await append_events(conn=conn, events=[
                NewEvent(EventKind.CANCELLED, now, call_id, data={"reason": reason})])
            # off the boards of the centres it was inbound to, in this commit
            await call_cancelled(conn=conn, call=call, now=now,
                                 by=Actor(role=principal.role, id=principal.subject))
        await self._fanout_one("console", {"kind": "call_cancelled", "call_id": str(call_id)})
        for row in released:
            await self._fanout_one(f"vehicle:{row['id']}",
                                   {"kind": "mission_cancelled", "call_id": str(call_id)})
            await self._vehicle_freed(row, now)
        return Outcome(call_id=call_id, created=False)

    # ------------------------------------------------------------------- fleet

    async def report_status(
        self, *, vehicle_id: str, status: VehicleStatus, at: datetime, principal: Principal,
        now: datetime, call_id: UUID | None = None, report_id: str | None = None,
        conn: asyncpg.Connection | None = None,
    ) -> dict[str, Any]:
        """A crew's status: stamp the clock it means, free the vehicle when it clears.

        The vehicle's row is locked first, so reports for one vehicle apply one at a time.
        A report is bound to a mission: by `call_id` when it names one, else by its time
        (see _check_mission). A repeat (the same `report_id`, or the same status stamped
        with the same `at`) is answered with the first result and changes nothing.
        Everything the report changes, the receiving centre's news included, commits in
        one transaction: a refused report leaves no trace. `conn`: the caller's
        connection (outside a transaction), used for every step here instead of taking
        others from the pool (a crew frame holds one for its lock).
        """
        principal.require(Role.CREW, Role.DISPATCHER)
        principal.require_vehicle(vehicle_id)
        if status is VehicleStatus.DISPATCHED:
            raise InvalidInput("'dispatched' is set by the dispatch centre, not reported",
                               field="status")
        check_source_time(at, now=now, max_skew_s=self.rt.settings.max_clock_skew_s)
        fingerprint = f"{status.value}|{call_id or ''}"
        lent = conn
        async with lent_or_pooled(self.rt.pool, lent) as conn, conn.transaction():
            vehicle = await self._lock_vehicle_and_mission(conn, vehicle_id)
            if report_id is not None:
                first = await fleet_db.status_report(conn=conn, vehicle_id=vehicle_id,
                                                     report_id=report_id)
                if first is not None:
                    if first["fingerprint"] != fingerprint:
                        raise Conflict(f"report_id {report_id!r} was used for another report",
                                       field="report_id")
                    return dict(first["result"])
            mission = vehicle["call_id"]
            given = await fleet_db.mission_of(conn=conn, vehicle_id=vehicle_id)
            repeat = await self._repeat_of(conn, vehicle_id, status, at, given)
            repeat = repeat or await self._check_mission(conn, vehicle_id, mission, status,
                                                         at, call_id, given, now)
            if repeat is not None:
                return repeat
            freed = await self._apply_status(conn, vehicle, status, at, principal)
            # The receiving centre hears the crew's status; at_hospital marks the arrival.
            await crew_status_changed(conn=conn, vehicle_id=vehicle_id, call_id=mission,
                                      status=status, at=at, now=now)
            result = _status_result(vehicle_id, status, mission)
            if report_id is not None:
                await fleet_db.save_status_report(conn=conn, vehicle_id=vehicle_id,
                                                  report_id=report_id, fingerprint=fingerprint,
                                                  result=result)
        kind = VehicleKind(vehicle["kind"])
        await self._fanout_one("console", {
            "kind": "vehicle_status", "vehicle_id": vehicle_id, "status": status.value,
            "call_id": text_or_none(mission)})
        if status is VehicleStatus.AVAILABLE and freed is not None:
            # its next assignment never starts before the clearing the crew stamped
            await self._vehicle_freed(freed, max(now, at), lent=lent)
        elif status is not VehicleStatus.AVAILABLE:
            await self.rt.index.mark_unavailable(vehicle_id=vehicle_id, kind=kind)
        return result

    async def _lock_vehicle_and_mission(
        self, conn: asyncpg.Connection, vehicle_id: str
    ) -> asyncpg.Record:
        """Lock the vehicle's mission, then the vehicle (the lock order: call, then
        vehicle; a dispatcher's override or cancel holds the call and waits for the
        vehicle). Reports for one vehicle then apply one after the other."""
        while True:
            seen = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
            if seen is None:
                raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
            if seen["call_id"] is not None:
                await call_db.get_call(conn=conn, call_id=seen["call_id"], for_update=True)
            vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id,
                                                 for_update=True)
            assert vehicle is not None  # vehicles are never deleted
            if vehicle["call_id"] == seen["call_id"]:
                return vehicle
            # its mission changed between the two reads: lock the one it holds now

    async def _apply_status(
        self, conn: asyncpg.Connection, vehicle: asyncpg.Record, status: VehicleStatus,
        at: datetime, principal: Principal,
    ) -> asyncpg.Record | None:
        """Write what a status means (caller's transaction, vehicle row locked); return the
        vehicle's row when the status freed it."""
        vehicle_id, mission = vehicle["id"], vehicle["call_id"]
        clock = STATUS_EVENT.get(status)
        if clock is not None:
            if mission is None:
                raise Conflict(f"vehicle has no mission; '{status.value}' needs one",
                               field="status")
            await call_db.set_status(conn=conn, call_id=mission, status=CallStatus.ACTIVE,
                                     expect=[CallStatus.ASSIGNED.value])
            await fleet_db.set_vehicle_status(conn=conn, vehicle_id=vehicle_id,
                                              status=status.value, at=at)
            await append_events(conn=conn, events=[
                NewEvent(clock, at, mission, vehicle_id, data={"status": status.value})])
        elif status in (VehicleStatus.AVAILABLE, VehicleStatus.RETURNING):
            if mission is not None:
                freed = await self._release(conn, vehicle_id, mission, at, principal,
                                            EventKind.CLEARED, {"status": status.value},
                                            new_status=status.value)
                await self._close_if_done(conn, mission)
                return freed
            await fleet_db.set_vehicle_status(conn=conn, vehicle_id=vehicle_id,
                                              status=status.value, at=at)
            return await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
        elif status is VehicleStatus.OUT_OF_SERVICE:
            if mission is not None:
                raise Conflict("vehicle has a live mission; clear it or have it reassigned",
                               field="status")
            await fleet_db.set_vehicle_status(conn=conn, vehicle_id=vehicle_id,
                                              status=status.value, at=at)
        return None

    async def _repeat_of(
        self, conn: asyncpg.Connection, vehicle_id: str, status: VehicleStatus, at: datetime,
        given: asyncpg.Record | None,
    ) -> dict[str, Any] | None:
        """The first result of a report resent with its time: the same status stamped with
        the same `at`, about the vehicle's mission or about one before it."""
        earlier = await fleet_db.status_event_at(conn=conn, vehicle_id=vehicle_id,
                                                 status=status.value, at=at)
        if earlier is None:
            return None
        if given is None or earlier["call_id"] == given["call_id"] \
                or at <= given["assigned_at"]:
            return _status_result(vehicle_id, status, earlier["call_id"])
        return None

    async def _check_mission(
        self, conn: asyncpg.Connection, vehicle_id: str, mission: UUID | None,
        status: VehicleStatus, at: datetime, call_id: UUID | None,
        given: asyncpg.Record | None, now: datetime,
    ) -> dict[str, Any] | None:
        """Refuse a status about another mission than the one the vehicle holds; return
        the first result when the status repeats the clearing that freed the vehicle.

        A report naming its call must name the vehicle's mission. One that does not is
        taken as about the mission only if stamped after the mission was given (a late
        on_scene of the previous call must not land on the next). An unnamed clearing
        shortly after the queue gave the vehicle its next call is the repeat of the
        clearing that freed it (Settings.clear_grace_s), not the end of the new call.
        """
        if call_id is not None:
            if call_id != mission:
                if await fleet_db.status_reported(conn=conn, vehicle_id=vehicle_id,
                                                  call_id=call_id, status=status.value):
                    return _status_result(vehicle_id, status, call_id)  # a repeat
                held = f"call {mission}" if mission is not None else "no mission"
                raise Conflict(f"vehicle {vehicle_id} holds {held}, not call {call_id}",
                               field="call_id")
            return None
        if mission is None or given is None:
            return None
        if at < given["assigned_at"]:
            raise Conflict(
                f"vehicle {vehicle_id} was given call {mission} at "
                f"{given['assigned_at'].isoformat()}; a '{status.value}' stamped "
                f"{at.isoformat()} must name its call in call_id", field="call_id")
        clearing = status in (VehicleStatus.AVAILABLE, VehicleStatus.RETURNING)
        grace = timedelta(seconds=self.rt.settings.clear_grace_s)
        if clearing and given["assigned_by"] == _DRAINER.subject \
                and now < given["assigned_at"] + grace:
            cleared = await fleet_db.last_clearing(conn=conn, vehicle_id=vehicle_id,
                                                   status=status.value)
            if cleared is None:
                raise Conflict(
                    f"the queue gave vehicle {vehicle_id} call {mission} "
                    f"{(now - given['assigned_at']).total_seconds():.0f} s ago; name it in "
                    "call_id to clear it", field="call_id")
            return _status_result(vehicle_id, status, cleared)
        return None

    async def report_milestone(
        self, *, vehicle_id: str, kind: EventKind, at: datetime, principal: Principal
    ) -> dict[str, Any]:
        """Clocks that are not a vehicle status: patient contact, handover."""
        principal.require(Role.CREW, Role.DISPATCHER)
        principal.require_vehicle(vehicle_id)
        check_source_time(at, now=datetime.now(UTC), max_skew_s=self.rt.settings.max_clock_skew_s)
        async with self.rt.pool.acquire() as conn, conn.transaction():
            vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
            if vehicle is None:
                raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
            if vehicle["call_id"] is None:
                raise Conflict("vehicle has no mission", field="kind")
            await append_events(conn=conn, events=[
                NewEvent(kind, at, vehicle["call_id"], vehicle_id)])
        return {"vehicle_id": vehicle_id, "kind": kind.value, "call_id": str(vehicle["call_id"])}

    async def report_position(
        self, *, vehicle_id: str, lon: float, lat: float, at: datetime, principal: Principal
    ) -> asyncpg.Record | None:
        """A position ping: PostgreSQL keeps the latest, Redis indexes it if available.
        Returns the vehicle's row (dispatch.db.fleet.set_position), None for a stale ping."""
        principal.require(Role.CREW, Role.DISPATCHER)
        principal.require_vehicle(vehicle_id)
        async with self.rt.pool.acquire() as conn:
            row = await fleet_db.set_position(conn=conn, vehicle_id=vehicle_id, lon=lon, lat=lat,
                                              at=at)
            if row is None:
                if await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id) is None:
                    raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
                return None  # an older ping arriving late: the newer position stands
        if row["status"] == VehicleStatus.AVAILABLE.value:
            await self.rt.index.move(vehicle_id=vehicle_id, kind=VehicleKind(row["kind"]),
                                  lon=lon, lat=lat)
        return row

    async def rebuild_index(self) -> int:
        """Rebuild the Redis GEO sets from PostgreSQL (at start-up, or after Redis lost them)."""
        async with self.rt.pool.acquire() as conn:
            rows = await fleet_db.available_positions(conn=conn)
        return await self.rt.index.rebuild(
            available=[(r["id"], VehicleKind(r["kind"]), r["lon"], r["lat"]) for r in rows])

    # ----------------------------------------------------------------- reading

    async def call_view(
        self, *, call_id: UUID, principal: Principal, with_timeline: bool = True,
        via: str = "get_call",
    ) -> dict[str, Any]:
        """The call as consoles see it; hospitals only their own inbound. Every read is
        audit-logged, `via` saying which answer or screen it was."""
        async with self.rt.pool.acquire() as conn:
            call = await call_db.view_row(conn=conn, call_id=call_id)
            if call is None:
                raise NotFound(f"call {call_id} does not exist", field="call_id")
            assignments = call["live_assignments"]
            if principal.role is Role.HOSPITAL:
                if call["destination_id"] != principal.hospital_id or not await hospital_may_see(
                        conn=conn, call=call, hospital_id=call["destination_id"],
                        now=datetime.now(UTC),
                        retention=timedelta(seconds=self.rt.settings.hospital_retention_s)):
                    raise Forbidden("this patient is not inbound to your hospital")
            elif principal.role is Role.CREW:
                if principal.vehicle_id not in {a["vehicle_id"] for a in assignments}:
                    raise Forbidden("this crew is not assigned to the call")
            else:
                principal.require(Role.DISPATCHER)
            events = await timeline(conn=conn, call_id=call_id) if with_timeline else None
            await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                        action="read_call", call_id=call_id, hospital_id=principal.hospital_id,
                        vehicle_id=principal.vehicle_id, detail={"via": via})
        return _view(call, events=events)

    async def history(
        self, *, since: datetime, until: datetime, after: tuple[datetime, UUID] | None,
        limit: int, principal: Principal,
    ) -> list[dict[str, Any]]:
        """Every call received in a period, in order, a page at a time."""
        principal.require(Role.DISPATCHER)
        async with self.rt.pool.acquire() as conn:
            rows = await call_db.calls_received(conn=conn, since=since, until=until, after=after,
                                                limit=limit)
            await _audit_list(conn, principal, rows, "history")
        return [render_call(r, [], None, None) for r in rows]

    async def queue(self, *, statuses: list[str], principal: Principal,
                    limit: int, via: str = "queue") -> list[dict[str, Any]]:
        principal.require(Role.DISPATCHER)
        async with self.rt.pool.acquire() as conn:
            rows = await call_db.list_calls(conn=conn, statuses=statuses, limit=limit)
            await _audit_list(conn, principal, rows, via)
        return [render_call(r, [], None, None) for r in rows]

    # ---------------------------------------------------------------- internals

    async def _assign_or_recommend(
        self, call_id: UUID, *, principal: Principal, now: datetime, quiet: bool = False
    ) -> tuple[Ranked, ...]:
        """Claim the best suitable vehicle, falling back down the ranking on a lost race.

        `quiet`: the periodic sweep; a call that stays queued gets no timeline event, and
        one another instance holds is passed over rather than waited on."""
        for _attempt in range(3):
            try:
                async with self.rt.pool.acquire() as conn, conn.transaction():
                    if quiet:
                        call = await fleet_db.lock_queued_call(conn=conn, call_id=call_id)
                    else:
                        call = await call_db.get_call(conn=conn, call_id=call_id,
                                                      for_update=True)
                    if call is None or call["status"] != CallStatus.QUEUED.value:
                        return ()
                    if call["lon"] is None or self._booked_later(call, now):
                        return ()
                    ranked = await self._candidates_if_reachable(conn, call, now)
                    if not ranked:
                        if not quiet:
                            await append_events(conn=conn, events=[NewEvent(
                                EventKind.QUEUED, now, call_id,
                                data={"reason": "no suitable vehicle available"})])
                        return ()
                    if not self.rt.settings.auto_assign:
                        await append_events(conn=conn, events=[NewEvent(
                            EventKind.RECOMMENDED, now, call_id,
                            data={"vehicles": [r.to_dict() for r in ranked]})])
                        return tuple(ranked)
                    claimed = await self._claim_first(conn, call, [
                        (r.vehicle_id, r.eta_s, r.distance_m, r.reasons) for r in ranked],
                                                      principal=principal,
                                                      now=now, expect=[CallStatus.QUEUED.value])
            except asyncpg.UniqueViolationError as exc:
                # the claim was rolled back, the call is still queued: try again
                _raise_unless_double_assignment(exc)
                log.error("claim for call %s refused by the one-live-assignment index", call_id)
                continue
            if claimed is not None:
                await self._after_claim(call_id, claimed, now)
                return tuple(ranked)
            # Every candidate was taken by another instance meanwhile; search again.
        if quiet:
            return ()
        async with self.rt.pool.acquire() as conn:
            await append_events(conn=conn, events=[NewEvent(
                EventKind.QUEUED, now, call_id,
                data={"reason": "every suitable vehicle was claimed by other calls"})])
        return ()

    async def _candidates_if_reachable(
        self, conn: asyncpg.Connection, call: Mapping[str, Any], now: datetime
    ) -> list[Ranked]:
        """The candidates, or none while Redis cannot be reached: a call is taken and
        stored queued without it, and the queue sweep assigns it once the index is back."""
        try:
            return await self._candidates(conn, call, now)
        except (RedisError, OSError, TimeoutError):
            log.warning("live index unreachable; call %s stays queued for the sweep",
                        call["id"], exc_info=True)
            return []

    async def _candidates(
        self, conn: asyncpg.Connection, call: Mapping[str, Any], now: datetime
    ) -> list[Ranked]:
        if call["lon"] is None:
            return []
        places = await self.rt.places.get()
        kinds = [VehicleKind(k) for k in call["required_kinds"]]
        lon, lat = call["lon"], call["lat"]
        # The caller may be anywhere in the confidence circle: search beyond it, compare
        # more units the wider it is, and rank by the expected ETA over it.
        start = search_start_m(call["radius_m"], base_m=self.rt.settings.search_start_m)
        found: dict[str, float] = {}
        wanted = shortlist_size(call["radius_m"], base=self.rt.settings.search_candidates,
                                base_search_m=self.rt.settings.search_start_m)
        for radius in search_radii_m(start_m=min(start, self.rt.settings.search_max_m),
                                     max_m=self.rt.settings.search_max_m):
            for near in await self.rt.index.nearest_kinds(kinds=kinds, lon=lon, lat=lat,
                                                       radius_m=radius, count=wanted):
                found[near.vehicle_id] = near.distance_m
            if len(found) >= wanted:
                break
        if not found:
            return []
        rows = await fleet_db.get_vehicles(conn=conn, ids=list(found))
        candidates = [
            Candidate(
                vehicle_id=r["id"], kind=VehicleKind(r["kind"]), lon=r["lon"], lat=r["lat"],
                capabilities=frozenset(r["capabilities"]), position_at=r["position_at"],
                crew_count=r["crew_count"],
            )
            for r in rows
            if r["status"] == VehicleStatus.AVAILABLE.value and r["lon"] is not None
        ]
        policy = self.rt.settings.ranking_policy
        where = self._uncertain_eta(call, places, now)
        ranked = await self.rt.travel.rank(
            candidates=candidates, where=where, kinds=kinds, now=now,
            top=max(self.rt.settings.recommend_top, wanted))
        reserve = call["acuity"] in RESERVE_LEVELS and call["transport_class"] == "emergency"
        if reserve or policy is RankingPolicy.COVERAGE:
            district_of = {r["id"]: r["station_district_id"] for r in rows}
            available = await fleet_db.available_by_district(conn=conn)
            if reserve:
                ranked = keep_reserve(ranked, acuity=call["acuity"], district_of=district_of,
                                      available_by_district=available)
            if policy is RankingPolicy.COVERAGE:
                ranked = prefer_coverage(ranked, district_of=district_of,
                                         available_by_district=available,
                                         slack_s=self.rt.settings.coverage_slack_s)
        return ranked[: self.rt.settings.recommend_top]

    async def _claim_first(
        self,
        conn: asyncpg.Connection,
        call: Mapping[str, Any],
        options: Sequence[_Option],
        *,
        principal: Principal,
        now: datetime,
        expect: list[str],
        note: str = "",
        warnings: Sequence[Mapping[str, Any]] = (),
    ) -> str | None:
        """Claim the first option still available, inside the caller's transaction.

        The caller holds the call's row lock (lock order: call, then vehicle) and has
        checked its status is one of `expect`. Nothing is written when no option is free.
        `warnings` the dispatcher was given are recorded with the assignment.
        """
        call_id = call["id"]
        if call["status"] not in expect:
            return None
        claim = await fleet_db.claim_first_available(
            conn=conn, call_id=call_id, at=now, assigned_by=principal.subject,
            options=[(vid, eta_s, dist, {"reasons": list(reasons), "note": note})
                     for vid, eta_s, dist, reasons in options])
        if claim is None:
            return None
        # a second or replacement vehicle on a rolling call keeps the call active
        status = (CallStatus.ACTIVE if call["status"] == CallStatus.ACTIVE.value
                  else CallStatus.ASSIGNED)
        if not await call_db.set_status(conn=conn, call_id=call_id, status=status,
                                        expect=expect):
            raise Conflict(f"call {call_id} changed state during the claim")
        vehicle_id: str = claim["id"]
        reasons = claim["reason"]["reasons"]
        warned = {"warnings": [dict(w) for w in warnings]} if warnings else {}
        await append_events(conn=conn, events=[NewEvent(
            EventKind.DISPATCHED, now, call_id, vehicle_id,
            data={"station_id": claim["station_id"],
                  "district_id": claim["station_district_id"],
                  "eta_s": claim["eta_s"], "distance_m": claim["distance_m"],
                  "reasons": reasons, "by": principal.subject,
                  # where the vehicle was when ordered: ETA calibration's trip start
                  "from_lon": claim["lon"], "from_lat": claim["lat"], **warned})])
        await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                    action="assign", call_id=call_id, vehicle_id=vehicle_id,
                    detail={"eta_s": claim["eta_s"], "reasons": reasons, "note": note, **warned})
        return vehicle_id

    async def _after_claim(
        self, call_id: UUID, vehicle_id: str, now: datetime,
        lent: asyncpg.Connection | None = None,
    ) -> dict[str, Any]:
        """Take the vehicle out of the index and send it its mission; return the call view."""
        async with lent_or_pooled(self.rt.pool, lent) as conn:
            call = await call_db.view_row(conn=conn, call_id=call_id)
        assert call is not None
        mine = [a for a in call["live_assignments"] if a["vehicle_id"] == vehicle_id]
        if mine:
            await self.rt.index.mark_unavailable(vehicle_id=vehicle_id,
                                              kind=VehicleKind(mine[0]["kind"]))
        mission = _view(call, events=None)
        await self._fanout([
            ("console", {"kind": "vehicle_assigned", "call_id": str(call_id),
                         "vehicle_id": vehicle_id}),
            (f"vehicle:{vehicle_id}", {"kind": "mission", "call_id": str(call_id),
                                       "mission": mission}),
        ])
        return mission

    async def _release(
        self,
        conn: asyncpg.Connection,
        vehicle_id: str,
        call_id: UUID,
        at: datetime,
        principal: Principal,
        kind: EventKind,
        data: dict[str, Any],
        new_status: str = VehicleStatus.AVAILABLE.value,
    ) -> asyncpg.Record | None:
        row = await fleet_db.release_vehicle(conn=conn, vehicle_id=vehicle_id, at=at,
                                             status=new_status)
        await append_events(conn=conn, events=[NewEvent(kind, at, call_id, vehicle_id, data)])
        await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                    action="unassign", call_id=call_id, vehicle_id=vehicle_id, detail=data)
        return row

    async def _close_if_done(self, conn: asyncpg.Connection, call_id: UUID) -> None:
        if not await fleet_db.live_assignments(conn=conn, call_id=call_id):
            await call_db.set_status(conn=conn, call_id=call_id, status=CallStatus.CLOSED,
                                     expect=[CallStatus.ACTIVE.value, CallStatus.ASSIGNED.value])

    async def _vehicle_freed(
        self, vehicle: asyncpg.Record, now: datetime, lent: asyncpg.Connection | None = None
    ) -> None:
        """Index a vehicle that became available, then give it the head of the queue."""
        kind = VehicleKind(vehicle["kind"])
        if vehicle["lon"] is None:
            return
        # Index first, drain second: an intake committing meanwhile either sees the vehicle
        # in the index or is seen by the drain (see the module docstring of dispatch.db.fleet).
        await self.rt.index.mark_available(vehicle_id=vehicle["id"], kind=kind,
                                        lon=vehicle["lon"], lat=vehicle["lat"])
        await self._drain_queue(vehicle["id"], now, lent)

    async def _drain_queue(
        self, vehicle_id: str, now: datetime, lent: asyncpg.Connection | None = None
    ) -> None:
        """Assign a freed vehicle to the most urgent, then oldest, queued call it can serve.

        Only the chosen call is locked, with SKIP LOCKED: a call another instance is
        assigning at this moment is passed over for the next, never waited on or given up
        at (two vehicles freed at once on two instances take two calls)."""
        drainer = _DRAINER
        claimed_call: UUID | None = None
        taken: VehicleKind | None = None  # another claim took the vehicle meanwhile
        try:
            async with lent_or_pooled(self.rt.pool, lent) as conn, conn.transaction():
                vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
                if vehicle is None:
                    return
                if vehicle["status"] != VehicleStatus.AVAILABLE.value:
                    # Our caller indexed it as free; another instance's claim took it and
                    # may have unindexed it before that: undo our entry.
                    await self.rt.index.mark_unavailable(vehicle_id=vehicle_id,
                                                      kind=VehicleKind(vehicle["kind"]))
                    return
                queued = await fleet_db.queued_calls_for_kind(
                    conn=conn, kind=vehicle["kind"], limit=_DRAIN_LOOKAHEAD,
                    booked_before=now + timedelta(seconds=self.rt.settings.booking_lead_s))
                reserve_check: dict[str, int] | None = None
                places = await self.rt.places.get()
                for head in queued:
                    eta, dist = self._eta_to(vehicle, head, places, now)
                    if dist > self.rt.settings.search_max_m:
                        continue
                    if head["acuity"] in RESERVE_LEVELS and vehicle["kind"] != VehicleKind.NET:
                        if reserve_check is None:
                            reserve_check = await fleet_db.available_by_district(conn=conn)
                        if not keep_reserve(
                            [Ranked(vehicle_id, VehicleKind(vehicle["kind"]), dist, eta, (),
                                    False)],
                            acuity=head["acuity"],
                            district_of={vehicle_id: vehicle["station_district_id"]},
                            available_by_district=reserve_check,
                        ):
                            continue  # the district's last unit: kept for the critical
                    call = await fleet_db.lock_queued_call(conn=conn, call_id=head["id"])
                    if call is None:
                        continue  # being assigned elsewhere, or no longer queued
                    # Wait for the vehicle (never skip it): a report about it in flight
                    # holds its row for a moment, and skipping would leave it idle.
                    held = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id,
                                                      for_update=True)
                    if held is None or held["status"] != VehicleStatus.AVAILABLE.value:
                        taken = VehicleKind(vehicle["kind"])
                        break
                    got = await self._claim_first(
                        conn, call, [(vehicle_id, eta, dist, ("first suitable vehicle to clear",))],
                        principal=drainer, now=now, expect=[CallStatus.QUEUED.value])
                    if got is not None:
                        claimed_call = call["id"]
                    break  # claimed, or the vehicle was taken meanwhile
        except asyncpg.UniqueViolationError as exc:
            _raise_unless_double_assignment(exc)
            log.error("queue drain for %s refused by the one-live-assignment index", vehicle_id)
            return
        if taken is not None:
            await self.rt.index.mark_unavailable(vehicle_id=vehicle_id, kind=taken)
        if claimed_call is not None:
            await self._after_claim(claimed_call, vehicle_id, now, lent)

    async def sweep_queue(self, *, now: datetime, limit: int = 50) -> int:
        """Assign queued calls that a suitable available vehicle could take now.

        The safety net behind the drain: a vehicle freed while its drain lost a race, or
        calls taken while Redis was down (the index rebuilt since). Returns how many calls
        were assigned. Quiet: a call still without a vehicle gets no timeline event."""
        if not self.rt.settings.auto_assign:
            return 0
        sweeper = Principal(subject="queue-sweep", role=Role.DISPATCHER)
        assigned = 0
        # One instance at a time (the claims would be safe anyway; the work would not).
        async with self.rt.pool.acquire() as conn:
            if not await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                    _SWEEP_LOCK_CLASS):
                return 0
            try:
                ids = await fleet_db.queued_call_ids(
                    conn=conn, limit=limit,
                    booked_before=now + timedelta(seconds=self.rt.settings.booking_lead_s))
                for call_id in ids:
                    if await self._assign_or_recommend(call_id, principal=sweeper, now=now,
                                                       quiet=True):
                        assigned += 1
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
                                   _SWEEP_LOCK_CLASS)
        return assigned

    def _uncertain_eta(
        self, call: Mapping[str, Any], places: Places, now: datetime
    ) -> UncertainEta:
        """The ETA model to anywhere in the call's confidence circle (area type per point)."""
        areas: dict[tuple[float, float], str] = {}

        def trip_s(from_lon: float, from_lat: float, to_lon: float, to_lat: float) -> float:
            area = areas.get((to_lon, to_lat))
            if area is None:
                area = areas[(to_lon, to_lat)] = places.area_type_at(to_lon, to_lat)
            return self.rt.eta.model.eta_s(from_lon=from_lon, from_lat=from_lat, to_lon=to_lon,
                                        to_lat=to_lat, area_type=area, at=now)

        return UncertainEta(call["lon"], call["lat"], call["radius_m"] or 0.0, trip_s)

    def _eta_to(
        self, vehicle: asyncpg.Record, call: Mapping[str, Any], places: Places, now: datetime
    ) -> tuple[float, float]:
        if vehicle["lon"] is None or call["lon"] is None:
            return float("inf"), float("inf")
        area = places.area_type_at(call["lon"], call["lat"])
        dist = haversine_m(vehicle["lon"], vehicle["lat"], call["lon"], call["lat"])
        eta = self.rt.eta.model.eta_s(from_lon=vehicle["lon"], from_lat=vehicle["lat"],
                                   to_lon=call["lon"], to_lat=call["lat"], area_type=area, at=now)
        return eta, dist

    async def _store_location(
        self, conn: asyncpg.Connection, call_id: UUID, location: FusedLocation, places: Places
    ) -> None:
        await call_db.set_location(
            conn=conn, call_id=call_id, lon=location.lon, lat=location.lat,
            radius_m=location.radius_m, location=location.to_dict(),
            district_id=places.district_id_at(location.lon, location.lat))

    async def _choose_destination(
        self,
        conn: asyncpg.Connection,
        call_id: UUID,
        result: TriageResult,
        location: FusedLocation,
        places: Places,
        now: datetime,
        *,
        findings: Findings | None = None,
        previous: str | None = None,
    ) -> None:
        """Pick the receiving centre for a specialist pathway and record why."""
        if result.pathway is None or not places.hospitals:
            return
        area = places.area_type_at(location.lon, location.lat)
        options = [
            option_of(h, eta_s=self.rt.eta.model.eta_s(
                from_lon=location.lon, from_lat=location.lat, to_lon=h.lon, to_lat=h.lat,
                area_type=area, at=now))
            for h in places.hospitals.values()
        ]
        choice = choose_destination(result, options, findings=findings, now=now)
        if choice.hospital_id == previous:
            # The centre stands; a change of what the patient needs, or of why, is still
            # the record's (a STEMI's first-contact-to-device check, trauma_1 after trauma_2).
            decided = await last_destination_decision(conn=conn, call_id=call_id)
            now_decided = choice.to_dict()
            if decided is None or any(decided.get(k) != now_decided[k]
                                      for k in ("needs", "reasons", "warnings")):
                await append_events(conn=conn, events=[NewEvent(
                    EventKind.DESTINATION_REVIEWED, now, call_id, data=now_decided)])
            return
        if previous is not None and await chosen_by_person(conn=conn, call_id=call_id):
            # A dispatcher's or crew's choice stands; the console hears the suggestion.
            await suggest_destination(conn=conn, call_id=call_id, current=previous,
                                      choice=choice)
            return
        await call_db.set_destination(conn=conn, call_id=call_id, hospital_id=choice.hospital_id)
        await append_events(conn=conn, events=[NewEvent(
            EventKind.DESTINATION_CHOSEN, now, call_id,
            data={**choice.to_dict(), "previous": previous})])
        # Same transaction: the old centre loses sight, the new one is alerted; the
        # messages leave through the handover outbox once this commits.
        await destination_changed(conn=conn, call_id=call_id, previous=previous,
                                  hospital_id=choice.hospital_id, now=now)

    async def _require_crew_on_call(
        self, conn: asyncpg.Connection, principal: Principal, call_id: UUID
    ) -> None:
        live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
        if principal.vehicle_id not in {a["vehicle_id"] for a in live}:
            raise Forbidden("this crew is not assigned to the call")

    async def _publish_to_crews(self, call_id: UUID, payload: dict[str, Any]) -> None:
        async with self.rt.pool.acquire() as conn:
            live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
        await self._fanout([(f"vehicle:{a['vehicle_id']}", payload) for a in live])

    async def _fanout(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish facts already committed. A Redis failure is logged and never fails or
        undoes the request: clients catch up from PostgreSQL (snapshots on reconnect)."""
        try:
            await self.rt.bus.publish_many(items)
        except (RedisError, OSError, TimeoutError):
            log.exception("fan-out of %d event(s) to Redis failed", len(items))

    async def _fanout_one(self, topic: str, payload: dict[str, Any]) -> None:
        await self._fanout([(topic, payload)])


def _out_of_area_event(call_id: UUID, location: FusedLocation, now: datetime) -> NewEvent:
    return NewEvent(EventKind.OUT_OF_AREA, now, call_id,
                    data={"lon": location.lon, "lat": location.lat,
                          "radius_m": location.radius_m, "reason": OUT_OF_AREA_REASON})


def _out_of_area_alert(call_id: UUID, location: FusedLocation) -> dict[str, Any]:
    """The console alert: no vehicle of this centre may be near, the call may need a
    transfer to the local 120 centre, and it must not wait silently in the queue."""
    return {"kind": "out_of_area", "call_id": str(call_id), "lon": location.lon,
            "lat": location.lat, "reason": OUT_OF_AREA_REASON}


async def _audit_list(conn: asyncpg.Connection, principal: Principal,
                      rows: Sequence[asyncpg.Record], via: str) -> None:
    """One audit row per list read, naming every call it showed (GET /v1/audit?call_id=
    finds it)."""
    await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                action="read_calls",
                detail={"via": via, "count": len(rows), "call_ids": [str(r["id"]) for r in rows]})


def _raise_unless_double_assignment(exc: asyncpg.UniqueViolationError) -> None:
    """A claim refused by the one-live-assignment-per-vehicle index is a lost claim (the
    caller carries on without it); any other unique violation is a real error."""
    if exc.constraint_name != "assignments_one_live_per_vehicle":
        raise exc


def _status_result(vehicle_id: str, status: VehicleStatus, call_id: UUID | None
                   ) -> dict[str, Any]:
    return {"vehicle_id": vehicle_id, "status": status.value, "call_id": text_or_none(call_id)}


def _view(call: asyncpg.Record, *, events: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A call_db.view_row row as the API shows it, with the booked trip's plan if any."""
    view = render_call(call, call["live_assignments"], events, call["queue_position"])
    # location.used and .rejected name these ids
    view["fixes"] = call["fixes"]
    trip = call["trip"]
    if trip is not None and view["booking"] is not None:
        view["booking"]["plan"] = {**trip["plan"], "status": trip["status"]}
    return view
