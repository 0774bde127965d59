"""What a pathway intake publishes and stores for its receiving centre, compared with a
golden record made before the centre alert was folded into the intake statement.

Pathway calls (claimed, queued for lack of a vehicle, with a held AML report) go through
the public API, each waking the outbox's publishers once; once the outbox has drained,
every stream's messages (normalised as tests/service/test_intake_golden.py does), the
timelines and the centres' handover rows are compared with
tests/service/intake_alert_golden.json. Messages sent straight after the commit and
those leaving through the outbox race each other, so each stream is compared as the
outbox's messages in their order, then the others in theirs.

DISPATCH_WRITE_GOLDEN=1 rewrites the golden file from the code under test.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
from redis import asyncio as aioredis

from dispatch.db.statements import counting_statements
from dispatch.domain import Role
from dispatch.realtime.outbox import OUTBOX_CHANNEL_PREFIX
from tests.conftest import DATABASE_URL, REDIS_URL, Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.service.test_intake_golden import T0, Normaliser, ago

GOLDEN = Path(__file__).with_name("intake_alert_golden.json")
CX, CY = CENTRE
# what destination_changed leaves in the outbox
OUTBOX_KINDS = {"pre_alert", "centre_alerted", "destination_changed"}
STROKE = {"facial_droop": True, "arm_weakness": True, "age_years": 71, "sex": "female",
          "conscious": True, "breathing": True,
          # as a caller's local time
          "onset_at": (T0 - timedelta(minutes=40)).astimezone(
              timezone(timedelta(hours=8))).isoformat()}
CHEST = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}


async def _intakes(service: Service) -> dict[str, str]:
    ids: dict[str, str] = {}

    async def intake(name: str, body: dict[str, Any]) -> None:
        with counting_statements() as count:
            r = await service.client.post("/v1/calls", json=body, headers=service.auth())
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
        if name == "stroke_aml":
            # the read, the candidates, then begin, the intake with its claim and its
            # centre's alert, commit
            assert r.json()["status"] == "assigned" and count.n <= 5, count.items

    await intake("chest", call_body(CX - 0.01, CY + 0.005, number="13800000002",
                                    now=ago(18), answers=CHEST, complaint="胸痛"))
    fields = {
        "v": "3", "device_number": "+8613700000003", "emergency_number": "120",
        "location_latitude": f"{CY - 0.015}", "location_longitude": f"{CX + 0.01}",
        "location_accuracy": "15", "location_source": "gps",
        "location_time": str(int(T0.timestamp() * 1000)),
    }
    r = await service.client.post("/v1/aml", json={"fields": fields},
                                  headers=service.auth(Role.GATEWAY))
    assert r.status_code == 202 and r.json()["held"] is True, r.text
    await intake("stroke_aml", call_body(CX + 0.03, CY, accuracy_m=3000, source="cell",
                                         number="13700000003", now=ago(16), answers=STROKE))
    # two vehicles for three calls: the last one queues
    await intake("stroke_queued", call_body(CX, CY + 0.01, number="13800000004",
                                            now=ago(14), answers=STROKE))
    return ids


async def _drained(conn: asyncpg.Connection) -> None:
    for _ in range(200):
        if not await conn.fetchval("SELECT count(*) FROM handover_outbox"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not drain")


async def _published(service: Service, norm: Normaliser) -> dict[str, Any]:
    prefix = f"{service.settings.redis_prefix}:stream:"
    redis = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        streams: dict[str, Any] = {}
        for key in sorted([k async for k in redis.scan_iter(match=f"{prefix}*")]):
            messages = []
            for _, fields in await redis.xrange(key):
                messages.extend(_without_server_clock(json.loads(v))
                                for v in fields.values())
            # the outbox's messages in their order, then the others in theirs
            messages.sort(key=lambda m: m.get("kind") not in OUTBOX_KINDS)
            streams[norm(key.removeprefix(prefix), T0)] = norm(messages, T0)
    finally:
        await redis.aclose()
    return streams


def _without_server_clock(value: Any) -> Any:
    """A message less the fixes' receipt times (the server's clock, not the request's)."""
    if isinstance(value, dict):
        return {k: _without_server_clock(v) for k, v in value.items()
                if not (k == "received_at" and "accuracy_m" in value)}
    if isinstance(value, list):
        return [_without_server_clock(v) for v in value]
    return value


async def test_pathway_intake_alerts_its_centre_as_before() -> None:
    async with running_service(clock=lambda: T0) as service:
        await service.load(city(vehicles=[("A1", "als", CX + 0.01, CY),
                                          ("A2", "als", CX - 0.02, CY + 0.01)]))
        listener = await asyncpg.connect(DATABASE_URL)
        woken: list[str] = []
        await listener.add_listener(f"{OUTBOX_CHANNEL_PREFIX}{service.settings.db_schema}",
                                    lambda *args: woken.append(args[2]))
        try:
            ids = await _intakes(service)
            for _ in range(100):
                if len(woken) >= len(ids):
                    break
                await asyncio.sleep(0.02)
        finally:
            await listener.close()
        # each intake wakes the outbox's publishers once, on commit
        assert len(woken) == len(ids), woken
        norm = Normaliser()
        for call_id in ids.values():
            norm.name(call_id)
        conn = await asyncpg.connect(
            DATABASE_URL, server_settings={"search_path": service.settings.db_schema})
        for kind in ("json", "jsonb"):
            await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads,
                                      schema="pg_catalog")
        try:
            await _drained(conn)
            handovers = norm(await conn.fetch(
                """SELECT c.received_at, h.hospital_id, h.phase, h.state FROM handovers h
                     JOIN calls c ON c.id = h.call_id ORDER BY c.received_at, h.hospital_id"""),
                T0)
            timelines = {name: norm(await conn.fetch(
                """SELECT kind, vehicle_id, occurred_at, data FROM events
                    WHERE call_id = $1 ORDER BY occurred_at, id""", call_id), T0)
                for name, call_id in ids.items()}
        finally:
            await conn.close()
        stored = json.loads(json.dumps({
            "handovers": handovers, "timelines": timelines,
            "streams": await _published(service, norm)}, default=str))
    if os.environ.get("DISPATCH_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(stored, indent=1, sort_keys=True, ensure_ascii=False)
                          + "\n")
    assert stored == json.loads(GOLDEN.read_text())
