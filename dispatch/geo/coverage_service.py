"""Coverage and move-up for the live service: read PostgreSQL, call the pure core, answer.

Demand (issue 4 item 7) is the emergency calls of the look-back window counted on the H3
resolution-8 grid plus a flat prior on every cell of every district (additive smoothing, see
`dispatch.geo.coverage.demand_grid`), so a district with no history counts uniformly. It
changes slowly, so it is cached in-process for `ttl_s` and rebuilt when the reference data
(districts) change; each instance keeps its own copy, rebuildable from PostgreSQL at any
time. Coverage itself is recomputed per request from the available emergency vehicles in
PostgreSQL (the record, not the Redis mirror) with the orchestrator's current EtaModel.

The CPU-bound pure functions run in a worker thread so a big city does not stall the event
loop for other requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from dispatch.auth import Principal
from dispatch.db.events import NewEvent, append_events, audit
from dispatch.domain import EMERGENCY_KINDS, EventKind, Role, VehicleKind, VehicleStatus
from dispatch.errors import Conflict, NotFound
from dispatch.geo.coverage import (
    Cell,
    CoverageResult,
    TravelS,
    cell_centres,
    cell_districts,
    coverage,
    demand_grid,
)
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import EtaModel
from dispatch.geo.moveup import AvailableVehicle, Move, recommend_moves
from dispatch.geo.moveup import Station as MoveStation
from dispatch.places import Places, PlacesCache
from dispatch.realtime.outbox import OutboxPublisher

# A vehicle within this distance of a station is taken to be posted there (GPS error plus a
# station forecourt); farther away it is somewhere else and belongs to its home station.
AT_STATION_M = 300.0
OUTSIDE = "outside"  # district label for a point outside every district

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


@dataclass(frozen=True, slots=True)
class DemandGrid:
    """Expected demand per H3 cell, each cell's district and area type, and its basis."""

    demand: Mapping[Cell, float]
    cell_district: Mapping[Cell, str]
    area_at: Mapping[tuple[float, float], str]  # cell centre (lon, lat) -> area type
    past_calls: int
    since: datetime
    prior_weight: float

    def to_dict(self) -> dict[str, Any]:
        """What the demand was built from."""
        return {"cells": len(self.demand), "past_calls": self.past_calls, "since": self.since,
                "prior_weight": self.prior_weight}


def build_demand(
    *, places: Places, past_calls: Sequence[tuple[float, float]], since: datetime,
    prior_weight: float,
) -> DemandGrid:
    """Demand grid, cell districts and cell area types for a city (pure)."""
    polygons = [(d.id, d.geometry) for d in places.districts.districts]
    demand = demand_grid(past_calls=past_calls, districts=polygons, prior_weight=prior_weight)
    cell_district = cell_districts(districts=polygons)
    area_of = {d.id: d.area_type for d in places.districts.districts}
    cells = sorted(demand)
    lons, lats = cell_centres(cells)
    area_at: dict[tuple[float, float], str] = {}
    for cell, lon, lat in zip(cells, lons.tolist(), lats.tolist(), strict=True):
        district = cell_district.get(cell)
        area_at[(lon, lat)] = (area_of[district] if district is not None
                               else places.area_type_at(lon, lat))
    return DemandGrid(demand=demand, cell_district=cell_district, area_at=area_at,
                      past_calls=len(past_calls), since=since, prior_weight=prior_weight)


def travel_function(*, model: EtaModel, now: datetime, grid: DemandGrid, places: Places) -> TravelS:
    """Travel time (s) with the model at `now`, by the area type of the destination."""
    hour = model.local_hour(now)  # once per request, not per pair

    def travel_s(from_lon: float, from_lat: float, to_lon: float, to_lat: float) -> float:
        area = grid.area_at.get((to_lon, to_lat))
        if area is None:  # not a cell centre: a station, in move-up's relocation time
            area = places.area_type_at(to_lon, to_lat)
        return model.travel_s(distance_m=haversine_m(from_lon, from_lat, to_lon, to_lat),
                              area_type=area, hour=hour)

    return travel_s


@dataclass(frozen=True, slots=True)
class Fleetpoint:
    """An available emergency vehicle as coverage sees it."""

    vehicle_id: str
    kind: VehicleKind
    lon: float
    lat: float
    station_id: str | None


def posted_at(*, vehicle: Fleetpoint, places: Places) -> str | None:
    """The station a vehicle stands at (within AT_STATION_M), else its home station."""
    best: tuple[float, str] | None = None
    for s in places.stations.values():
        d = haversine_m(vehicle.lon, vehicle.lat, s.lon, s.lat)
        if d <= AT_STATION_M and (best is None or (d, s.id) < best):
            best = (d, s.id)
    return best[1] if best else vehicle.station_id


def move_inputs(
    *, vehicles: Sequence[Fleetpoint], places: Places
) -> tuple[list[AvailableVehicle], list[MoveStation]]:
    """Vehicles (with the district they serve now: where they stand) and stations for move-up."""
    def district_at(lon: float, lat: float, fallback: str | None) -> str:
        return places.district_id_at(lon, lat) or fallback or OUTSIDE

    stations = [
        MoveStation(s.id, s.lon, s.lat, s.district_id or district_at(s.lon, s.lat, None))
        for s in sorted(places.stations.values(), key=lambda s: s.id)
    ]
    home = {s.id: s.district_id for s in places.stations.values()}
    available = [
        AvailableVehicle(v.vehicle_id, v.lon, v.lat, posted_at(vehicle=v, places=places),
                         district_at(v.lon, v.lat, home.get(v.station_id or "")))
        for v in vehicles
    ]
    return available, stations


