"""Coverage and move-up through the API, on hand-made cities whose answers are known."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import h3
import httpx
import pytest
import redis.asyncio as aioredis
from asgi_lifespan import LifespanManager
from shapely.geometry import box

from dispatch.api.deps import get_now
from dispatch.app import create_app
from dispatch.domain import Role
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import EtaModel
from dispatch.realtime.bus import Bus
from tests.conftest import DATABASE_URL, REDIS_URL, Service, drop_isolation, isolated_settings
from tests.waiting import eventually

# 10:30 in Nanjing: the "day" speed band (urban 30 km/h, circuity 1.4)
NOW = datetime(2025, 6, 2, 2, 30, tzinfo=UTC)
HALF = 0.02  # district half side in degrees: ~3.8 km x 4.4 km
D1 = (118.78, 32.04)
D2 = (118.84, 32.04)  # 0.06 degrees east: out of 8-minute reach of D1's centre


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    """The shared fixture's isolated service, with the clock fixed at NOW."""
    settings = isolated_settings(eta_recalibrate_s=0)
    app = create_app(settings)
    app.dependency_overrides[get_now] = lambda: NOW
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as c:
                yield Service(settings=settings, client=c, app=manager.app)
    finally:
        await drop_isolation(settings)


def _square(c: tuple[float, float]) -> dict[str, Any]:
    return json.loads(json.dumps(box(c[0] - HALF, c[1] - HALF, c[0] + HALF, c[1] + HALF)
                                 .__geo_interface__))


def _feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"synthetic": True, **props}}


def _pt(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def two_districts(vehicles: list[tuple[str, str, str, float, float]]) -> dict[str, Any]:
    """D1 (urban) and D2 (urban) with a station at each centre; vehicles (id, kind, station)."""
    features = [
        _feature(_square(D1), type="district", id="D1", name="One", area_type="urban"),
        _feature(_square(D2), type="district", id="D2", name="Two", area_type="urban"),
        _feature(_pt(*D1), type="station", id="S1", name="S1", district_id="D1"),
        _feature(_pt(*D2), type="station", id="S2", name="S2", district_id="D2"),
    ]
    for vid, kind, station, lon, lat in vehicles:
        features.append(_feature(_pt(lon, lat), type="vehicle", id=vid, name=vid, kind=kind,
                                 station_id=station))
    return {"type": "FeatureCollection", "features": features}


def _cells(centre: tuple[float, float]) -> list[str]:
    poly = box(centre[0] - HALF, centre[1] - HALF, centre[0] + HALF, centre[1] + HALF)
    return sorted(h3.geo_to_cells(poly, 8))


def _reached(cells: list[str], at: tuple[float, float], target_s: float) -> set[str]:
    """Brute force: cells whose centre the default model reaches from `at` in time (urban)."""
    model = EtaModel.default()
    hour = model.local_hour(NOW)
    out = set()
    for c in cells:
        lat, lon = h3.cell_to_latlng(c)
        t = model.travel_s(distance_m=haversine_m(at[0], at[1], lon, lat), area_type="urban",
                           hour=hour)
        if t <= target_s:
            out.add(c)
    return out


async def _execute(service: Service, sql: str, *args: Any) -> None:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={
        "search_path": service.settings.db_schema})
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _fetch(service: Service, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={
        "search_path": service.settings.db_schema})
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _insert_calls(service: Service, points: list[tuple[float, float]], *,
                        received_at: datetime, transport_class: str = "emergency") -> None:
    for lon, lat in points:
        await _execute(
            service,
            """INSERT INTO calls (id, caller_number, status, acuity, transport_class, triage,
                                  required_kinds, lon, lat, received_at, answered_at)
               VALUES ($1, '13800000000', 'closed', 2, $2, '{}', '{als}', $3, $4, $5, $5)""",
            uuid.uuid4(), transport_class, lon, lat, received_at)


async def _coverage(service: Service, query: str = "") -> dict[str, Any]:
    r = await service.client.get(f"/v1/coverage{query}", headers=service.auth())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# ------------------------------------------------------------------ coverage figures


