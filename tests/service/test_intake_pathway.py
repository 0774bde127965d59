"""A pathway call's intake writes its centre's alert with the call and its claim: once,
whether the intake is written again because another call took its held AML report or
because the one-live-assignment index refused its claim."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from redis import asyncio as aioredis

from dispatch.domain import Role
from tests.conftest import DATABASE_URL, REDIS_URL, Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.service.test_aml_intake import aml_sms

CHEST = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}


async def _alerts(service: Service, call_id: str) -> dict[str, int]:
    """How many handover rows, centre_alerted events and published pre-alerts and
    destination_changed messages the call has, once the outbox has drained."""
    conn = await asyncpg.connect(
        DATABASE_URL, server_settings={"search_path": service.settings.db_schema})
    try:
        for _ in range(200):
            if not await conn.fetchval("SELECT count(*) FROM handover_outbox"):
                break
            await asyncio.sleep(0.05)
        found = dict(await conn.fetchrow(
            """SELECT (SELECT count(*) FROM handovers WHERE call_id = $1) AS handovers,
                      (SELECT count(*) FROM events
                        WHERE call_id = $1 AND kind = 'centre_alerted') AS events""",
            call_id))
    finally:
        await conn.close()
    prefix = f"{service.settings.redis_prefix}:stream:"
    redis = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        kinds: list[str] = []
        async for key in redis.scan_iter(match=f"{prefix}*"):
            for _, fields in await redis.xrange(key):
                message: dict[str, Any] = json.loads(fields["d"])
                if message.get("call_id") == call_id:
                    kinds.append(message["kind"])
    finally:
        await redis.aclose()
    return found | {k: kinds.count(k) for k in ("pre_alert", "destination_changed")}


ONCE = {"handovers": 1, "events": 1, "pre_alert": 1, "destination_changed": 1}


async def test_pathway_calls_racing_for_a_held_report_alert_their_centre_once(
        service: Service) -> None:
    await service.load(city(n_vehicles=2))
    r = await service.client.post("/v1/aml", params={"sender": "13600000009"},
                                  content=aml_sms(*CENTRE), headers={
                                      **service.auth(Role.GATEWAY), "content-type": "text/plain"})
    assert r.status_code == 202 and r.json()["held"] is True
    body = call_body(CENTRE[0] + 0.03, CENTRE[1], accuracy_m=3000, source="cell",
                     number="13600000009", answers=CHEST)
    answers = await asyncio.gather(*[
        service.client.post("/v1/calls", json=body, headers=service.auth()) for _ in range(2)])
    assert [a.status_code for a in answers] == [201, 201]
    assert sorted(len(a.json()["fixes"]) for a in answers) == [1, 2]
    for a in answers:
        assert a.json()["destination_id"] is not None
        assert await _alerts(service, a.json()["id"]) == ONCE


async def test_a_claim_refused_at_intake_stores_the_pathway_call_alerted_once(
        service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", CENTRE[0] + 0.01, CENTRE[1])]))
    conn = await asyncpg.connect(
        DATABASE_URL, server_settings={"search_path": service.settings.db_schema})
    try:
        # the first assignment written is refused as a double assignment would be
        await conn.execute("""
            CREATE SEQUENCE refusals;
            CREATE FUNCTION refuse_first() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('refusals') = 1 THEN
                    RAISE unique_violation USING
                        CONSTRAINT = 'assignments_one_live_per_vehicle';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_first BEFORE INSERT ON assignments
                FOR EACH ROW EXECUTE FUNCTION refuse_first();""")
        r = await service.client.post("/v1/calls", headers=service.auth(), json=call_body(
            *CENTRE, number="13800000001", answers=CHEST))
        assert r.status_code == 201, r.text
        # stored queued, then assigned by the search after its commit
        assert r.json()["status"] == "assigned", r.json()
        assert await conn.fetchval("SELECT last_value FROM refusals") == 2
    finally:
        await conn.close()
    assert await _alerts(service, r.json()["id"]) == ONCE
