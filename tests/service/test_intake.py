"""Call intake through the HTTP API: assignment, idempotency, timeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import asyncpg

from dispatch.domain import Role
from dispatch.geo.eta import EtaModel
from tests.conftest import DATABASE_URL, Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


async def _fleet(service: Service) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        return await conn.fetch(
            f'SELECT id, kind, status, lon, lat FROM "{service.settings.db_schema}".vehicles')
    finally:
        await conn.close()


async def test_call_gets_the_truly_nearest_available_vehicle(service: Service) -> None:
    await service.load(city(n_vehicles=60, seed=11))
    model = EtaModel.default()
    points = [(CENTRE[0] + dx, CENTRE[1] + dy)
              for dx, dy in [(0.0, 0.0), (0.05, -0.03), (-0.07, 0.06), (0.02, 0.08)]]
    for i, (lon, lat) in enumerate(points):
        fleet = await _fleet(service)
        now = datetime.now(UTC)
        # brute force over the whole fleet, with the service's own ETA model
        etas = {
            v["id"]: model.eta_s(from_lon=v["lon"], from_lat=v["lat"], to_lon=lon, to_lat=lat,
                                 area_type="urban", at=now)
            for v in fleet if v["status"] == "available"
        }
        best = min(etas.values())
        body = call_body(lon, lat, number=f"1390000{i:04d}")
        r = await service.client.post("/v1/calls", json=body, headers=service.auth())
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "assigned"
        [assignment] = body["assignments"]
        assert abs(etas[assignment["vehicle_id"]] - best) < 1.0
        assert abs(assignment["eta_s"] - best) < 1.0


async def test_idempotent_retry_returns_the_first_call(service: Service) -> None:
    await service.load(city(n_vehicles=5))
    body = call_body(*CENTRE)
    headers = {**service.auth(), "Idempotency-Key": "switch-call-0001"}
    first = await service.client.post("/v1/calls", json=body, headers=headers)
    again = await service.client.post("/v1/calls", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    listed = await service.client.get("/v1/calls", headers=service.auth())
    assert [c["id"] for c in listed.json()["calls"]] == [first.json()["id"]]


async def test_concurrent_retries_with_one_key_make_one_call(service: Service) -> None:
    await service.load(city(n_vehicles=5))
    body = call_body(*CENTRE)
    headers = {**service.auth(), "Idempotency-Key": "switch-call-0002"}
    answers = await asyncio.gather(*[
        service.client.post("/v1/calls", json=body, headers=headers) for _ in range(5)])
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]


async def test_a_key_reused_with_another_body_is_refused(service: Service) -> None:
    await service.load(city(n_vehicles=5))
    headers = {**service.auth(), "Idempotency-Key": "switch-call-0003"}
    first = await service.client.post("/v1/calls", json=call_body(*CENTRE), headers=headers)
    other = call_body(CENTRE[0] + 0.02, CENTRE[1], number="13911112222",
                      complaint="another caller")
    reused = await service.client.post("/v1/calls", json=other, headers=headers)
    assert first.status_code == 201
    assert reused.status_code == 422, reused.text
    [detail] = reused.json()["detail"]
    assert detail["field"] == "Idempotency-Key" and "switch-call-0003" in detail["reason"]
    listed = await service.client.get("/v1/calls", headers=service.auth())
    assert [c["id"] for c in listed.json()["calls"]] == [first.json()["id"]]


async def test_a_retry_spelled_differently_is_the_same_request(service: Service) -> None:
    """Key order, number spelling and a timestamp's zone do not make another request."""
    await service.load(city(n_vehicles=5))
    headers = {**service.auth(), "Idempotency-Key": "switch-call-0004"}
    body = call_body(*CENTRE, now=datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    first = await service.client.post("/v1/calls", json=body, headers=headers)
    shanghai = timezone(timedelta(hours=8))
    respelled = dict(reversed(list(body.items())))
    respelled["received_at"] = datetime.fromisoformat(body["received_at"]).astimezone(
        shanghai).isoformat()
    respelled["fixes"] = [{**body["fixes"][0], "accuracy_m": 20}]
    respelled["complaint"] = ""
    again = await service.client.post("/v1/calls", json=respelled, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["id"] == first.json()["id"]


async def test_a_retry_with_set_answers_is_the_same_request(service: Service) -> None:
    """Answers held as sets (injuries) hash the same whatever order they are listed in."""
    await service.load(city(n_vehicles=5))
    headers = {**service.auth(), "Idempotency-Key": "switch-call-0006"}
    injuries = ["pelvic_fracture", "skull_deformity", "amputation_proximal"]
    answers = [{"conscious": True, "breathing": True, "injuries": order}
               for order in (injuries, injuries[::-1])]
    body = call_body(*CENTRE, answers=answers[0])
    first = await service.client.post("/v1/calls", json=body, headers=headers)
    again = await service.client.post("/v1/calls", json={**body, "answers": answers[1]},
                                      headers=headers)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["id"] == first.json()["id"]


async def test_racing_bodies_with_one_key_make_one_call(service: Service) -> None:
    """Two different calls sent at once with one key: one is taken, the other refused."""
    await service.load(city(n_vehicles=5))
    headers = {**service.auth(), "Idempotency-Key": "switch-call-0005"}
    bodies = [call_body(CENTRE[0] + 0.01 * i, CENTRE[1], number=f"1391111000{i}")
              for i in range(4)]
    answers = await asyncio.gather(*[
        service.client.post("/v1/calls", json=b, headers=headers) for b in bodies])
    assert sorted(a.status_code for a in answers) == [201, 422, 422, 422]
    listed = await service.client.get("/v1/calls", headers=service.auth())
    assert len(listed.json()["calls"]) == 1


async def test_timeline_records_the_clocks(service: Service) -> None:
    await service.load(city(n_vehicles=3))
    created = await service.client.post("/v1/calls", json=call_body(*CENTRE),
                                         headers=service.auth())
    call = created.json()
    vehicle = call["assignments"][0]["vehicle_id"]
    crew = service.auth(Role.CREW, vehicle_id=vehicle)
    for status in ["en_route", "on_scene", "transporting", "at_hospital", "available"]:
        r = await service.client.post(f"/v1/vehicles/{vehicle}/status", json={"status": status},
                                      headers=crew)
        assert r.status_code == 200, r.text
    got = await service.client.get(f"/v1/calls/{call['id']}", headers=service.auth())
    kinds = [e["kind"] for e in got.json()["timeline"]]
    for clock in ["call_received", "call_answered", "location_fixed", "triaged", "dispatched",
                  "departed", "on_scene", "left_scene", "at_destination", "cleared"]:
        assert clock in kinds, (clock, kinds)
    assert got.json()["status"] == "closed"
    received = got.json()["timeline"][0]
    assert received["kind"] == "call_received"
    assert received["occurred_at"] < received["received_at"]


async def test_more_fixes_refine_the_location_before_dispatch(service: Service) -> None:
    await service.load(city(n_vehicles=0))  # nothing free: the call waits
    lon, lat = CENTRE
    created = await service.client.post(
        "/v1/calls", json=call_body(lon + 0.01, lat, accuracy_m=2000, source="cell"),
        headers=service.auth())
    call = created.json()
    assert call["status"] == "queued" and call["queue_position"] == 1
    assert call["location"]["radius_m"] >= 1000
    now = datetime.now(UTC).isoformat()
    r = await service.client.post(
        f"/v1/calls/{call['id']}/fixes",
        json={"fixes": [{"lon": lon, "lat": lat, "accuracy_m": 10, "source": "aml",
                         "observed_at": now}]},
        headers=service.auth())
    assert r.status_code == 200, r.text
    assert r.json()["location"]["radius_m"] < 100
    assert abs(r.json()["location"]["lon"] - lon) < 0.001


async def test_gcj02_fix_is_stored_in_wgs84(service: Service) -> None:
    from dispatch.geo.coords import wgs84_to_gcj02

    await service.load(city(n_vehicles=1))
    lon, lat = CENTRE
    glon, glat = wgs84_to_gcj02(lon, lat)
    r = await service.client.post("/v1/calls", json=call_body(glon, glat, system="gcj02"),
                                  headers=service.auth())
    loc = r.json()["location"]
    assert abs(loc["lon"] - lon) < 1e-5 and abs(loc["lat"] - lat) < 1e-5


async def test_every_call_of_a_period_page_by_page(service: Service) -> None:
    await service.load(city(n_vehicles=0))
    base = datetime.now(UTC)
    made = []
    for i in range(7):
        body = call_body(*CENTRE, number=f"1370000{i:04d}", now=base - timedelta(minutes=7 - i))
        made.append((await service.client.post("/v1/calls", json=body,
                                               headers=service.auth())).json()["id"])
    params: dict[str, str] = {"from": (base - timedelta(hours=1)).isoformat(),
                              "to": (base + timedelta(hours=1)).isoformat(), "limit": "3"}
    seen: list[str] = []
    while True:
        page = (await service.client.get("/v1/calls", params=params,
                                         headers=service.auth())).json()
        seen += [c["id"] for c in page["calls"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == made
    bad = await service.client.get("/v1/calls", params={**params, "cursor": "nonsense"},
                                   headers=service.auth())
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "cursor"
