"""The queue: a freed vehicle takes the head of it; a periodic sweep is the safety net."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import crew_status as crew_status_db
from dispatch.db import fleet as fleet_db
from dispatch.db.crew_status import QueueLook
from dispatch.db.pool import lent_or_pooled
from dispatch.domain import CallStatus, Role, VehicleKind, VehicleStatus
from dispatch.flows.candidates import eta_to
from dispatch.flows.claim import (
    after_claim,
    assign_or_recommend,
    claim_first,
    raise_unless_double_assignment,
)
from dispatch.flows.fanout import fanout
from dispatch.geo.policy import RESERVE_LEVELS, keep_reserve
from dispatch.geo.ranking import Ranked
from dispatch.realtime.outbox import Outgoing
from dispatch.runtime import Runtime

log = logging.getLogger(__name__)

# How many queued calls a clearing vehicle looks at before giving up on distance.
DRAIN_LOOKAHEAD = 25
# who assigns a freed vehicle the head of the queue
DRAINER = Principal(subject="queue", role=Role.DISPATCHER)
FIRST_TO_CLEAR = ("first suitable vehicle to clear",)
# pg_advisory_lock class of the queue sweep (the object is the schema's hash)
SWEEP_LOCK_CLASS = 7_120_002


@dataclass(frozen=True, slots=True)
class Drained:
    """What a drain in the clearing's own transaction did: the call it gave the vehicle
    (None: none), and the queued calls it looked at and found the vehicle unfit for."""

    claimed: UUID | None
    unfit: tuple[UUID, ...]


async def vehicle_freed(
    *, rt: Runtime, vehicle: Mapping[str, Any], now: datetime,
    lent: asyncpg.Connection | None = None, drained: Drained | None = None,
    news: Outgoing | None = None,
) -> None:
    """Index a vehicle that became available, then give it the head of the queue.

    `drained`: the transaction that freed it drained the queue already (drain_within)
    and gave it nothing; only a call that drain did not rule out is worth another (one
    queued since its look, or one another transaction held at that moment).
    `news`: the request's committed events, published with the index's write at once."""
    kind = VehicleKind(vehicle["kind"])
    if vehicle["lon"] is None:
        await fanout(rt=rt, items=news or [])
        return
    # Index first, drain second: an intake committing meanwhile either sees the vehicle
    # in the index or is seen by the drain (see the module docstring of dispatch.db.fleet).
    await fanout(rt=rt, items=news or [], index=[rt.index.addition(
        vehicle_id=vehicle["id"], kind=kind, lon=vehicle["lon"], lat=vehicle["lat"])])
    if drained is not None:
        async with lent_or_pooled(rt.pool, lent) as conn:
            left = await fleet_db.queued_calls_for_kind(
                conn=conn, kind=kind.value, limit=1, booked_before=booked_before(rt, now),
                passed=drained.unfit)
        if not left:
            return
    await drain_queue(rt=rt, vehicle_id=vehicle["id"], now=now, lent=lent)


def booked_before(rt: Runtime, now: datetime) -> datetime:
    """Bookings opening before this are taken from the queue."""
    return now + timedelta(seconds=rt.settings.bookings.booking_lead_s)


def queue_look(rt: Runtime, kind: str, now: datetime) -> QueueLook:
    """The head of the queue a drain looks at for a freed vehicle of `kind`."""
    return QueueLook(kind=kind, limit=DRAIN_LOOKAHEAD, booked_before=booked_before(rt, now))


async def drain_within(
    *, rt: Runtime, conn: asyncpg.Connection, vehicle: Mapping[str, Any],
    queued: Sequence[Mapping[str, Any]], now: datetime,
) -> Drained:
    """Give a vehicle just freed in the caller's transaction (its row locked, the call
    it cleared too) the first queued call it can serve, in that transaction.

    `queued`: the head of the queue (queue_look), read in the transaction. A call is
    locked with SKIP LOCKED, so the transaction never waits on one while it holds the
    vehicle (the lock order is call, then vehicle): a call held elsewhere is passed over.
    Each call tried costs one statement: its lock and the claim together
    (dispatch.db.crew_status.claim_queued, as claim_first writes a claim).
    """
    unfit: list[UUID] = []
    async for call_id, eta, dist in _servable(rt=rt, conn=conn, vehicle=vehicle, now=now,
                                              heads=queued, unfit=unfit):
        reasons = list(FIRST_TO_CLEAR)
        claim = crew_status_db.QueuedClaim(
            call_id=call_id, eta_s=eta, distance_m=dist,
            reason={"reasons": reasons, "note": ""},
            data={"station_id": vehicle["station_id"],
                  "district_id": vehicle["station_district_id"], "eta_s": eta,
                  "distance_m": dist, "reasons": reasons, "by": DRAINER.subject,
                  # where the vehicle was when ordered: ETA calibration's trip start
                  "from_lon": vehicle["lon"], "from_lat": vehicle["lat"]},
            detail={"eta_s": eta, "reasons": reasons, "note": ""})
        if await crew_status_db.claim_queued(
                conn=conn, vehicle_id=vehicle["id"], claim=claim, at=now,
                actor=DRAINER.subject, role=DRAINER.role.value):
            return Drained(claimed=call_id, unfit=tuple(unfit))
    return Drained(claimed=None, unfit=tuple(unfit))


async def _servable(
    *, rt: Runtime, conn: asyncpg.Connection, vehicle: Mapping[str, Any], now: datetime,
    heads: Sequence[Mapping[str, Any]], unfit: list[UUID],
) -> AsyncIterator[tuple[UUID, float, float]]:
    """The calls of `heads` (queue order) the vehicle may serve, with its ETA and
    distance to each, judged one at a time as asked for. Calls too far, or that would
    take a district's reserve, go to `unfit`."""
    if not heads:
        return
    settings = rt.settings.dispatch
    reserve_check: dict[str, int] | None = None
    places = await rt.places.get()
    kind = VehicleKind(vehicle["kind"])
    for head in heads:
        call_id = UUID(str(head["id"]))
        eta, dist = eta_to(rt=rt, vehicle=vehicle, call=head, places=places, now=now)
        if dist > settings.search_max_m:
            unfit.append(call_id)
            continue
        if head["acuity"] in RESERVE_LEVELS and kind != VehicleKind.NET:
            if reserve_check is None:
                reserve_check = await fleet_db.available_by_district(conn=conn)
            if not keep_reserve(
                [Ranked(vehicle["id"], kind, dist, eta, (), False)],
                acuity=head["acuity"],
                district_of={vehicle["id"]: vehicle["station_district_id"]},
                available_by_district=reserve_check,
            ):
                unfit.append(call_id)
                continue  # the district's last unit: kept for the critical
        yield call_id, eta, dist


