"""The queue: a freed vehicle takes the head of it; a periodic sweep is the safety net."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import fleet as fleet_db
from dispatch.db.pool import lent_or_pooled
from dispatch.domain import CallStatus, Role, VehicleKind, VehicleStatus
from dispatch.flows.candidates import eta_to
from dispatch.flows.claim import (
    after_claim,
    assign_or_recommend,
    claim_first,
    raise_unless_double_assignment,
)
from dispatch.geo.policy import RESERVE_LEVELS, keep_reserve
from dispatch.geo.ranking import Ranked
from dispatch.runtime import Runtime

log = logging.getLogger(__name__)

# How many queued calls a clearing vehicle looks at before giving up on distance.
DRAIN_LOOKAHEAD = 25
# who assigns a freed vehicle the head of the queue
DRAINER = Principal(subject="queue", role=Role.DISPATCHER)
# pg_advisory_lock class of the queue sweep (the object is the schema's hash)
SWEEP_LOCK_CLASS = 7_120_002


async def vehicle_freed(
    *, rt: Runtime, vehicle: asyncpg.Record, now: datetime,
    lent: asyncpg.Connection | None = None,
) -> None:
    """Index a vehicle that became available, then give it the head of the queue."""
    kind = VehicleKind(vehicle["kind"])
    if vehicle["lon"] is None:
        return
    # Index first, drain second: an intake committing meanwhile either sees the vehicle
    # in the index or is seen by the drain (see the module docstring of dispatch.db.fleet).
    await rt.index.mark_available(vehicle_id=vehicle["id"], kind=kind,
                                  lon=vehicle["lon"], lat=vehicle["lat"])
    await drain_queue(rt=rt, vehicle_id=vehicle["id"], now=now, lent=lent)


async def drain_queue(
    *, rt: Runtime, vehicle_id: str, now: datetime, lent: asyncpg.Connection | None = None
) -> None:
    """Assign a freed vehicle to the most urgent, then oldest, queued call it can serve.

    Only the chosen call is locked, with SKIP LOCKED: a call another instance is
    assigning at this moment is passed over for the next, never waited on or given up
    at (two vehicles freed at once on two instances take two calls)."""
    settings = rt.settings
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
                booked_before=now + timedelta(seconds=settings.booking_lead_s))
            reserve_check: dict[str, int] | None = None
            places = await rt.places.get()
            for head in queued:
                eta, dist = eta_to(rt=rt, vehicle=vehicle, call=head, places=places, now=now)
                if dist > settings.search_max_m:
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
                got = await claim_first(
                    conn=conn, call=call,
                    options=[(vehicle_id, eta, dist, ("first suitable vehicle to clear",))],
                    principal=DRAINER, now=now, expect=[CallStatus.QUEUED.value])
                if got is not None:
                    claimed_call = call["id"]
                break  # claimed, or the vehicle was taken meanwhile
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
    if not rt.settings.auto_assign:
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
                booked_before=now + timedelta(seconds=rt.settings.booking_lead_s))
            for call_id in ids:
                if await assign_or_recommend(rt=rt, call_id=call_id, principal=sweeper,
                                             now=now, quiet=True):
                    assigned += 1
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
                               SWEEP_LOCK_CLASS)
    return assigned
