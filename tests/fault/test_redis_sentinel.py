"""Redis behind Sentinels: the master is killed under load and a replica takes over.

The service names the Sentinels (redis+sentinel://), not a server. After the kill it
answers 503 with Retry-After until the Sentinels agree on the replica, then takes calls
again without a restart; two consoles (one on each instance, following `resync` with a
`resume` as a console app does) get every call taken: as its `call_created` frame, or in
a snapshot. A frame that no stream holds any more (a fan-out that failed, or one the
old master had not replicated) must have been announced with a `resync`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from dispatch.cli import demo_collection
from dispatch.realtime.redis_client import open_client
from dispatch.realtime.resp import RespEndpoint, RespLink
from tests.fault.checks import record_problems, report_figures
from tests.fault.ha import SERVICE, SentinelSet, sentinel_set, serving
from tests.fault.load import CallLoad
from tests.fault.screens import Screen
from tests.fault.servers import PrivatePostgres
from tests.fault.stack import Stack, station_points

pytestmark = pytest.mark.fault

RATE_PER_S = 4.0
DURATION_S = 14.0  # 56 calls, fewer than the demo's 100 emergency units
KILL_AT_S = 3.0
# Sentinels judge the master down after 1 s (PrivateSentinel), then agree and promote.
FAILOVER_WITHIN_S = 15.0

T = TypeVar("T")


def seen_by(screen: Screen) -> set[str]:
    """Calls a console was shown: a call_created frame, or a snapshot listing it."""
    shown = set(screen.created())
    for frame in screen.frames:
        if frame.get("type") == "snapshot":
            shown |= {str(c["id"]) for c in frame["calls"][0]["queue"]}
    return shown


async def test_sentinel_failover_keeps_calls_and_console_frames() -> None:
    pg = PrivatePostgres()
    try:
        pg.start()
        await pg.create_database()
        async with sentinel_set() as redis, serving(
                pg=pg, redis=redis.master, overrides={"DISPATCH_REDIS_URL": redis.url},
                instances=2) as s:
            await run_failover(s, redis)
    finally:
        pg.close()


async def run_failover(s: Stack, redis: SentinelSet) -> None:
    consoles = [Screen(url, follow_resync=True) for url in s.urls]
    for console in consoles:
        await console.open(token=s.token())
        await console.wait_for("snapshot")
    load = CallLoad(http=s.http, urls=s.urls, headers=s.auth(),
                    points=station_points(demo_collection()), retry_for_s=40.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sending = asyncio.create_task(load.run(rate_per_s=RATE_PER_S, duration_s=DURATION_S))
    await asyncio.sleep(KILL_AT_S)
    old_port = redis.master.port
    killed_at = loop.time()
    redis.master.kill()
    new_port = await redis.wait_failover(old_port=old_port, timeout_s=FAILOVER_WITHIN_S)
    promoted_at = loop.time()
    await sending
    await load.settle()
    for console in consoles:
        await console.quiet(for_s=2.0, at_most_s=15.0)
        await console.close()

    created = {c.call_id for c in load.calls if c.created and c.call_id}
    answers = load.answers()
    statuses = load.statuses()
    after = [a for a in answers if a.sent_at >= promoted_at]
    firsts = [a.sent_at + a.elapsed_s for a in answers
              if a.sent_at >= killed_at and a.status == 201]
    async with s.db() as conn:
        broken = await record_problems(conn, load.calls)
    taken_after = {c.call_id for c in load.calls
                   if c.created and c.call_id and (c.acked_at or 0.0) > promoted_at}
    screens = []
    for i, console in enumerate(consoles):
        missed = created - seen_by(console)
        resyncs = [f for f in console.frames if f.get("type") == "resync"]
        screens.append({"instance": i, "frames": len(console.frames),
                        "resyncs": len(resyncs),
                        "snapshots": sum(f.get("type") == "snapshot" for f in console.frames),
                        "calls_not_shown": len(missed)})
        if missed:
            broken.append(f"console on instance {i} was never shown {len(missed)} of "
                          f"{len(created)} calls taken (resyncs: {len(resyncs)}): "
                          f"{sorted(missed)[:3]}")
        if not taken_after & console.created():
            broken.append(f"console on instance {i} got no call_created frame for the "
                          f"{len(taken_after)} calls taken after the failover")
    report_figures("test_sentinel_failover_keeps_calls_and_console_frames", {
        "calls": len(load.calls), "statuses": dict(statuses),
        "kill_at_s": killed_at - started, "new_master_port": new_port,
        "sentinel_failover_s": promoted_at - killed_at,
        "first_201_after_kill_s": (min(firsts) - killed_at) if firsts else None,
        "last_503_after_kill_s": max((a.sent_at + a.elapsed_s - killed_at for a in answers
                                      if a.status == 503), default=None),
        "answers_after_failover": dict(Counter(a.status for a in after)),
        "consoles": screens,
    })
    if load.unacknowledged():
        broken.append(f"{len(load.unacknowledged())} calls never acknowledged: "
                      f"{[(c.key, c.answers[-1]) for c in load.unacknowledged()][:3]}")
    if not set(statuses) <= {200, 201, 503}:
        broken.append(f"answers other than 200/201/503: {dict(statuses)}")
    if not all(a.retry_after for a in answers if a.status == 503):
        broken.append("a 503 without Retry-After")
    if not any(a.status == 201 for a in after):
        broken.append("no call taken (201) after the failover: "
                      f"{dict(Counter(a.status for a in after))}")
    assert not broken, "\n".join(broken)


async def until_answered(do: Callable[[], Awaitable[T]], within_s: float = 15.0) -> T:
    """`do()` again after each Redis error until it answers (as the service's loops do)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        try:
            return await do()
        except RedisError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_links_follow_a_switchover_to_the_new_master() -> None:
    """SENTINEL FAILOVER: the old master lives on as a replica (READONLY to writes, an
    UNBLOCKED error to a blocked XREAD). Both clients must move to the new master."""
    async with sentinel_set() as redis:
        endpoint = RespEndpoint.from_url(redis.url, timeout_s=2.0)
        writer, reader = RespLink(endpoint), RespLink(endpoint)
        client = open_client(redis.url, timeout_s=2.0, max_connections=10)
        sentinel = aioredis.Redis(host="127.0.0.1", port=redis.sentinels[0].port)
        try:
            await writer.execute([("XADD", "s", "*", "d", "before")])
            await client.set("k", "before")
            blocked = asyncio.create_task(reader.execute(
                [("XREAD", "BLOCK", 30_000, "STREAMS", "s", "$")], extra_wait_s=30.0))
            await asyncio.sleep(0.2)
            await sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
            new_port = await redis.wait_failover(old_port=redis.master.port)
            with pytest.raises(RedisConnectionError):
                async with asyncio.timeout(15.0):
                    await blocked  # the demoted master unblocks it

            [new_id] = await until_answered(
                lambda: writer.execute([("XADD", "s", "*", "d", "after")]))
            await until_answered(lambda: client.set("k", "after"))
            [rows] = await until_answered(lambda: reader.execute(
                [("XREAD", "COUNT", 10, "STREAMS", "s", "0")]))
        finally:
            await sentinel.aclose()
            await client.aclose()
            await writer.close()
            await reader.close()
        new_master = aioredis.Redis(host="127.0.0.1", port=new_port)
        try:
            assert (await new_master.role())[0] == b"master"
            kept = await new_master.xrange("s")
            assert kept and kept[-1][0] == new_id
            assert await new_master.get("k") == b"after"
        finally:
            await new_master.aclose()
        assert rows[0][1][-1][0] == new_id


async def test_lean_link_leaves_a_master_demoted_behind_the_sentinels_back() -> None:
    """An operator's REPLICAOF (no Sentinel closes the clients): a write on the old
    connection gets READONLY, and the Sentinels still name the demoted server for a
    while. The link must treat both as a lost connection (the caller retries), never
    keep writing to a replica or hand READONLY to the caller as a bad command."""
    async with sentinel_set() as redis:
        link = RespLink(RespEndpoint.from_url(redis.url, timeout_s=2.0))
        master = aioredis.Redis(host="127.0.0.1", port=redis.master.port)
        replica = aioredis.Redis(host="127.0.0.1", port=redis.replica.port)
        try:
            await link.execute([("XADD", "s", "*", "d", "before")])
            await replica.execute_command("REPLICAOF", "NO", "ONE")
            await master.execute_command("REPLICAOF", "127.0.0.1", str(redis.replica.port))
            with pytest.raises(RedisConnectionError, match="became a replica"):
                await link.execute([("XADD", "s", "*", "d", "after")])
            # the Sentinels have not noticed yet: the link reaches the old master again
            assert await redis.master_port() == redis.master.port
            with pytest.raises(RedisConnectionError, match="not the master"):
                await link.execute([("XADD", "s", "*", "d", "after")])
        finally:
            await link.close()
            await master.aclose()
            await replica.aclose()