async def _lock_first_servable(
    *, rt: Runtime, conn: asyncpg.Connection, vehicle: Mapping[str, Any], now: datetime,
    heads: Sequence[Mapping[str, Any]], unfit: list[UUID],
) -> tuple[asyncpg.Record, float, float] | None:
    """Lock the first of `heads` (queue order) the vehicle may serve (_servable); with
    its ETA and distance."""
    async for call_id, eta, dist in _servable(rt=rt, conn=conn, vehicle=vehicle, now=now,
                                              heads=heads, unfit=unfit):
        call = await fleet_db.lock_queued_call(conn=conn, call_id=call_id)
        if call is not None:
            return call, eta, dist
        # being assigned elsewhere, or no longer queued
    return None


async def drain_queue(
    *, rt: Runtime, vehicle_id: str, now: datetime, lent: asyncpg.Connection | None = None
) -> None:
    """Assign a freed vehicle to the most urgent, then oldest, queued call it can serve.

    Only the chosen call is locked, with SKIP LOCKED: a call another instance is
    assigning at this moment is passed over for the next, never waited on or given up
    at (two vehicles freed at once on two instances take two calls)."""
    claimed_call: UUID | None = None
    taken: VehicleKind | None = None  # another claim took the vehicle meanwhile
    try:
        async with lent_or_pooled(rt.pool, lent) as conn, conn.transaction():
            vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
            if vehicle is None:
                return
            if vehicle["status"] != VehicleStatus.AVAILABLE.value:
                # Our caller indexed it as free; another instance's claim took it and
                # may have unindexed it before that: undo our entry.
                await rt.index.mark_unavailable(vehicle_id=vehicle_id,
                                                kind=VehicleKind(vehicle["kind"]))
                return
            queued = await fleet_db.queued_calls_for_kind(
                conn=conn, kind=vehicle["kind"], limit=DRAIN_LOOKAHEAD,
                booked_before=booked_before(rt, now))
            head = await _lock_first_servable(rt=rt, conn=conn, vehicle=vehicle, now=now,
                                              heads=queued, unfit=[])
            if head is not None:
                call, eta, dist = head
                # Wait for the vehicle (never skip it): a report about it in flight
                # holds its row for a moment, and skipping would leave it idle.
                held = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id,
                                                  for_update=True)
                if held is None or held["status"] != VehicleStatus.AVAILABLE.value:
                    taken = VehicleKind(vehicle["kind"])
                else:
                    got = await claim_first(
                        conn=conn, call=call, options=[(vehicle_id, eta, dist, FIRST_TO_CLEAR)],
                        principal=DRAINER, now=now, expect=[CallStatus.QUEUED.value])
                    if got is not None:
                        claimed_call = call["id"]
    except asyncpg.UniqueViolationError as exc:
        raise_unless_double_assignment(exc)
        log.error("queue drain for %s refused by the one-live-assignment index", vehicle_id)
        return
    if taken is not None:
        await rt.index.mark_unavailable(vehicle_id=vehicle_id, kind=taken)
    if claimed_call is not None:
        await after_claim(rt=rt, call_id=claimed_call, vehicle_id=vehicle_id, now=now,
                          lent=lent)


async def sweep_queue(*, rt: Runtime, now: datetime, limit: int = 50) -> int:
    """Assign queued calls that a suitable available vehicle could take now.

    The safety net behind the drain: a vehicle freed while its drain lost a race, or
    calls taken while Redis was down (the index rebuilt since). Returns how many calls
    were assigned. Quiet: a call still without a vehicle gets no timeline event."""
    if not rt.settings.dispatch.auto_assign:
        return 0
    sweeper = Principal(subject="queue-sweep", role=Role.DISPATCHER)
    assigned = 0
    # One instance at a time (the claims would be safe anyway; the work would not).
    async with rt.pool.acquire() as conn:
        if not await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                SWEEP_LOCK_CLASS):
            return 0
        try:
            ids = await fleet_db.queued_call_ids(
                conn=conn, limit=limit,
                booked_before=booked_before(rt, now))
            for call_id in ids:
                if await assign_or_recommend(rt=rt, call_id=call_id, principal=sweeper,
                                             now=now, quiet=True):
                    assigned += 1
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
                               SWEEP_LOCK_CLASS)
    return assigned
