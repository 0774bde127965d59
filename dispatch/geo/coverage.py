"""What is left uncovered: the share of expected demand an available vehicle reaches in time.

Demand lives on an H3 grid (resolution 8: hexagons of ~0.74 km2, ~530 m edge, fine enough to
tell one neighbourhood from the next and coarse enough for a city of 10^4 cells). A cell is
covered when some vehicle's travel time to the cell centre is within the target, the
location-set covering notion of Toregas et al. 1971 (Oper. Res. 19:1363).

Targets default to 8 and 12 minutes: 8 minutes is the classic urban ALS response standard
(NFPA 1710 allows 480 s travel for ALS; many EMS contracts use 8:59 at the 90th percentile);
12 minutes is a suburban/rural reach consistent with China's 10-20 km countryside service
radius. Both are parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
from shapely.geometry.base import BaseGeometry

from dispatch.errors import GeoError
from dispatch.geo.distance import EARTH_RADIUS_M

Cell = str
LonLatPair = tuple[float, float]
TravelS = Callable[[float, float, float, float], float]  # (from_lon, from_lat, to_lon, to_lat)

DEFAULT_RESOLUTION = 8
DEFAULT_TARGETS_S: tuple[float, ...] = (8 * 60.0, 12 * 60.0)
_CELL_BLOCK = 4096  # rows of the cell x vehicle distance matrix computed at once (memory cap)


def haversine_matrix_m(
    *,
    lon1: npt.NDArray[np.float64],
    lat1: npt.NDArray[np.float64],
    lon2: npt.NDArray[np.float64],
    lat2: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Great-circle distances (m) between every point of set 1 (rows) and set 2 (columns)."""
    p1 = np.radians(lat1)[:, None]
    p2 = np.radians(lat2)[None, :]
    dl = np.radians(lon2)[None, :] - np.radians(lon1)[:, None]
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    result: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return result


def cells_of_polygon(*, polygon: BaseGeometry, resolution: int = DEFAULT_RESOLUTION) -> list[Cell]:
    """H3 cells whose centres lie in a (multi)polygon; a district smaller than a cell gets one."""
    if polygon.is_empty:
        return []
    cells = list(h3.geo_to_cells(polygon, resolution))
    if not cells:
        # A small island or village district: give it the cell of a point inside it, so it
        # is not silently dropped from demand and coverage.
        pt = polygon.representative_point()
        cells = [h3.latlng_to_cell(pt.y, pt.x, resolution)]
    return cells


def cell_districts(
    *, districts: Sequence[tuple[str, BaseGeometry]], resolution: int = DEFAULT_RESOLUTION
) -> dict[Cell, str]:
    """Map each district's cells to the district id (first district wins on a shared cell)."""
    out: dict[Cell, str] = {}
    for district_id, polygon in districts:
        for cell in cells_of_polygon(polygon=polygon, resolution=resolution):
            out.setdefault(cell, district_id)
    return out


def demand_grid(
    *,
    past_calls: Sequence[LonLatPair],
    districts: Sequence[tuple[str, BaseGeometry]],
    resolution: int = DEFAULT_RESOLUTION,
    prior_weight: float,
) -> dict[Cell, float]:
    """Expected demand per cell: past calls counted per cell plus `prior_weight` on every cell.

    The prior is additive smoothing (a Poisson rate with a flat prior): a district with no
    history gets uniform demand, and a quiet cell inside a busy district keeps a little, so a
    remote village with no calls yet still counts toward coverage (the plans ask for full
    coverage of remote areas). Calls outside every district still count in their own cell.
    """
    if prior_weight < 0:
        raise GeoError("prior_weight must be >= 0", field="prior_weight")
    demand: dict[Cell, float] = {}
    if prior_weight > 0:
        for _, polygon in districts:
            for cell in cells_of_polygon(polygon=polygon, resolution=resolution):
                demand[cell] = prior_weight
    for lon, lat in past_calls:
        cell = h3.latlng_to_cell(lat, lon, resolution)
        demand[cell] = demand.get(cell, 0.0) + 1.0
    return demand


@dataclass(frozen=True, slots=True)
class DistrictCoverage:
    """Coverage figures for one district."""

    district_id: str
    demand: float
    covered_demand: float
    share: float


