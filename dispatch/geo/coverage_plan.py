"""Coverage and move-up inputs from the city's values: demand grid, travel, who stands where.

Demand (issue 4 item 7) is the emergency calls of the look-back window counted on the H3
resolution-8 grid plus a flat prior on every cell of every district (additive smoothing, see
`dispatch.geo.coverage.demand_grid`), so a district with no history counts uniformly.

Pure: dispatch.flows.coverage reads the calls and vehicles and calls these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatch.domain import VehicleKind
from dispatch.geo.coverage import Cell, TravelS, cell_centres, cell_districts, demand_grid
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import EtaModel
from dispatch.geo.moveup import AvailableVehicle, Move
from dispatch.geo.moveup import Station as MoveStation
from dispatch.geo.places import Places

# A vehicle within this distance of a station is taken to be posted there (GPS error plus a
# station forecourt); farther away it is somewhere else and belongs to its home station.
AT_STATION_M = 300.0
OUTSIDE = "outside"  # district label for a point outside every district

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
