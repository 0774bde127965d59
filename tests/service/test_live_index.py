"""LiveIndex against the real Redis: mark, move (XX), nearest, the widening search, rebuild;
isolated by key prefix."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from dispatch.domain import VehicleKind
from dispatch.geo.distance import haversine_m
from dispatch.geo.ranking import search_radii_m
from dispatch.live_index import LiveIndex
from dispatch.realtime.resp import RespEndpoint
from loadtests.redis_probe import counting_client
from tests.conftest import REDIS_URL

ALS, BLS, NET = VehicleKind.ALS, VehicleKind.BLS, VehicleKind.NET
CENTRE = (118.78, 32.04)


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["redis-py", "lean"])
async def index(redis: aioredis.Redis, request: pytest.FixtureRequest) -> AsyncIterator[LiveIndex]:
    """Searches through redis-py (the demo's in-process Redis) or the lean link (a server)."""
    prefix = f"t_{secrets.token_hex(6)}"
    endpoint = RespEndpoint.from_url(REDIS_URL, timeout_s=5.0) if request.param == "lean" else None
    index = LiveIndex(redis=redis, prefix=prefix, endpoint=endpoint)
    yield index
    await index.close()
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


def east(km: float) -> tuple[float, float]:
    """A point `km` east of CENTRE (1 degree of longitude at 32.04 N is ~94.3 km)."""
    return CENTRE[0] + km / 94.3, CENTRE[1]


async def ids(index: LiveIndex, kind: VehicleKind, radius_m: float = 50_000,
              count: int = 100) -> list[str]:
    return [n.vehicle_id for n in await index.nearest(kind=kind, lon=CENTRE[0], lat=CENTRE[1],
                                                      radius_m=radius_m, count=count)]


async def test_nearest_is_sorted_by_distance_with_positions_and_distances(
    index: LiveIndex,
) -> None:
    for vid, km in [("far", 9.0), ("near", 1.0), ("mid", 4.0)]:
        await index.mark_available(vehicle_id=vid, kind=ALS, lon=east(km)[0], lat=east(km)[1])
    found = await index.nearest(kind=ALS, lon=CENTRE[0], lat=CENTRE[1], radius_m=20_000,
                                count=10)
    assert [n.vehicle_id for n in found] == ["near", "mid", "far"]
    for n in found:
        assert n.kind is ALS
        # Redis stores 52-bit geohashes: positions within ~1 m, distances within ~0.5%
        exact = haversine_m(CENTRE[0], CENTRE[1], n.lon, n.lat)
        assert n.distance_m == pytest.approx(exact, rel=5e-3)
        assert haversine_m(n.lon, n.lat, *east({"near": 1.0, "mid": 4.0, "far": 9.0}[
            n.vehicle_id])) < 1.0


@pytest.mark.parametrize(
    ("radius_m", "count", "expected"),
    [(500, 10, []), (2_000, 10, ["near"]), (5_000, 10, ["near", "mid"]),
     (20_000, 2, ["near", "mid"]), (20_000, 1, ["near"])],
)
async def test_radius_and_count_limit_the_answer(
    index: LiveIndex, radius_m: float, count: int, expected: list[str]
) -> None:
    for vid, km in [("far", 9.0), ("near", 1.0), ("mid", 4.0)]:
        await index.mark_available(vehicle_id=vid, kind=ALS, lon=east(km)[0], lat=east(km)[1])
    assert await ids(index, ALS, radius_m, count) == expected


async def test_kinds_are_separate_sets(index: LiveIndex) -> None:
    await index.mark_available(vehicle_id="a", kind=ALS, lon=east(1)[0], lat=east(1)[1])
    await index.mark_available(vehicle_id="b", kind=BLS, lon=east(2)[0], lat=east(2)[1])
    assert await ids(index, ALS) == ["a"]
    assert await ids(index, BLS) == ["b"]
    assert await ids(index, NET) == []


async def test_unavailable_vehicles_leave_and_moves_do_not_bring_them_back(
    index: LiveIndex,
) -> None:
    await index.mark_available(vehicle_id="a", kind=ALS, lon=east(5)[0], lat=east(5)[1])
    await index.mark_available(vehicle_id="b", kind=ALS, lon=east(6)[0], lat=east(6)[1])
    # a ping moves an indexed (available) vehicle
    await index.move(vehicle_id="a", kind=ALS, lon=east(7)[0], lat=east(7)[1])
    assert await ids(index, ALS) == ["b", "a"]
    # claimed: out of the set; a late ping racing the claim must not re-add it (XX)
    await index.mark_unavailable(vehicle_id="b", kind=ALS)
    await index.move(vehicle_id="b", kind=ALS, lon=east(0.1)[0], lat=east(0.1)[1])
    assert await ids(index, ALS) == ["a"]
    # a vehicle never indexed is not created by a ping either
    await index.move(vehicle_id="ghost", kind=ALS, lon=CENTRE[0], lat=CENTRE[1])
    assert await ids(index, ALS) == ["a"]
    # freed again: back in, at its new position
    await index.mark_available(vehicle_id="b", kind=ALS, lon=east(0.1)[0], lat=east(0.1)[1])
    assert await ids(index, ALS) == ["b", "a"]
    # removing twice is harmless
    await index.mark_unavailable(vehicle_id="b", kind=ALS)
    await index.mark_unavailable(vehicle_id="b", kind=ALS)
    assert await ids(index, ALS) == ["a"]


async def test_rebuild_replaces_every_set_and_counts(index: LiveIndex) -> None:
    await index.mark_available(vehicle_id="stale", kind=ALS, lon=east(1)[0], lat=east(1)[1])
    await index.mark_available(vehicle_id="gone", kind=NET, lon=east(1)[0], lat=east(1)[1])
    n = await index.rebuild(available=[
        ("a1", ALS, *east(3)), ("a2", ALS, *east(2)), ("b1", BLS, *east(4))])
    assert n == 3
    assert await ids(index, ALS) == ["a2", "a1"]
    assert await ids(index, BLS) == ["b1"]
    assert await ids(index, NET) == []
    assert await index.rebuild(available=[]) == 0
    assert [await ids(index, k) for k in VehicleKind] == [[], [], []]


async def test_brute_force_agrees_with_geosearch(index: LiveIndex) -> None:
    rng = random.Random(4)
    fleet = {f"v{i}": (CENTRE[0] + rng.uniform(-0.2, 0.2), CENTRE[1] + rng.uniform(-0.2, 0.2))
             for i in range(300)}
    await index.rebuild(available=[(v, ALS, lon, lat) for v, (lon, lat) in fleet.items()])
    got = await ids(index, ALS, radius_m=8_000, count=300)
    exact = sorted((haversine_m(*CENTRE, lon, lat), v) for v, (lon, lat) in fleet.items())
    inside = [v for d, v in exact if d <= 8_000 * 0.995]
    outside = {v for d, v in exact if d > 8_000 * 1.005}
    assert set(inside) <= set(got) and not (set(got) & outside)
    # the order agrees wherever two vehicles are more than the geohash error apart
    rank = {v: i for i, v in enumerate(got)}
    dist = dict((v, d) for d, v in exact)
    for a, b in zip(got, got[1:], strict=False):
        assert dist[a] <= dist[b] + 5.0, (a, b)
    assert rank[inside[0]] == 0


async def stepped(index: LiveIndex, kinds: tuple[VehicleKind, ...], lon: float, lat: float,
                  radii: list[float], count: int) -> dict[str, float]:
    """The search as the steps run it: per radius, per kind the `count` nearest, until
    the kinds together offer `count`."""
    found: dict[str, float] = {}
    for radius in radii:
        for kind in kinds:
            found.update((n.vehicle_id, n.distance_m) for n in await index.nearest(
                kind=kind, lon=lon, lat=lat, radius_m=radius, count=count))
        if len(found) >= count:
            break
    return found


@pytest.fixture
async def counted() -> AsyncIterator[tuple[LiveIndex, type[Any]]]:
    """An index on a client that counts its round trips (`.sent`)."""
    redis, trips = counting_client(REDIS_URL)
    prefix = f"t_{secrets.token_hex(6)}"
    yield LiveIndex(redis=redis, prefix=prefix), trips
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def city(rng: random.Random, n: int, spread: float,
         kinds: tuple[VehicleKind, ...]) -> list[tuple[str, VehicleKind, float, float]]:
    return [(f"v{i}", kinds[i % len(kinds)], CENTRE[0] + rng.uniform(-spread, spread),
             CENTRE[1] + rng.uniform(-spread, spread)) for i in range(n)]


@pytest.mark.parametrize(("spread", "n"), [(0.05, 200), (0.3, 200), (0.6, 24)])
async def test_widening_search_finds_what_the_steps_find(
    index: LiveIndex, spread: float, n: int
) -> None:
    """Dense and sparse cities, calls inside and (every 12th) far outside them: the same
    vehicles, nearest first, as the steps, whether the first search sufficed or not."""
    rng = random.Random(n + int(spread * 100))
    await index.rebuild(available=city(rng, n, spread, (ALS, BLS, NET)))
    radii = search_radii_m(start_m=2_000.0, max_m=60_000.0)
    for q in range(96):
        far = 0.7 if q % 12 == 11 else spread
        lon, lat = CENTRE[0] + rng.uniform(-far, far), CENTRE[1] + rng.uniform(-far, far)
        kinds, count = ((ALS,), 8) if q % 2 else ((BLS, NET), 12)
        got = await index.nearest_widening(kinds=kinds, lon=lon, lat=lat, radii=radii,
                                           count=count)
        want = await stepped(index, kinds, lon, lat, radii, count)
        assert {x.vehicle_id: x.distance_m for x in got} == want
        assert [x.distance_m for x in got] == sorted(want.values())


@pytest.mark.parametrize(("spread", "n", "trips_seen"),
                         [(0.05, 200, {1, 2}), (0.6, 24, {1})])
async def test_a_second_search_only_when_the_first_falls_short(
    counted: tuple[LiveIndex, type[Any]], spread: float, n: int, trips_seen: set[int]
) -> None:
    """A call far outside a dense city needs a second, wider search, and finds what the
    steps find; a sparse city's searches all end at the last radius, searched first."""
    index, trips = counted
    rng = random.Random(n)
    await index.rebuild(available=city(rng, n, spread, (ALS, BLS)))
    radii = search_radii_m(start_m=2_000.0, max_m=60_000.0)
    seen = set()
    for q in range(48):
        far = 0.7 if q % 12 == 11 else spread
        lon, lat = CENTRE[0] + rng.uniform(-far, far), CENTRE[1] + rng.uniform(-far, far)
        before = trips.sent
        got = await index.nearest_widening(kinds=(ALS, BLS), lon=lon, lat=lat, radii=radii,
                                           count=8)
        seen.add(trips.sent - before)
        want = await stepped(index, (ALS, BLS), lon, lat, radii, 8)
        assert {x.vehicle_id: x.distance_m for x in got} == want
    assert seen == trips_seen


async def test_one_round_trip_per_search_in_a_normal_fleet(
    counted: tuple[LiveIndex, type[Any]],
) -> None:
    """A city's fleet (300 ALS and BLS over ~40 km): every search is one round trip once
    the first radius is learned, a second only for the rare call on the fleet's edge."""
    index, trips = counted
    rng = random.Random(7)
    await index.rebuild(available=city(rng, 300, 0.2, (ALS, BLS)))
    radii = search_radii_m(start_m=2_000.0, max_m=60_000.0)
    per_search = []
    for _ in range(200):
        before = trips.sent
        found = await index.nearest_widening(
            kinds=(ALS, BLS), lon=CENTRE[0] + rng.uniform(-0.2, 0.2),
            lat=CENTRE[1] + rng.uniform(-0.2, 0.2), radii=radii, count=8)
        per_search.append(trips.sent - before)
        assert len(found) >= 8
    assert per_search[0] == 1  # nothing learned yet: the widest radius, one trip
    assert set(per_search) <= {1, 2}
    assert sum(per_search) <= 1.1 * len(per_search)