@dataclass(frozen=True, slots=True)
class CoverageResult:
    """Share of demand reachable within `target_s`, and which cells are and are not."""

    target_s: float
    total_demand: float
    covered_demand: float
    share: float
    covered: frozenset[Cell]
    uncovered: frozenset[Cell]
    demand: Mapping[Cell, float]
    cell_district: Mapping[Cell, str]
    by_district: tuple[DistrictCoverage, ...]

    def to_dict(self) -> dict[str, Any]:
        """Figures without the cell lists (those go in `coverage_geojson`)."""
        return {
            "target_s": self.target_s,
            "total_demand": self.total_demand,
            "covered_demand": self.covered_demand,
            "share": self.share,
            "covered_cells": len(self.covered),
            "uncovered_cells": len(self.uncovered),
            "by_district": [
                {
                    "district_id": d.district_id,
                    "demand": d.demand,
                    "covered_demand": d.covered_demand,
                    "share": d.share,
                }
                for d in self.by_district
            ],
        }


def cell_centres(cells: Sequence[Cell]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Longitudes and latitudes of the cells' centres."""
    lat_lng = [h3.cell_to_latlng(c) for c in cells]
    lats = np.fromiter((p[0] for p in lat_lng), dtype=np.float64, count=len(cells))
    lons = np.fromiter((p[1] for p in lat_lng), dtype=np.float64, count=len(cells))
    return lons, lats


def reachable_mask(
    *,
    cells: Sequence[Cell],
    points: Sequence[LonLatPair],
    target_s: float,
    travel_s: TravelS,
    max_crow_speed_mps: float | None = None,
) -> npt.NDArray[np.bool_]:
    """reach[i, j]: point j reaches cell i's centre within target (full matrix, for move-up).

    With `max_crow_speed_mps` (e.g. `EtaModel.max_crow_speed_mps()`), pairs farther apart
    than target x that speed are skipped without calling `travel_s`: they cannot make it.
    """
    reach = np.zeros((len(cells), len(points)), dtype=np.bool_)
    if not cells or not points:
        return reach
    c_lon, c_lat = cell_centres(cells)
    p_lon, p_lat = _lon_lat_arrays(points)
    limit = _crow_limit_m(target_s, max_crow_speed_mps)
    for start, dist in _distance_blocks(c_lon=c_lon, c_lat=c_lat, p_lon=p_lon, p_lat=p_lat):
        rows, cols = np.nonzero(dist <= limit)
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            ci = start + i
            t = travel_s(float(p_lon[j]), float(p_lat[j]), float(c_lon[ci]), float(c_lat[ci]))
            reach[ci, j] = t <= target_s
    return reach


def _lon_lat_arrays(
    points: Sequence[LonLatPair],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Longitudes and latitudes of (lon, lat) pairs as two arrays."""
    lon = np.array([p[0] for p in points], dtype=np.float64)
    lat = np.array([p[1] for p in points], dtype=np.float64)
    return lon, lat


def _distance_blocks(
    *,
    c_lon: npt.NDArray[np.float64],
    c_lat: npt.NDArray[np.float64],
    p_lon: npt.NDArray[np.float64],
    p_lat: npt.NDArray[np.float64],
) -> Iterator[tuple[int, npt.NDArray[np.float64]]]:
    """(first cell row, cells x points distances) for `_CELL_BLOCK` cells at a time."""
    for start in range(0, len(c_lon), _CELL_BLOCK):
        stop = start + _CELL_BLOCK
        yield start, haversine_matrix_m(lon1=c_lon[start:stop], lat1=c_lat[start:stop],
                                        lon2=p_lon, lat2=p_lat)


def _crow_limit_m(target_s: float, max_crow_speed_mps: float | None) -> float:
    """Straight-line distance beyond which nothing can arrive in time (inf without a bound)."""
    if target_s <= 0:
        raise GeoError("target_s must be > 0", field="target_s")
    if max_crow_speed_mps is None:
        return float("inf")
    if max_crow_speed_mps <= 0:
        raise GeoError("max_crow_speed_mps must be > 0", field="max_crow_speed_mps")
    return target_s * max_crow_speed_mps * (1 + 1e-9)  # float slack: never prune a true hit


def covered_cells(
    *,
    cells: Sequence[Cell],
    vehicles: Sequence[LonLatPair],
    target_s: float,
    travel_s: TravelS,
    max_crow_speed_mps: float | None = None,
) -> npt.NDArray[np.bool_]:
    """covered[i]: some vehicle reaches cell i in time (vehicles tried nearest first)."""
    covered = np.zeros(len(cells), dtype=np.bool_)
    if not cells or not vehicles:
        return covered
    c_lon, c_lat = cell_centres(cells)
    v_lon, v_lat = _lon_lat_arrays(vehicles)
    limit = _crow_limit_m(target_s, max_crow_speed_mps)
    for start, dist in _distance_blocks(c_lon=c_lon, c_lat=c_lat, p_lon=v_lon, p_lat=v_lat):
        order = np.argsort(dist, axis=1)
        for i in range(dist.shape[0]):
            ci = start + i
            for j in order[i].tolist():
                if dist[i, j] > limit:
                    break  # sorted: every further vehicle is out of reach too
                t = travel_s(float(v_lon[j]), float(v_lat[j]), float(c_lon[ci]), float(c_lat[ci]))
                if t <= target_s:
                    covered[ci] = True
                    break
    return covered


def summarise(
    *,
    cells: Sequence[Cell],
    covered: npt.NDArray[np.bool_],
    demand: Mapping[Cell, float],
    target_s: float,
    cell_district: Mapping[Cell, str] | None,
) -> CoverageResult:
    """Turn a covered mask into totals, cell sets and per-district figures."""
    weights = np.fromiter((demand[c] for c in cells), dtype=np.float64, count=len(cells))
    total = float(weights.sum())
    got = float(weights[covered].sum())
    per: dict[str, list[float]] = {}
    mapping = cell_district or {}
    for c, w, cov in zip(cells, weights.tolist(), covered.tolist(), strict=True):
        district = mapping.get(c)
        if district is None:
            continue  # outside every district: in the totals, not in a district row
        acc = per.setdefault(district, [0.0, 0.0])
        acc[0] += w
        acc[1] += w if cov else 0.0
    by_district = tuple(
        DistrictCoverage(d, tot, cov, cov / tot if tot > 0 else 1.0)
        for d, (tot, cov) in sorted(per.items())
    )
    return CoverageResult(
        target_s=target_s,
        total_demand=total,
        covered_demand=got,
        share=got / total if total > 0 else 1.0,
        covered=frozenset(c for c, k in zip(cells, covered.tolist(), strict=True) if k),
        uncovered=frozenset(c for c, k in zip(cells, covered.tolist(), strict=True) if not k),
        demand=demand,
        cell_district=mapping,
        by_district=by_district,
    )


def coverage(
    *,
    demand: Mapping[Cell, float],
    vehicles: Sequence[LonLatPair],
    target_s: float,
    travel_s: TravelS,
    cell_district: Mapping[Cell, str] | None = None,
    max_crow_speed_mps: float | None = None,
) -> CoverageResult:
    """Share of demand that an available vehicle reaches within `target_s`, cell by cell."""
    if any(w < 0 for w in demand.values()):
        raise GeoError("demand must be >= 0", field="demand")
    cells = sorted(demand)
    covered = covered_cells(cells=cells, vehicles=vehicles, target_s=target_s, travel_s=travel_s,
                            max_crow_speed_mps=max_crow_speed_mps)
    return summarise(cells=cells, covered=covered, demand=demand, target_s=target_s,
                     cell_district=cell_district)


def coverage_geojson(result: CoverageResult) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the hexagons with their demand and covered flag."""
    features = []
    for cell in sorted(result.demand):
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
        ring.append(ring[0])  # GeoJSON rings are closed
        features.append(
            {
                "type": "Feature",
                "id": cell,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "cell": cell,
                    "demand": result.demand[cell],
                    "covered": cell in result.covered,
                    "district_id": result.cell_district.get(cell),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        # foreign members (RFC 7946 section 6.1): the figures the map legend shows
        "target_s": result.target_s,
        "share": result.share,
    }
