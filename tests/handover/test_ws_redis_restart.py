"""Screens across a Redis that restarted (empty, or restored from an older save): a resume
that cannot be proven gap-free gets a snapshot, and a screen connected through the
restart is told to resync."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from redis.exceptions import ResponseError
from websockets.asyncio.client import ClientConnection

from dispatch.domain import Role
from dispatch.realtime.channels import server_started_ms
from tests.conftest import drop_isolation, isolated_settings
from tests.handover.private_redis import private_redis
from tests.handover.wsclient import WAIT_S, Cluster, ack, now_iso, recv, send, until
from tests.instances import instances
from tests.service.city import city


@asynccontextmanager
async def _cluster_on(redis_url: str, n: int) -> AsyncIterator[Cluster]:
    settings = isolated_settings(redis_url=redis_url)
    try:
        async with instances(settings, n) as urls, httpx.AsyncClient(timeout=WAIT_S) as http:
            c = Cluster(settings=settings, urls=urls, http=http)
            r = await http.post(f"{urls[0]}/v1/admin/reference",
                                json=city(n_vehicles=4, seed=3), headers=c.auth(Role.ADMIN))
            assert r.status_code == 200, r.text
            yield c
    finally:
        await drop_isolation(settings)


async def _vitals(crew: ClientConnection, call_id: str, msg_id: str, hr: int) -> None:
    """Send vitals until acknowledged (a Redis that just restarted may ask for a resend)."""
    for _ in range(5):
        await send(crew, {"type": "vitals", "msg_id": msg_id, "call_id": call_id, "hr": hr,
                          "at": now_iso()})
        answer, _ = await until(crew, ack(msg_id))
        if answer["type"] == "ack":
            return
    raise AssertionError(f"{msg_id} never acknowledged: {answer}")


def _msg(msg_id: str) -> Any:
    return lambda f: f.get("data", {}).get("msg_id") == msg_id


async def test_resume_after_redis_restarted_empty_gets_a_snapshot_of_what_was_committed() -> None:
    with private_redis() as server:
        async with _cluster_on(server.url, 2) as c:
            call = await c.new_call()
            call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
            async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
                await recv(crew)
                async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
                    await recv(screen)
                    await _vitals(crew, call_id, "a0", 80)
                    seen, _ = await until(screen, _msg("a0"))
                async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as watching:
                    await recv(watching)
                    # committed and published while the first screen is away: only the
                    # Redis that is about to lose it holds its event
                    await _vitals(crew, call_id, "a1", 101)
                    await until(watching, _msg("a1"))
                    server.restart_empty()
                    await _vitals(crew, call_id, "a2", 102)
                    # the screen that left before the restart resumes from a0: its a1 is gone
                    # from Redis, so it cannot be replayed; the snapshot has the state instead
                    async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1",
                                    last_event_id=seen["id"]) as screen:
                        snap = await recv(screen)
                        assert snap["type"] == "snapshot", snap
                        [patient] = snap["calls"]
                        assert patient["call_id"] == call_id
                        assert patient["latest_vitals"]["hr"] == 102
                        # and the stream goes on from the snapshot
                        await _vitals(crew, call_id, "a3", 103)
                        frame, before = await until(screen, _msg("a3"))
                        assert not [f for f in before if f.get("kind") == "vitals"]
                    # the screen connected through the restart is told its stream broke
                    resync, _ = await until(watching, lambda f: f.get("type") == "resync")
                    assert "lost" in resync["reason"], resync
                    await send(watching, {"type": "resume",
                                          "last_event_id": resync["last_event_id"]})
                    snap = await recv(watching)
                    assert snap["type"] == "snapshot", snap
                    [patient] = snap["calls"]
                    assert patient["latest_vitals"]["hr"] == 103


def test_server_start_is_read_from_info_server() -> None:
    info = {"server_time_usec": 1_700_000_123_456_789, "uptime_in_seconds": 100}
    assert server_started_ms(info) == 1_700_000_023_456
    assert server_started_ms({}) is None
    assert server_started_ms(ResponseError("unknown subcommand")) is None


async def test_resume_after_redis_restored_an_older_save_gets_a_snapshot() -> None:
    with private_redis() as server:
        async with _cluster_on(server.url, 2) as c:
            call = await c.new_call()
            call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
            async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
                await recv(crew)
                async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
                    await recv(screen)
                    await _vitals(crew, call_id, "a0", 80)
                    seen, _ = await until(screen, _msg("a0"))
                server.save()  # what the restart restores: the stream up to a0
                await _vitals(crew, call_id, "a1", 101)  # lost with the restart
                server.restart_from_save()
                await _vitals(crew, call_id, "a2", 102)
                # a0 is in the stream again, but a1 is not: no replay can be trusted
                async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1",
                                last_event_id=seen["id"]) as screen:
                    snap = await recv(screen)
                    assert snap["type"] == "snapshot", snap
                    [patient] = snap["calls"]
                    assert patient["latest_vitals"]["hr"] == 102
                    await _vitals(crew, call_id, "a3", 103)
                    frame, before = await until(screen, _msg("a3"))
                    assert not [f for f in before if f.get("kind") == "vitals"]
