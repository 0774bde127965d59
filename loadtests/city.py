"""The city as the service describes it (districts, stations, hospitals, fleet), and where
callers are.

Pure: built from the JSON of the public reference endpoints; the random source is passed in.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

# Resident population by district (Nanjing Seventh National Population Census bulletin, 2021,
# rounded to thousands). Calls are drawn in proportion to it; districts not listed here (a
# city other than the demo) are weighted by area.
NANJING_POPULATION: dict[str, int] = {
    "156320102": 538_000,    # Xuanwu
    "156320104": 741_000,    # Qinhuai
    "156320105": 534_000,    # Jianye
    "156320106": 940_000,    # Gulou
    "156320111": 1_172_000,  # Pukou
    "156320113": 988_000,    # Qixia
    "156320114": 609_000,    # Yuhuatai
    "156320115": 1_926_000,  # Jiangning
    "156320116": 947_000,    # Luhe
    "156320117": 491_000,    # Lishui
    "156320118": 430_000,    # Gaochun
}


@dataclass(frozen=True)
class District:
    id: str
    name: str
    area_type: str
    geometry: BaseGeometry
    prepared: PreparedGeometry
    weight: float


@dataclass(frozen=True, slots=True)
class Place:
    """A station or hospital."""

    id: str
    lon: float
    lat: float
    district_id: str | None


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: str
    kind: str
    station_id: str | None
    lon: float
    lat: float


@dataclass(frozen=True)
class City:
    districts: tuple[District, ...]
    stations: Mapping[str, Place]
    hospitals: Mapping[str, Place]
    vehicles: Mapping[str, Vehicle]

    def district(self, district_id: str | None) -> District | None:
        """A district by id."""
        return next((d for d in self.districts if d.id == district_id), None)

    def district_at(self, lon: float, lat: float) -> District | None:
        """The district containing a point."""
        p = Point(lon, lat)
        return next((d for d in self.districts if d.prepared.contains(p)), None)

    def draw_location(self, rng: random.Random) -> tuple[District, float, float]:
        """A caller's true WGS-84 position: a district by weight, a point inside it."""
        district = rng.choices(self.districts, weights=[d.weight for d in self.districts])[0]
        lon, lat = point_in(district, rng)
        return district, lon, lat


def point_in(district: District, rng: random.Random, *, tries: int = 10_000) -> tuple[float, float]:
    """A uniform point inside a district's polygon, by rejection from its bounding box."""
    min_x, min_y, max_x, max_y = district.geometry.bounds
    for _ in range(tries):
        lon, lat = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
        if district.prepared.contains(Point(lon, lat)):
            return lon, lat
    rep = district.geometry.representative_point()
    return rep.x, rep.y


def build_city(
    *,
    districts: Mapping[str, Any],
    stations: Sequence[Mapping[str, Any]],
    hospitals: Sequence[Mapping[str, Any]],
    vehicles: Sequence[Mapping[str, Any]],
    population: Mapping[str, int] = NANJING_POPULATION,
) -> City:
    """A City from /v1/districts (FeatureCollection), /v1/stations, /hospitals, /vehicles."""
    ds = []
    for f in districts["features"]:
        props = f["properties"]
        geom = shape(f["geometry"])
        weight = float(population.get(props["id"], 0)) or geom.area * 1e9
        ds.append(District(id=props["id"], name=props.get("name", props["id"]),
                           area_type=props.get("area_type", "urban"), geometry=geom,
                           prepared=prep(geom), weight=weight))
    if not ds:
        raise ValueError("the service has no districts: load reference data first")
    return City(
        districts=tuple(sorted(ds, key=lambda d: d.id)),
        stations={s["id"]: Place(s["id"], s["lon"], s["lat"], s.get("district_id"))
                  for s in stations},
        hospitals={h["id"]: Place(h["id"], h["lon"], h["lat"], h.get("district_id"))
                   for h in hospitals},
        vehicles={v["id"]: Vehicle(v["id"], v["kind"], v.get("station_id"), v["lon"], v["lat"])
                  for v in vehicles if v.get("lon") is not None},
    )
