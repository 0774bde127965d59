"""Redis exchanges (one write of commands, one wait for the replies) per request: each
wakes Redis and the service, so an intake's and a clear's post-commit work (the live
index's write and every stream append) goes in one, after the one candidate search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis

import dispatch.flows.claim as claim_flow
from dispatch.domain import Role
from dispatch.realtime.resp import counting_exchanges
from tests.conftest import REDIS_URL, Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
NEAR = (CENTRE[0] + 0.01, CENTRE[1])
FAR = (CENTRE[0] - 0.02, CENTRE[1] + 0.01)


async def _console(service: Service) -> list[dict[str, Any]]:
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        key = f"{service.settings.redis_prefix}:stream:console"
        return [orjson.loads(f[b"d"]) for _, f in await redis.xrange(key)]
    finally:
        await redis.aclose()


async def _intake(service: Service, body: dict[str, Any]
                  ) -> tuple[dict[str, Any], list[list[str]]]:
    with counting_exchanges() as count:
        r = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "assigned", r.json()
    return r.json(), count.items


async def _status(service: Service, vehicle: str, call_id: str, status: str,
                  at: datetime) -> list[list[str]]:
    with counting_exchanges() as count:
        r = await service.client.post(
            f"/v1/vehicles/{vehicle}/status",
            headers=service.auth(Role.CREW, vehicle_id=vehicle),
            json={"status": status, "at": at.isoformat(), "call_id": call_id})
    assert r.status_code == 200, r.text
    return count.items


async def test_an_intake_and_a_clear_talk_to_redis_twice_and_once() -> None:
    now = datetime.now(UTC) - timedelta(minutes=30)
    async with running_service() as service:
        await service.load(city(vehicles=[("A1", "als", *NEAR), ("A2", "als", *FAR)]))
        plain, plain_x = await _intake(service, call_body(*CENTRE, number="13800000001",
                                                          now=now))
        pathway, pathway_x = await _intake(service, call_body(
            *CENTRE, answers=CHEST_PAIN, number="13800000002", now=now))
        # the candidate search, then the index's removal and the events in one
        post_commit = ["ZREM", "XADD", "XADD", "XADD"]
        assert plain_x == pathway_x == [["GEOSEARCH", "GEOSEARCH"], post_commit]
        clear_x = await _status(service, "A1", plain["id"], "available",
                                now + timedelta(minutes=5))
        assert clear_x == [["GEOADD", "XADD"]]
        console = [(e["kind"], e.get("call_id")) for e in await _console(service)
                   if e["kind"] not in ("centre_alerted", "destination_changed")]
        assert console == [("call_created", plain["id"]), ("vehicle_assigned", plain["id"]),
                           ("call_created", pathway["id"]),
                           ("vehicle_assigned", pathway["id"]),
                           ("vehicle_status", plain["id"])]
        # the cleared vehicle is searchable again, the busy one is not
        redis = aioredis.Redis.from_url(REDIS_URL)
        try:
            members = await redis.zrange(f"{service.settings.redis_prefix}:geo:available:als",
                                         0, -1)
        finally:
            await redis.aclose()
        assert members == [b"A1"]


async def test_a_clear_that_takes_a_queued_call_talks_to_redis_once() -> None:
    now = datetime.now(UTC) - timedelta(minutes=30)
    async with running_service() as service:
        await service.load(city(vehicles=[("A1", "als", *NEAR)]))
        first, _ = await _intake(service, call_body(*CENTRE, number="13800000001", now=now))
        r = await service.client.post("/v1/calls", headers=service.auth(), json=call_body(
            *CENTRE, number="13800000002", now=now + timedelta(minutes=1)))
        assert r.status_code == 201 and r.json()["status"] == "queued", r.text
        queued = r.json()["id"]
        clear_x = await _status(service, "A1", first["id"], "available",
                                now + timedelta(minutes=5))
        assert clear_x == [["ZREM", "XADD", "XADD", "XADD"]]
        console = [(e["kind"], e.get("call_id")) for e in await _console(service)]
        assert console[-2:] == [("vehicle_status", first["id"]), ("vehicle_assigned", queued)]


async def test_a_clears_news_goes_out_when_reading_the_drained_call_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC) - timedelta(minutes=30)
    async with running_service() as service:
        await service.load(city(vehicles=[("A1", "als", *NEAR)]))
        first, _ = await _intake(service, call_body(*CENTRE, number="13800000001", now=now))
        r = await service.client.post("/v1/calls", headers=service.auth(), json=call_body(
            *CENTRE, number="13800000002", now=now + timedelta(minutes=1)))
        assert r.json()["status"] == "queued", r.text

        async def fails(**_: Any) -> None:
            raise asyncpg.ConnectionDoesNotExistError("connection lost")

        monkeypatch.setattr(claim_flow.call_db, "view_row", fails)
        r = await service.client.post(
            "/v1/vehicles/A1/status", headers=service.auth(Role.CREW, vehicle_id="A1"),
            json={"status": "available", "at": (now + timedelta(minutes=5)).isoformat(),
                  "call_id": first["id"]})
        assert r.status_code == 503, r.text  # committed, but not read back: retry
        console = [(e["kind"], e.get("call_id")) for e in await _console(service)]
        assert console[-1] == ("vehicle_status", first["id"])
