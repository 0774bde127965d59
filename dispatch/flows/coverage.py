"""Coverage and move-up for the live service: read PostgreSQL, call the pure core, answer.

The demand grid (dispatch.geo.coverage_plan) changes slowly, so each instance keeps it in
a `DemandCache` for `coverage_demand_ttl_s` and rebuilds it when the reference data
(districts) change; it is rebuildable from PostgreSQL at any time. Coverage itself is
recomputed per request from the available emergency vehicles in PostgreSQL (the record,
not the Redis mirror) with the ETA model in force.

The CPU-bound pure functions run in a worker thread so a big city does not stall the event
loop for other requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from dispatch.auth import Principal
from dispatch.db.events import NewEvent, append_events, audit
from dispatch.domain import EMERGENCY_KINDS, EventKind, Role, VehicleKind, VehicleStatus
from dispatch.errors import Conflict, NotFound
from dispatch.flows.fanout import fanout
from dispatch.geo.coverage import CoverageResult, coverage
from dispatch.geo.coverage_plan import (
    DemandGrid,
    Fleetpoint,
    MovePlan,
    build_demand,
    move_inputs,
    posted_at,
    travel_function,
)
from dispatch.geo.distance import haversine_m
from dispatch.geo.moveup import Move, recommend_moves
from dispatch.geo.places import Places
from dispatch.runtime import Runtime

_PAST_CALLS_SQL = """
SELECT lon, lat FROM calls
 WHERE received_at >= $1 AND transport_class = 'emergency'
   AND lon IS NOT NULL AND lat IS NOT NULL
"""

_AVAILABLE_SQL = """
SELECT v.id, v.kind, v.lon, v.lat, v.station_id
  FROM vehicles v
 WHERE v.status = 'available' AND v.kind = ANY($1::text[])
   AND v.lon IS NOT NULL AND v.lat IS NOT NULL
 ORDER BY v.id
"""


class DemandCache:
    """This instance's demand grid: rebuilt when older than the TTL or the districts changed."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        # (places object it was built for, monotonic time built, grid)
        self._cached: tuple[Places, float, DemandGrid] | None = None

    async def get(self, *, rt: Runtime, now: datetime) -> tuple[Places, DemandGrid]:
        """The places and the demand grid built for them."""
        settings = rt.settings.coverage
        places = await rt.places.get()
        async with self._lock:  # one rebuild at a time; waiters then take the fresh grid
            cached = self._cached
            if (cached is not None and cached[0] is places
                    and time.monotonic() - cached[1] < settings.coverage_demand_ttl_s):
                return places, cached[2]
            since = now - timedelta(days=settings.coverage_lookback_days)
            async with rt.pool.acquire() as conn:
                rows = await conn.fetch(_PAST_CALLS_SQL, since)
            calls = [(r["lon"], r["lat"]) for r in rows]
            grid = await asyncio.to_thread(build_demand, places=places, past_calls=calls,
                                           since=since,
                                           prior_weight=settings.coverage_prior_weight)
            self._cached = (places, time.monotonic(), grid)
            return places, grid


async def available(*, rt: Runtime) -> list[Fleetpoint]:
    """Available emergency vehicles with a position, from PostgreSQL."""
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(_AVAILABLE_SQL, sorted(k.value for k in EMERGENCY_KINDS))
    return [Fleetpoint(r["id"], VehicleKind(r["kind"]), r["lon"], r["lat"], r["station_id"])
            for r in rows]


async def figures(
    *, rt: Runtime, demand: DemandCache, targets_s: Sequence[float], now: datetime
) -> tuple[DemandGrid, Places, int, list[CoverageResult]]:
    """Coverage now for each target: the grid, places, vehicle count and results."""
    places, grid = await demand.get(rt=rt, now=now)
    vehicles = await available(rt=rt)
    points = [(v.lon, v.lat) for v in vehicles]
    model = rt.eta.model
    travel = travel_function(model=model, now=now, grid=grid, places=places)
    vmax = model.max_crow_speed_mps()

    def compute() -> list[CoverageResult]:
        return [coverage(demand=grid.demand, vehicles=points, target_s=t, travel_s=travel,
                         cell_district=grid.cell_district, max_crow_speed_mps=vmax)
                for t in targets_s]

    return grid, places, len(vehicles), await asyncio.to_thread(compute)