@pytest.mark.parametrize(
    ("vehicles", "reach_from"),
    [
        ([], []),
        ([("A1", "als", "S1", *D1)], [D1]),
        ([("A1", "als", "S1", *D1), ("B2", "bls", "S2", *D2)], [D1, D2]),
        # a non-emergency vehicle does not cover anything
        ([("N1", "net", "S1", *D1)], []),
    ],
)
async def test_uniform_demand_share_is_the_reached_cell_share(
    service: Service, vehicles: list[tuple[str, str, str, float, float]],
    reach_from: list[tuple[float, float]],
) -> None:
    await service.load(two_districts(vehicles))
    body = await _coverage(service, "?target_s=480&target_s=720")
    cells1, cells2 = _cells(D1), _cells(D2)
    assert body["vehicles"] == len(reach_from)
    assert body["demand"]["past_calls"] == 0
    assert body["demand"]["cells"] == len(set(cells1) | set(cells2))
    for figures, target in zip(body["targets"], (480, 720), strict=True):
        reached: set[str] = set()
        for p in reach_from:
            reached |= _reached(cells1 + cells2, p, target)
        expected = len(reached) / body["demand"]["cells"]
        assert figures["target_s"] == target
        assert figures["share"] == pytest.approx(expected)
        assert figures["covered_cells"] == len(reached)
        by = {d["district_id"]: d for d in figures["by_district"]}
        assert by["D1"]["share"] == pytest.approx(len(reached & set(cells1)) / len(cells1))
        assert by["D2"]["share"] == pytest.approx(len(reached & set(cells2)) / len(cells2))
        assert by["D1"]["name"] == "One" and by["D1"]["area_type"] == "urban"


async def test_history_weights_demand_and_respects_look_back_and_transport_class(
    service: Service,
) -> None:
    await service.load(two_districts([("A1", "als", "S1", *D1)]))
    recent = NOW - timedelta(days=3)
    await _insert_calls(service, [D1] * 10, received_at=recent)  # covered
    await _insert_calls(service, [D2] * 10, received_at=recent)  # uncovered
    await _insert_calls(service, [D1] * 50, received_at=NOW - timedelta(days=120))  # too old
    await _insert_calls(service, [D1] * 50, received_at=recent, transport_class="non_emergency")
    body = await _coverage(service, "?target_s=480")
    cells = _cells(D1) + _cells(D2)
    covered = len(_reached(cells, D1, 480))
    prior = 0.05
    expected = (covered * prior + 10) / (len(cells) * prior + 20)
    assert body["demand"]["past_calls"] == 20
    assert body["targets"][0]["share"] == pytest.approx(expected)
    # the demand grid is cached: a new call does not move it until the TTL passes
    await _insert_calls(service, [D2] * 30, received_at=recent)
    again = await _coverage(service, "?target_s=480")
    assert again["targets"][0]["share"] == pytest.approx(expected)
    # but the fleet is read per request: take the only vehicle away and coverage drops to 0
    r = await service.client.post("/v1/vehicles/A1/status", json={"status": "out_of_service"},
                                  headers=service.auth())
    assert r.status_code == 200, r.text
    assert (await _coverage(service, "?target_s=480"))["targets"][0]["share"] == 0.0


async def test_geojson_marks_covered_and_uncovered_cells(service: Service) -> None:
    await service.load(two_districts([("A1", "als", "S1", *D1)]))
    r = await service.client.get("/v1/coverage?format=geojson&target_s=600",
                                 headers=service.auth())
    assert r.status_code == 200, r.text
    fc = r.json()
    cells = _cells(D1) + _cells(D2)
    assert fc["type"] == "FeatureCollection" and fc["target_s"] == 600
    assert {f["id"] for f in fc["features"]} == set(cells)
    assert {f["id"] for f in fc["features"] if f["properties"]["covered"]} == _reached(
        cells, D1, 600)
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    # without a target the map is the first default (8 minutes)
    default = (await service.client.get("/v1/coverage?format=geojson",
                                        headers=service.auth())).json()
    assert default["target_s"] == 480


@pytest.mark.parametrize(
    ("query", "status"),
    [("?format=geojson&target_s=480&target_s=720", 422), ("?target_s=0", 422),
     ("?target_s=99999", 422), ("?format=kml", 422), ("?target_s=abc", 422)],
)
async def test_bad_coverage_queries_are_refused(service: Service, query: str,
                                                status: int) -> None:
    await service.load(two_districts([]))
    r = await service.client.get(f"/v1/coverage{query}", headers=service.auth())
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/coverage"), ("GET", "/v1/coverage/moves"),
     ("POST", "/v1/coverage/moves/accept")],
)
async def test_coverage_is_for_dispatchers(service: Service, method: str, path: str) -> None:
    await service.load(two_districts([("A1", "als", "S1", *D1)]))
    crew = service.auth(Role.CREW, vehicle_id="A1")
    r = await service.client.request(method, path, headers=crew,
                                     json={"vehicle_id": "A1", "to_station_id": "S2"})
    assert r.status_code == 403, r.text
    r = await service.client.request(method, path,
                                     json={"vehicle_id": "A1", "to_station_id": "S2"})
    assert r.status_code == 401, r.text


