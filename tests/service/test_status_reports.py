"""Status reports: applied once, to the mission they are about, and never half-applied.

A tablet resends, a clearing repeats, a late report arrives after the vehicle took its
next call: none of them may close or stamp the wrong call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from dispatch.domain import Role
from tests.conftest import DATABASE_URL, REDIS_URL, Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.waiting import eventually, indexed

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
NEAR = (CENTRE[0] + 0.01, CENTRE[1])


async def _call(service: Service, number: str) -> dict[str, Any]:
    r = await service.client.post("/v1/calls", headers=service.auth(),
                                  json=call_body(*CENTRE, answers=CHEST_PAIN, number=number))
    assert r.status_code == 201, r.text
    return r.json()


async def _status(service: Service, vehicle: str, **body: Any) -> Any:
    return await service.client.post(f"/v1/vehicles/{vehicle}/status", json=body,
                                     headers=service.auth(Role.CREW, vehicle_id=vehicle))


async def _vehicle(service: Service, vehicle: str) -> dict[str, Any]:
    r = await service.client.get(f"/v1/vehicles/{vehicle}", headers=service.auth())
    return dict(r.json())


async def _kinds(service: Service, call_id: str) -> list[str]:
    r = await service.client.get(f"/v1/calls/{call_id}", headers=service.auth())
    return [e["kind"] for e in r.json()["timeline"]]


async def _sql(service: Service, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'SET search_path TO "{service.settings.db_schema}"')
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_a_repeated_clearing_does_not_close_the_next_call(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    first = await _call(service, "13800000001")
    second = await _call(service, "13800000002")
    assert (first["status"], second["status"]) == ("assigned", "queued")
    r = await _status(service, "A1", status="available")
    assert r.status_code == 200 and r.json()["call_id"] == first["id"]
    assert (await _vehicle(service, "A1"))["call_id"] == second["id"]
    # the same report again (a tablet that did not hear the answer): the first answer
    r = await _status(service, "A1", status="available")
    assert r.status_code == 200, r.text
    assert r.json()["call_id"] == first["id"]
    assert (await _vehicle(service, "A1"))["call_id"] == second["id"]
    assert "cleared" not in await _kinds(service, second["id"])


async def test_a_resent_status_with_its_time_is_answered_once(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    first = await _call(service, "13800000001")
    second = await _call(service, "13800000002")
    at = datetime.now(UTC).isoformat()
    r1 = await _status(service, "A1", status="available", at=at)
    r2 = await _status(service, "A1", status="available", at=at)
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json() == {"vehicle_id": "A1", "status": "available",
                                      "call_id": first["id"]}
    assert (await _vehicle(service, "A1"))["call_id"] == second["id"]


async def test_report_id_makes_a_report_idempotent(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    call = await _call(service, "13800000001")
    r1 = await _status(service, "A1", status="en_route", report_id="tab-1")
    r2 = await _status(service, "A1", status="en_route", report_id="tab-1")
    assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()
    assert (await _kinds(service, call["id"])).count("departed") == 1
    # the same id for another report is refused, naming the field
    r3 = await _status(service, "A1", status="on_scene", report_id="tab-1")
    assert r3.status_code == 409, r3.text
    assert r3.json()["detail"][0]["field"] == "report_id"
    assert "on_scene" not in await _kinds(service, call["id"])


async def test_a_status_naming_another_call_is_refused(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    first = await _call(service, "13800000001")
    second = await _call(service, "13800000002")
    r = await _status(service, "A1", status="available", call_id=first["id"])
    assert r.status_code == 200
    # a late on_scene about the first call, now that the vehicle holds the second
    r = await _status(service, "A1", status="on_scene", call_id=first["id"])
    assert r.status_code == 409, r.text
    assert r.json()["detail"][0]["field"] == "call_id"
    assert "on_scene" not in await _kinds(service, second["id"])
    assert (await _vehicle(service, "A1"))["status"] == "dispatched"


async def test_an_unnamed_status_stamped_before_the_mission_is_refused(
        service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    first = await _call(service, "13800000001")
    second = await _call(service, "13800000002")
    on_scene_first = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    r = await _status(service, "A1", status="available", call_id=first["id"])
    assert r.status_code == 200
    r = await _status(service, "A1", status="on_scene", at=on_scene_first)
    assert r.status_code == 409, r.text
    assert "on_scene" not in await _kinds(service, second["id"])
    # stamped after the mission was given, the same status is the new mission's
    r = await _status(service, "A1", status="en_route")
    assert r.status_code == 200 and r.json()["call_id"] == second["id"]


async def test_an_unnamed_clearing_stamped_before_the_mission_repeats_the_last(
        service: Service) -> None:
    # two instances receive the crew's "available" at the same moment: the first frees
    # the vehicle and the queue gives it the next call; the second, stamped before that
    # assignment, is the same clearing, not a conflict and not the end of the next call
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    first = await _call(service, "13800000001")
    second = await _call(service, "13800000002")
    sent = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    r = await _status(service, "A1", status="available")
    assert r.status_code == 200 and r.json()["call_id"] == first["id"]
    r = await _status(service, "A1", status="available", at=sent)
    assert r.status_code == 200, r.text
    assert r.json()["call_id"] == first["id"]
    assert (await _vehicle(service, "A1"))["call_id"] == second["id"]
    assert "cleared" not in await _kinds(service, second["id"])
    # a status that is not a clearing, stamped as early, is still refused
    r = await _status(service, "A1", status="on_scene", at=sent)
    assert r.status_code == 409, r.text


async def test_a_future_status_is_refused_and_leaves_no_trace(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    call = await _call(service, "13800000001")
    before = await _kinds(service, call["id"])
    future = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    r = await _status(service, "A1", status="at_hospital", at=future)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "at"
    assert await _kinds(service, call["id"]) == before
    assert (await _vehicle(service, "A1"))["status"] == "dispatched"
    # a small skew is a tablet's clock, not the future
    r = await _status(service, "A1", status="en_route",
                      at=(datetime.now(UTC) + timedelta(seconds=20)).isoformat())
    assert r.status_code == 200, r.text


async def test_concurrent_clearings_leave_one_consistent_vehicle(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    calls = [await _call(service, f"138000000{i:02d}") for i in range(6)]
    for _ in range(5):
        held = (await _vehicle(service, "A1"))["call_id"]
        # the crew's tablet and the dispatcher clear the same call at the same moment
        answers = await asyncio.gather(*[
            _status(service, "A1", status="available", call_id=held) for _ in range(2)])
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        assert answers[0].json() == answers[1].json()
        rows = await _sql(service, """
            SELECT v.status, v.call_id,
                   (SELECT count(*) FROM assignments a
                     WHERE a.vehicle_id = v.id AND a.released_at IS NULL) AS live
              FROM vehicles v WHERE v.id = 'A1'""")
        v = rows[0]
        # never available while holding a patient, never a mission without its assignment
        assert (v["status"] == "available") == (v["live"] == 0) == (v["call_id"] is None)
    cleared = await _sql(service, "SELECT count(*) AS n FROM events WHERE kind = 'cleared'")
    # each round cleared exactly one call: the repeat did not close the next one
    assert cleared[0]["n"] == 5
    assert (await _vehicle(service, "A1"))["call_id"] == calls[5]["id"]


async def test_a_call_is_stored_even_when_its_claim_hits_a_held_vehicle() -> None:
    # A vehicle marked available, and indexed, while it still holds a live assignment (the
    # state a lost status race used to leave): later calls are stored and queued, never
    # a 500 from the one-live-assignment index.
    async with running_service(index_check_s=0.2) as service:
        await service.load(city(vehicles=[("A1", "als", *NEAR)]))
        held = await _call(service, "13800000001")
        await _sql(service, "UPDATE vehicles SET status = 'available', call_id = NULL")
        redis = aioredis.Redis.from_url(REDIS_URL)
        try:
            prefix = service.settings.redis_prefix
            await redis.delete(f"{prefix}:geo:built")  # the watchdog rebuilds from PostgreSQL
            await eventually(lambda: indexed(redis, f"{prefix}:geo:available:als", "A1"),
                             what="A1 back in the live index")
        finally:
            await redis.aclose()
        r = await service.client.post("/v1/calls", headers=service.auth(),
                                      json=call_body(*CENTRE, answers=CHEST_PAIN,
                                                     number="13800000002"))
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "queued"
        live = await _sql(service, "SELECT call_id FROM assignments WHERE released_at IS NULL")
        assert [str(row["call_id"]) for row in live] == [held["id"]]
        stored = await _sql(service, "SELECT id FROM calls WHERE id = $1::uuid", r.json()["id"])
        assert len(stored) == 1


async def test_two_vehicles_freed_at_once_take_two_queued_calls(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR), ("A2", "als", *NEAR)]))
    busy = [await _call(service, f"1380000000{i}") for i in range(2)]
    waiting = [await _call(service, f"1380000001{i}") for i in range(2)]
    assert [c["status"] for c in waiting] == ["queued", "queued"]
    holders = {c["assignments"][0]["vehicle_id"]: c["id"] for c in busy}
    answers = await asyncio.gather(*[
        _status(service, v, status="available", call_id=holders[v]) for v in ("A1", "A2")])
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    for c in waiting:
        got = (await service.client.get(f"/v1/calls/{c['id']}", headers=service.auth())).json()
        assert got["status"] == "assigned", got["status"]


async def test_the_sweep_assigns_calls_taken_while_the_index_was_lost() -> None:
    async with running_service(index_check_s=0.3, queue_sweep_s=0.3) as service:
        await service.load(city(vehicles=[("A1", "als", *NEAR)]))
        # Redis lost our keys (a restart): the index and its built mark are gone
        redis = aioredis.Redis.from_url(REDIS_URL)
        try:
            keys = [k async for k in redis.scan_iter(
                match=f"{service.settings.redis_prefix}:geo:*")]
            await redis.delete(*keys)
        finally:
            await redis.aclose()
        call = await _call(service, "13800000001")

        async def assigned() -> bool:
            got = await service.client.get(f"/v1/calls/{call['id']}", headers=service.auth())
            return bool(got.json()["status"] == "assigned")

        await eventually(assigned, what="the call taken without the index assigned")
        assert (await _vehicle(service, "A1"))["call_id"] == call["id"]


async def test_a_claim_never_dates_its_assignment_before_the_clearing() -> None:
    # The request's clock was read before the crew's clearing (a request that waited on
    # the vehicle's lock): the next assignment starts after the clearing, not before.
    clock = {"now": datetime.now(UTC) - timedelta(seconds=30)}
    async with running_service(clock=lambda: clock["now"]) as service:
        await service.load(city(vehicles=[("A1", "als", *NEAR)]))
        first = await _call(service, "13800000001")
        cleared_at = clock["now"] + timedelta(seconds=20)  # already past in real time
        r = await _status(service, "A1", status="available", at=cleared_at.isoformat())
        assert r.status_code == 200, r.text
        second = await _call(service, "13800000002")
        assert second["status"] == "assigned", second
        rows = await _sql(service, "SELECT call_id, assigned_at, released_at FROM assignments"
                                   " WHERE vehicle_id = 'A1' ORDER BY assigned_at")
        assert [str(r["call_id"]) for r in rows] == [first["id"], second["id"]]
        assert rows[0]["released_at"] == cleared_at
        assert rows[1]["assigned_at"] == cleared_at  # not the request's earlier clock