async def moves(
    *, rt: Runtime, demand: DemandCache, target_s: float, now: datetime
) -> MovePlan:
    """Moves that restore the most coverage within `target_s`, safety rule applied."""
    places, grid = await demand.get(rt=rt, now=now)
    vehicles, stations = move_inputs(vehicles=await available(rt=rt), places=places)
    model = rt.eta.model
    travel = travel_function(model=model, now=now, grid=grid, places=places)
    vmax = model.max_crow_speed_mps()
    threshold = rt.settings.coverage.moveup_district_threshold

    def compute() -> tuple[float, list[Move]]:
        now_cov = coverage(demand=grid.demand, vehicles=[(v.lon, v.lat) for v in vehicles],
                           target_s=target_s, travel_s=travel, max_crow_speed_mps=vmax)
        found = recommend_moves(
            vehicles=vehicles, stations=stations, demand=grid.demand, target_s=target_s,
            travel_s=travel, cell_district=grid.cell_district,
            default_threshold=threshold, max_crow_speed_mps=vmax)
        return now_cov.share, found

    share, found = await asyncio.to_thread(compute)
    return MovePlan(target_s=target_s, coverage_share=share, vehicles=len(vehicles),
                    stations=len(stations), moves=tuple(found))


async def accept_move(
    *, rt: Runtime, vehicle_id: str, to_station_id: str, principal: Principal, now: datetime,
) -> dict[str, Any]:
    """Post the vehicle at the station and record the move as a timeline event; the
    vehicle stays available. Its station_id (where it is posted: the district it
    covers, the station its next dispatch counts for) becomes the new station; its
    home station does not change."""
    principal.require(Role.DISPATCHER)
    places = await rt.places.get()
    station = places.stations.get(to_station_id)
    if station is None:
        raise NotFound(f"station {to_station_id} does not exist", field="to_station_id")
    async with rt.pool.acquire() as conn, conn.transaction():
        # Row lock: a claim racing this accept either sees the event or is seen by it.
        vehicle = await conn.fetchrow(
            """SELECT id, kind, status, station_id, home_station_id, lon, lat FROM vehicles
                WHERE id = $1 FOR UPDATE""", vehicle_id)
        if vehicle is None:
            raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
        if VehicleKind(vehicle["kind"]) not in EMERGENCY_KINDS:
            raise Conflict("only emergency vehicles move up for coverage", field="vehicle_id")
        if vehicle["status"] != VehicleStatus.AVAILABLE.value:
            raise Conflict(f"vehicle is {vehicle['status']}; only an available vehicle "
                           "moves up", field="vehicle_id")
        from_station: str | None = vehicle["station_id"]
        distance_m: float | None = None  # no position: home station, distance unknown
        if vehicle["lon"] is not None:
            from_station = posted_at(vehicle=Fleetpoint(
                vehicle_id, VehicleKind(vehicle["kind"]), vehicle["lon"], vehicle["lat"],
                vehicle["station_id"]), places=places)
            distance_m = round(
                haversine_m(vehicle["lon"], vehicle["lat"], station.lon, station.lat), 1)
        data = {"from_station_id": from_station, "to_station_id": station.id,
                "to_lon": station.lon, "to_lat": station.lat,
                "distance_m": distance_m,
                "home_station_id": vehicle["home_station_id"],
                "by": principal.subject}
        await conn.execute("UPDATE vehicles SET station_id = $2 WHERE id = $1",
                           vehicle_id, station.id)
        [event_id] = await append_events(conn=conn, events=[
            NewEvent(EventKind.MOVE_UP, now, None, vehicle_id, data=data)])
        await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                    action="move_up", vehicle_id=vehicle_id, detail=data)
    payload = {"kind": "move_up", "vehicle_id": vehicle_id, "event_id": event_id,
               "at": now.isoformat(), **data}
    # committed: a Redis failure delays the news in the outbox, never fails the move
    await fanout(rt=rt, items=[(f"vehicle:{vehicle_id}", payload), ("console", payload)])
    return payload
