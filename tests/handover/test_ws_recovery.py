"""Recovery: a resume older than the stream's oldest entry, a status resent after a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from dispatch.domain import Role
from dispatch.realtime.bus import Bus
from tests.conftest import REDIS_URL
from tests.handover.wsclient import ack, cluster, now_iso, recv, send, until


def _key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


async def test_resume_older_than_the_stream_gets_a_snapshot_then_the_stream() -> None:
    async with cluster() as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)
            async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
                await recv(screen)
                await send(crew, {"type": "vitals", "msg_id": "a0", "call_id": call_id,
                                  "hr": 80, "at": now_iso()})
                await until(crew, ack("a0"))
                first, _ = await until(screen, lambda f: f.get("data", {}).get("msg_id") == "a0")
            for i in range(1, 4):
                await send(crew, {"type": "vitals", "msg_id": f"a{i}", "call_id": call_id,
                                  "hr": 80 + i, "at": now_iso()})
                await until(crew, ack(f"a{i}"))
            # Redis trims the centre's stream (MAXLEN) past the screen's last id.
            redis = aioredis.Redis.from_url(REDIS_URL)
            try:
                bus = Bus(redis=redis, prefix=c.settings.redis_prefix, maxlen=100_000)
                await redis.xtrim(bus.key("hospital:H1"), maxlen=1, approximate=False)
                oldest = await bus.oldest_id("hospital:H1")
            finally:
                await redis.aclose()
            assert oldest is not None and _key(oldest) > _key(first["id"])
            async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1",
                            last_event_id=first["id"]) as screen:
                snap = await recv(screen)
                assert snap["type"] == "snapshot"
                assert snap["last_event_id"] == oldest
                [patient] = snap["calls"]
                assert patient["call_id"] == call_id
                assert patient["latest_vitals"]["hr"] == 83  # a3: the state, not the replay
                await send(crew, {"type": "vitals", "msg_id": "a4", "call_id": call_id,
                                  "hr": 90, "at": now_iso()})
                await until(crew, ack("a4"))
                frame, before = await until(screen, lambda f: f.get("data", {}).get("msg_id")
                                            == "a4")
                # the stream from the snapshot on: nothing it already holds, no gap
                assert not [f for f in before if f.get("kind") == "vitals"]
                assert _key(frame["id"]) > _key(snap["last_event_id"])
        r = await c.http.get(f"{c.urls[0]}/v1/incidents/{call_id}/handover",
                             headers=c.auth(Role.HOSPITAL, hospital_id="H1"))
        assert r.status_code == 200


async def test_status_resent_after_a_crash_before_storing_stamps_its_clock_once() -> None:
    async with cluster(1) as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        crew_auth = c.auth(Role.CREW, vehicle_id=vehicle)
        t0 = datetime.now(UTC)
        on_scene_at = (t0 + timedelta(seconds=1)).isoformat()
        cleared_at = (t0 + timedelta(seconds=3)).isoformat()
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)
            await send(crew, {"type": "status", "msg_id": "s0", "call_id": call_id,
                              "status": "en_route", "at": t0.isoformat()})
            assert (await until(crew, ack("s0")))[0]["type"] == "ack"
            # s1 reached report_status, then the instance died before storing s1: the
            # clock is stamped, the crew message is not, the tablet never got its ack.
            r = await c.http.post(f"{c.urls[0]}/v1/vehicles/{vehicle}/status",
                                  json={"status": "on_scene", "at": on_scene_at},
                                  headers=crew_auth)
            assert r.status_code == 200, r.text
            await send(crew, {"type": "status", "msg_id": "s2", "call_id": call_id,
                              "status": "transporting",
                              "at": (t0 + timedelta(seconds=2)).isoformat()})
            assert (await until(crew, ack("s2")))[0]["type"] == "ack"
            # the tablet resends s1 after reconnecting
            await send(crew, {"type": "status", "msg_id": "s1", "call_id": call_id,
                              "status": "on_scene", "at": on_scene_at})
            got, _ = await until(crew, ack("s1"))
            assert got["type"] == "ack", got
            # and once more: the stored message answers
            await send(crew, {"type": "status", "msg_id": "s1", "call_id": call_id,
                              "status": "on_scene", "at": on_scene_at})
            again, _ = await until(crew, ack("s1"))
            assert again == got
            # a clearing is resent the same way: the vehicle has no mission any more
            r = await c.http.post(f"{c.urls[0]}/v1/vehicles/{vehicle}/status",
                                  json={"status": "available", "at": cleared_at},
                                  headers=crew_auth)
            assert r.status_code == 200, r.text
            await send(crew, {"type": "status", "msg_id": "s3", "call_id": call_id,
                              "status": "available", "at": cleared_at})
            cleared, _ = await until(crew, ack("s3"))
            assert cleared["type"] == "ack", cleared
        r = await c.http.get(f"{c.urls[0]}/v1/calls/{call_id}", headers=c.auth())
        kinds = [e["kind"] for e in r.json()["timeline"]]
        assert kinds.count("on_scene") == 1, kinds
        assert kinds.count("left_scene") == 1, kinds
        assert kinds.count("cleared") == 1, kinds
        r = await c.http.get(f"{c.urls[0]}/v1/vehicles/{vehicle}", headers=c.auth())
        assert r.json()["status"] == "available"