# ------------------------------------------------------------------------ move-up


@pytest.mark.parametrize(
    ("fleet", "expected"),
    [
        # S2 emptied, three vehicles at S1: one moves to S2
        ([("A1", "als", "S1"), ("A2", "als", "S1"), ("B1", "bls", "S1")], {("A1", "S2")}),
        # the only vehicle of D1 would leave D1 below its 80% threshold: no move
        ([("A1", "als", "S1")], set()),
        # both stations staffed: nothing to gain
        ([("A1", "als", "S1"), ("A2", "als", "S2")], set()),
    ],
)
async def test_moves_fill_the_emptied_station_but_never_strip_the_last_vehicle(
    service: Service, fleet: list[tuple[str, str, str]], expected: set[tuple[str, str]],
) -> None:
    at = {"S1": D1, "S2": D2}
    await service.load(two_districts([(v, k, s, *at[s]) for v, k, s in fleet]))
    r = await service.client.get("/v1/coverage/moves?target_s=480", headers=service.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["vehicles"] == len(fleet) and body["stations"] == 2
    assert {(m["vehicle_id"], m["to_station_id"]) for m in body["moves"]} == expected
    for m in body["moves"]:
        assert m["from_station_id"] == "S1"
        assert m["coverage_after"] > m["coverage_before"] == pytest.approx(
            body["coverage_share"])


async def test_accepting_a_move_writes_the_event_audit_and_bus_and_keeps_it_available(
    service: Service,
) -> None:
    await service.load(two_districts([("A1", "als", "S1", *D1), ("A2", "als", "S1", *D1)]))
    r = await service.client.post("/v1/coverage/moves/accept",
                                  json={"vehicle_id": "A1", "to_station_id": "S2"},
                                  headers=service.auth())
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["kind"] == "move_up" and answer["from_station_id"] == "S1"
    events = await _fetch(service, "SELECT * FROM events WHERE kind = 'move_up'")
    assert len(events) == 1
    event = events[0]
    assert event["vehicle_id"] == "A1" and event["call_id"] is None
    assert event["occurred_at"] == NOW
    data = json.loads(event["data"])
    assert data["to_station_id"] == "S2" and data["to_lon"] == D2[0]
    assert data["distance_m"] == pytest.approx(haversine_m(*D1, *D2), abs=0.1)
    audit = await _fetch(service, "SELECT * FROM audit_log WHERE action = 'move_up'")
    assert [(a["vehicle_id"], a["actor"]) for a in audit] == [("A1", "test-dispatcher")]
    vehicle = await _fetch(service, "SELECT status FROM vehicles WHERE id = 'A1'")
    assert vehicle[0]["status"] == "available"
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        bus = Bus(redis=redis, prefix=service.settings.redis_prefix, maxlen=1000)
        for topic in ("vehicle:A1", "console"):
            moves = [e.payload for e in await bus.read_after(topic, after_id="0")
                     if e.payload.get("kind") == "move_up"]
            assert [(m["vehicle_id"], m["to_station_id"]) for m in moves] == [("A1", "S2")]
    finally:
        await redis.aclose()


@pytest.mark.parametrize(
    ("body", "status"),
    [({"vehicle_id": "A1", "to_station_id": "S9"}, 404),
     ({"vehicle_id": "Z9", "to_station_id": "S2"}, 404),
     ({"vehicle_id": "N1", "to_station_id": "S2"}, 409),
     ({"vehicle_id": "A2", "to_station_id": "S2"}, 409),  # out of service
     ({"vehicle_id": "A1"}, 422)],
)
async def test_bad_moves_are_refused(service: Service, body: dict[str, str], status: int) -> None:
    await service.load(two_districts([("A1", "als", "S1", *D1), ("A2", "als", "S1", *D1),
                                      ("N1", "net", "S1", *D1)]))
    r = await service.client.post("/v1/vehicles/A2/status", json={"status": "out_of_service"},
                                  headers=service.auth())
    assert r.status_code == 200, r.text
    r = await service.client.post("/v1/coverage/moves/accept", json=body,
                                  headers=service.auth())
    assert r.status_code == status, r.text
    assert await _fetch(service, "SELECT id FROM events WHERE kind = 'move_up'") == []


async def test_an_accepted_move_posts_the_vehicle_at_the_new_station(service: Service) -> None:
    """After the move A1 shows S2 (and S2's district) as its station, its next dispatch
    counts for S2, its home stays S1, and loading the reference data again unchanged does
    not undo the move; a new home in the reference data posts it there."""
    city = two_districts([("A1", "als", "S1", *D1), ("A2", "als", "S1", *D1)])
    await service.load(city)
    r = await service.client.post("/v1/coverage/moves/accept",
                                  json={"vehicle_id": "A1", "to_station_id": "S2"},
                                  headers=service.auth())
    assert r.status_code == 200, r.text

    async def posting() -> tuple[str, str, str | None]:
        v = (await service.client.get("/v1/vehicles/A1", headers=service.auth())).json()
        return v["station_id"], v["station_district_id"], v.get("home_station_id")

    assert await posting() == ("S2", "D2", "S1")
    assert r.json()["home_station_id"] == "S1"
    listed = (await service.client.get("/v1/vehicles", headers=service.auth())).json()
    assert {v["id"]: v["station_id"] for v in listed["vehicles"]} == {"A1": "S2", "A2": "S1"}
    # the next dispatch of A1 is attributed to the station it is posted at
    r = await service.client.post("/v1/vehicles/A2/status", json={"status": "out_of_service"},
                                  headers=service.auth())
    assert r.status_code == 200, r.text
    body = {"caller_number": "13800000000", "complaint": "", "answers": {},
            "received_at": (NOW - timedelta(seconds=8)).isoformat(),
            "answered_at": (NOW - timedelta(seconds=3)).isoformat(),
            "fixes": [{"lon": D1[0], "lat": D1[1], "accuracy_m": 20, "source": "aml",
                       "observed_at": NOW.isoformat()}]}
    call = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert call.status_code == 201, call.text
    assert [a["vehicle_id"] for a in call.json()["assignments"]] == ["A1"]
    dispatched = await _fetch(service, "SELECT data FROM events WHERE kind = 'dispatched'")
    assert [json.loads(d["data"])["station_id"] for d in dispatched] == ["S2"]
    # reference data loaded again: same home, the posting stands; a new home, posted there
    await service.load(city)
    assert await posting() == ("S2", "D2", "S1")
    await service.load(two_districts([("A1", "als", "S2", *D1), ("A2", "als", "S1", *D1)]))
    assert (await posting())[0::2] == ("S2", "S2")
    await service.load(city)
    assert await posting() == ("S1", "D1", "S1")


async def test_a_move_redis_refuses_is_made_and_reaches_the_console_once_it_is_back(
    service: Service,
) -> None:
    await service.load(two_districts([("A1", "als", "S1", *D1), ("A2", "als", "S1", *D1)]))
    redis = aioredis.Redis.from_url(REDIS_URL)
    bus = Bus(redis=redis, prefix=service.settings.redis_prefix, maxlen=1000)
    try:
        await redis.delete(bus.key("console"))
        await redis.set(bus.key("console"), "not a stream")  # Redis refuses the write
        r = await service.client.post("/v1/coverage/moves/accept",
                                      json={"vehicle_id": "A1", "to_station_id": "S2"},
                                      headers=service.auth())
        assert r.status_code == 200, r.text  # committed: the move stands, no 5xx
        station = await _fetch(service, "SELECT station_id FROM vehicles WHERE id = 'A1'")
        assert station[0]["station_id"] == "S2"
        queued = await _fetch(service, "SELECT count(*) AS n FROM handover_outbox")
        assert queued[0]["n"] >= 1  # the news waits in the outbox
        await redis.delete(bus.key("console"))

        async def moves() -> list[tuple[str, str]]:  # the outbox's sweep delivers it
            return [(e.payload["vehicle_id"], e.payload["to_station_id"])
                    for e in await bus.read_after("console", after_id="0")
                    if e.payload.get("kind") == "move_up"]

        assert await eventually(moves, what="the move on the console stream",
                                within_s=30) == [("A1", "S2")]
    finally:
        await redis.aclose()
