"""Districts, stations and hospitals as values: where a point falls, what a centre offers.

Pure: dispatch.places reads them from PostgreSQL and keeps them fresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dispatch.geo.districts import DistrictIndex


@dataclass(frozen=True, slots=True)
class Hospital:
    id: str
    name: str
    district_id: str | None
    lon: float
    lat: float
    capabilities: frozenset[str]
    trauma_level: int | None
    diversion: frozenset[str]
    # Reported capacity (migration 0019; dispatch.handover.capacity)
    unavailable: frozenset[str] = frozenset()
    ed_beds_available: int | None = None
    ed_at_capacity: bool = False


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    name: str
    district_id: str | None
    lon: float
    lat: float


@dataclass(frozen=True)
class Places:
    districts: DistrictIndex
    stations: dict[str, Station] = field(default_factory=dict)
    hospitals: dict[str, Hospital] = field(default_factory=dict)

    def area_type_at(self, lon: float, lat: float) -> str:
        """Urban, suburban or rural at a point; outside every district counts as rural."""
        district = self.districts.locate(lon=lon, lat=lat)
        return district.area_type if district else "rural"

    def area_types_at(self, points: Sequence[tuple[float, float]]) -> list[str]:
        """`area_type_at` for each (lon, lat)."""
        return [d.area_type if d else "rural" for d in self.districts.locate_many(points)]

    def district_id_at(self, lon: float, lat: float) -> str | None:
        district = self.districts.locate(lon=lon, lat=lat)
        return district.id if district else None