@dataclass(frozen=True, slots=True)
class MovePlan:
    """Move-up recommendations and the coverage they start from."""

    target_s: float
    coverage_share: float
    vehicles: int
    stations: int
    moves: tuple[Move, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"target_s": self.target_s, "coverage_share": self.coverage_share,
                "vehicles": self.vehicles, "stations": self.stations,
                "moves": [m.to_dict() for m in self.moves]}


class CoverageService:
    """Coverage figures, move-up recommendations and accepted moves, for one process."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        places: PlacesCache,
        lookback_days: int,
        demand_ttl_s: float,
        prior_weight: float,
        district_threshold: float,
    ) -> None:
        self._pool = pool
        self._places = places
        self._lookback = timedelta(days=lookback_days)
        self._ttl_s = demand_ttl_s
        self._prior_weight = prior_weight
        self._threshold = district_threshold
        self._lock = asyncio.Lock()
        # (places object it was built for, monotonic time built, grid)
        self._cached: tuple[Places, float, DemandGrid] | None = None

    async def demand(self, *, now: datetime) -> tuple[Places, DemandGrid]:
        """The cached demand grid, rebuilt when older than the TTL or the districts changed."""
        places = await self._places.get()
        async with self._lock:  # one rebuild at a time; waiters then take the fresh grid
            cached = self._cached
            if (cached is not None and cached[0] is places
                    and time.monotonic() - cached[1] < self._ttl_s):
                return places, cached[2]
            since = now - self._lookback
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(_PAST_CALLS_SQL, since)
            calls = [(r["lon"], r["lat"]) for r in rows]
            grid = await asyncio.to_thread(build_demand, places=places, past_calls=calls,
                                           since=since, prior_weight=self._prior_weight)
            self._cached = (places, time.monotonic(), grid)
            return places, grid

    async def available(self) -> list[Fleetpoint]:
        """Available emergency vehicles with a position, from PostgreSQL."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_AVAILABLE_SQL, sorted(k.value for k in EMERGENCY_KINDS))
        return [Fleetpoint(r["id"], VehicleKind(r["kind"]), r["lon"], r["lat"], r["station_id"])
                for r in rows]

    async def coverage(
        self, *, targets_s: Sequence[float], model: EtaModel, now: datetime
    ) -> tuple[DemandGrid, Places, int, list[CoverageResult]]:
        """Coverage now for each target: the grid, places, vehicle count and results."""
        places, grid = await self.demand(now=now)
        vehicles = await self.available()
        points = [(v.lon, v.lat) for v in vehicles]
        travel = travel_function(model=model, now=now, grid=grid, places=places)
        vmax = model.max_crow_speed_mps()

        def compute() -> list[CoverageResult]:
            return [coverage(demand=grid.demand, vehicles=points, target_s=t, travel_s=travel,
                             cell_district=grid.cell_district, max_crow_speed_mps=vmax)
                    for t in targets_s]

        return grid, places, len(vehicles), await asyncio.to_thread(compute)

    async def moves(self, *, target_s: float, model: EtaModel, now: datetime) -> MovePlan:
        """Moves that restore the most coverage within `target_s`, safety rule applied."""
        places, grid = await self.demand(now=now)
        available, stations = move_inputs(vehicles=await self.available(), places=places)
        travel = travel_function(model=model, now=now, grid=grid, places=places)
        vmax = model.max_crow_speed_mps()

        def compute() -> tuple[float, list[Move]]:
            now_cov = coverage(demand=grid.demand, vehicles=[(v.lon, v.lat) for v in available],
                               target_s=target_s, travel_s=travel, max_crow_speed_mps=vmax)
            found = recommend_moves(
                vehicles=available, stations=stations, demand=grid.demand, target_s=target_s,
                travel_s=travel, cell_district=grid.cell_district,
                default_threshold=self._threshold, max_crow_speed_mps=vmax)
            return now_cov.share, found

        share, found = await asyncio.to_thread(compute)
        return MovePlan(target_s=target_s, coverage_share=share, vehicles=len(available),
                        stations=len(stations), moves=tuple(found))

    async def accept_move(
        self, *, vehicle_id: str, to_station_id: str, principal: Principal,
        outbox: OutboxPublisher, now: datetime,
    ) -> dict[str, Any]:
        """Post the vehicle at the station and record the move as a timeline event; the
        vehicle stays available. Its station_id (where it is posted: the district it
        covers, the station its next dispatch counts for) becomes the new station; its
        home station does not change."""
        principal.require(Role.DISPATCHER)
        places = await self._places.get()
        station = places.stations.get(to_station_id)
        if station is None:
            raise NotFound(f"station {to_station_id} does not exist", field="to_station_id")
        async with self._pool.acquire() as conn, conn.transaction():
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
        await outbox.publish([(f"vehicle:{vehicle_id}", payload), ("console", payload)])
        return payload
