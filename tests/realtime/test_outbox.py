"""Publishing after commit: what Redis refuses waits in the outbox and follows, in order.

Against the real PostgreSQL and Redis: a stream key holding a string is a stream Redis
refuses to append to (WRONGTYPE), as it refuses every write when it is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis

from dispatch.db.migrate import migrate
from dispatch.db.pool import create_pool
from dispatch.db.statements import counting_statements
from dispatch.domain import Role, VehicleKind
from dispatch.live_index import LiveIndex
from dispatch.realtime.bus import Bus
from dispatch.realtime.outbox import OUTBOX_CHANNEL_PREFIX, OutboxPublisher, add_outbox
from dispatch.realtime.resp import RespEndpoint, counting_exchanges
from tests.conftest import (
    DATABASE_URL,
    REDIS_URL,
    drop_isolation,
    isolated_settings,
    running_service,
)
from tests.service.city import CENTRE, city

WAIT_S = 15.0


@asynccontextmanager
async def _outbox() -> AsyncIterator[tuple[OutboxPublisher, Bus, aioredis.Redis, asyncpg.Pool]]:
    """An outbox on a schema of its own (no sweeping task: the test flushes), with the
    lean link to Redis that deployments use."""
    settings = isolated_settings()
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await migrate(conn=conn, schema=settings.db_schema)
    finally:
        await conn.close()
    pool = await create_pool(dsn=DATABASE_URL, schema=settings.db_schema, min_size=1,
                             max_size=4, command_timeout_s=10)
    redis = aioredis.Redis.from_url(REDIS_URL)
    bus = Bus(redis=redis, prefix=settings.redis_prefix, maxlen=1_000,
              endpoint=RespEndpoint.from_url(REDIS_URL, timeout_s=5.0))
    try:
        yield OutboxPublisher(pool=pool, bus=bus, schema=settings.db_schema), bus, redis, pool
    finally:
        await bus.close()
        await redis.aclose()
        await pool.close()
        await drop_isolation(settings)


async def _payloads(bus: Bus, topic: str) -> list[dict[str, Any]]:
    return [e.payload for e in await bus.read_after(topic, after_id="0")]


async def _queued(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM handover_outbox")
        return count


async def test_events_redis_refuses_wait_in_the_outbox_and_follow_in_order() -> None:
    async with _outbox() as (outbox, bus, redis, pool):
        assert len(await outbox.publish([("hospital:HY", {"n": 0})]) or []) == 1
        await redis.set(bus.key("hospital:HX"), "not a stream")
        assert await outbox.publish([("hospital:HX", {"n": 1})]) is None  # never raises
        assert not await outbox.flush()  # still refused: kept for the next try
        assert await _queued(pool) == 1
        # A later event of a stream Redis takes waits behind it, not overtaking it.
        assert await outbox.publish([("hospital:HY", {"n": 2})]) is None
        assert await _payloads(bus, "hospital:HY") == [{"n": 0}]
        assert await _queued(pool) == 2
        await redis.delete(bus.key("hospital:HX"))
        assert await outbox.flush()
        assert await _payloads(bus, "hospital:HX") == [{"n": 1}]
        assert await _payloads(bus, "hospital:HY") == [{"n": 0}, {"n": 2}]
        assert await _queued(pool) == 0
        # Caught up: published at once again.
        assert len(await outbox.publish([("hospital:HY", {"n": 3})]) or []) == 1
        assert await _queued(pool) == 0


async def test_events_queued_by_transactions_go_first_when_asked() -> None:
    async with _outbox() as (outbox, bus, _, pool):
        async with pool.acquire() as conn:
            await add_outbox(conn=conn, items=[("console", {"n": 1})])
        await outbox.publish([("console", {"n": 2})], after_queued=True)
        assert await _payloads(bus, "console") == [{"n": 1}, {"n": 2}]


async def test_a_position_batch_redis_refused_reaches_the_consoles_once_it_is_back() -> None:
    async with running_service() as svc:
        await svc.load(city(n_vehicles=2, seed=3))
        console = f"{svc.settings.redis_prefix}:stream:console"
        redis = aioredis.Redis.from_url(REDIS_URL)
        try:
            await redis.delete(console)
            await redis.set(console, "not a stream")
            lon = CENTRE[0] + 0.0123
            r = await svc.client.post("/v1/vehicles/V0000/position",
                                      headers=svc.auth(Role.CREW, vehicle_id="V0000"),
                                      json={"lon": lon, "lat": CENTRE[1],
                                            "at": datetime.now(UTC).isoformat()})
            assert r.status_code == 204, r.text
            pool = await create_pool(dsn=DATABASE_URL, schema=svc.settings.db_schema,
                                     min_size=1, max_size=2, command_timeout_s=10)
            try:
                await _until(lambda: _queued_positive(pool))  # the batch, refused, waits
            finally:
                await pool.close()
            await redis.delete(console)

            async def delivered() -> bool:
                rows: Any = await redis.xrange(console)
                return any(v["lon"] == lon for _, fields in rows
                           for v in _json(fields).get("vehicles", []))

            await _until(delivered)  # by the outbox's sweep, nothing re-sent by the client
        finally:
            await redis.aclose()


async def _queued_positive(pool: asyncpg.Pool) -> bool:
    return await _queued(pool) > 0


def _json(fields: dict[bytes, bytes]) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(fields[b"d"])
    return data


async def _until(check: Any) -> None:
    async with asyncio.timeout(WAIT_S):
        while not await check():
            await asyncio.sleep(0.05)


async def test_index_writes_sent_with_the_events_hear_their_own_outcome() -> None:
    """One exchange carries a request's live-index write and its events: a refused index
    write marks the index stale while the events go out; refused events wait in the
    outbox while the index write is applied; behind the outbox, the write still goes."""
    async with _outbox() as (outbox, bus, redis, pool):
        index = LiveIndex(redis=redis, prefix=bus.key("idx"))
        geo = index.addition(vehicle_id="V1", kind=VehicleKind.ALS, lon=CENTRE[0],
                             lat=CENTRE[1])
        key = str(geo.command[1])
        await redis.set(key, "not a GEO set")
        with counting_exchanges() as count:
            assert len(await outbox.publish([("console", {"n": 1})], along=[geo]) or []) == 1
        assert count.n == 1 and count.items == [["GEOADD", "XADD"]]
        assert index.stale and await _payloads(bus, "console") == [{"n": 1}]
        await redis.delete(key)
        index.stale = False
        await redis.set(bus.key("console"), "not a stream")
        assert await outbox.publish([("console", {"n": 2})], along=[geo]) is None
        assert not index.stale and await redis.zscore(key, "V1") is not None
        assert await _queued(pool) == 1
        gone = index.removal(vehicle_id="V1", kind=VehicleKind.ALS)
        assert await outbox.publish([("console", {"n": 3})], along=[gone]) is None  # behind
        assert await redis.zscore(key, "V1") is None and await _queued(pool) == 2
        await redis.delete(bus.key("console"))
        assert await outbox.flush()
        assert await _payloads(bus, "console") == [{"n": 2}, {"n": 3}]
        await redis.delete(key)


async def test_a_batch_is_one_read_one_exchange_and_its_commit() -> None:
    async with _outbox() as (outbox, bus, _, pool):
        async with pool.acquire() as conn, conn.transaction():
            await add_outbox(conn=conn, items=[("console", {"n": 1}), ("hospital:H1", {"n": 2}),
                                               ("console", {"n": 3})])
        with counting_statements() as statements, counting_exchanges() as exchanges:
            assert await outbox.flush()
        # BEGIN, the publishers' lock with the batch's rows, COMMIT
        assert statements.n == 3, statements.items
        assert exchanges.items == [["XADD", "XADD", "XADD"]]
        assert await _payloads(bus, "console") == [{"n": 1}, {"n": 3}]
        assert await _queued(pool) == 0


async def test_a_drain_leaves_the_batch_to_the_instance_holding_the_lock() -> None:
    async with _outbox() as (outbox, bus, _, pool):
        async with pool.acquire() as conn:
            await add_outbox(conn=conn, items=[("console", {"n": 1})])
        async with pool.acquire() as other, other.transaction():
            # the lock the publishers of this schema take (OutboxPublisher._drain)
            await other.execute("SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))",
                                OUTBOX_CHANNEL_PREFIX)
            assert await outbox.flush()
            assert await _payloads(bus, "console") == [] and await _queued(pool) == 1
        assert await outbox.flush()
        assert await _payloads(bus, "console") == [{"n": 1}]
