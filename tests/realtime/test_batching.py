"""Group commit: what connections submit together is written together, and answered each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from dispatch.db.pool import create_pool
from dispatch.realtime.batching import Batcher, HeldConnection
from tests.conftest import DATABASE_URL
from tests.waiting import WITHIN_S


class Store:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.after: list[list[int]] = []
        self.fail = False

    async def flush(self, items: Sequence[int]) -> list[int]:
        if self.fail:
            raise ConnectionError("database gone")
        self.batches.append(list(items))
        await asyncio.sleep(0.01)  # the statement's round trip
        return [i * 10 for i in items]

    async def published(self, items: Sequence[int], results: Sequence[int]) -> None:
        assert list(results) == [i * 10 for i in items]
        self.after.append(list(items))


async def test_items_submitted_while_gathering_share_one_write_and_get_their_own_result(
) -> None:
    store = Store()
    batcher = Batcher(name="t", flush=store.flush, after=store.published, gather_s=0.02)
    await batcher.start()
    try:
        async def later(item: int, delay_s: float) -> int:
            await asyncio.sleep(delay_s)
            return await batcher.submit(item)

        first = await asyncio.gather(batcher.submit(0), later(1, 0.005), later(2, 0.01))
        assert first == [0, 10, 20]
        assert store.batches == [[0, 1, 2]]
        assert store.after == [[0, 1, 2]]
        # without gathering, whatever arrives while a write is in flight is the next batch
        quick = Batcher(name="q", flush=store.flush)
        await quick.start()
        try:
            lone = asyncio.ensure_future(quick.submit(7))
            await asyncio.sleep(0.001)
            late = await asyncio.gather(quick.submit(8), quick.submit(9))
            assert (await lone, late) == (70, [80, 90])
            assert store.batches[-2:] == [[7], [8, 9]]
        finally:
            await quick.stop()
    finally:
        await batcher.stop()


async def test_a_failed_write_fails_every_item_of_its_batch_and_the_next_batch_goes_on() -> None:
    store = Store()
    batcher = Batcher(name="t", flush=store.flush, gather_s=0.005)
    await batcher.start()
    try:
        store.fail = True
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2),
                                        return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        store.fail = False
        assert await batcher.submit(3) == 30
    finally:
        await batcher.stop()
    with pytest.raises(ConnectionError):
        await batcher.submit(4)


async def test_a_held_connection_plans_once_and_goes_back_to_the_pool_reset() -> None:
    pool = await create_pool(dsn=DATABASE_URL, schema="public", min_size=1, max_size=1,
                             command_timeout_s=10)
    held = HeldConnection(pool=pool)
    try:
        async with held.use() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        async with held.use() as again:
            assert again is conn  # kept between batches
        await held.release()
        async with pool.acquire() as pooled:  # the pool's only connection, reset
            assert await pooled.fetchval("SHOW plan_cache_mode") == "auto"
        # after a connection error the next use takes a fresh connection from the pool
        with pytest.raises(asyncpg.InterfaceError):
            async with held.use() as conn:
                await conn.close()
                await conn.fetchval("SELECT 1")
        async with held.use() as fresh:
            assert await fresh.fetchval("SELECT 1") == 1
        await held.release()
    finally:
        await pool.close()


async def test_a_held_connection_the_server_closed_is_replaced_before_the_next_batch() -> None:
    pool = await create_pool(dsn=DATABASE_URL, schema="public", min_size=1, max_size=2,
                             command_timeout_s=10)
    held = HeldConnection(pool=pool)
    try:
        closed = asyncio.Event()
        async with held.use() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            # called with the writer's own listener, which lets the connection go
            conn.add_termination_listener(lambda _: closed.set())
        # as a PostgreSQL restart does: the server ends the session between two batches
        async with pool.acquire() as other:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
        await asyncio.wait_for(closed.wait(), WITHIN_S)  # asyncpg has seen the socket close
        async with held.use() as fresh:
            assert await fresh.fetchval("SELECT pg_backend_pid()") != pid
        await held.release()
    finally:
        await pool.close()


async def test_a_batch_refused_for_one_items_content_writes_and_answers_the_others() -> None:
    pool = await create_pool(dsn=DATABASE_URL, schema="public", min_size=1, max_size=1,
                             command_timeout_s=10)
    held = HeldConnection(pool=pool)
    written: list[list[str]] = []
    published: list[list[str]] = []

    async def flush(items: Sequence[str]) -> list[str]:
        written.append(list(items))
        async with held.use() as conn:  # PostgreSQL's text cannot hold U+0000
            rows = await conn.fetch(
                "SELECT upper(t) AS u FROM unnest($1::text[]) WITH ORDINALITY AS x(t, n)"
                " ORDER BY n", list(items))
        return [r["u"] for r in rows]

    async def after(items: Sequence[str], results: Sequence[str]) -> None:
        published.append(list(items))

    batcher = Batcher(name="t", flush=flush, after=after, gather_s=0.02)
    await batcher.start()
    try:
        results = await asyncio.gather(batcher.submit("cpr"), batcher.submit("cpr\x00"),
                                        batcher.submit("ecg"), return_exceptions=True)
        assert results[0] == "CPR" and results[2] == "ECG", results
        assert isinstance(results[1], asyncpg.DataError), results
        assert written == [["cpr", "cpr\x00", "ecg"], ["cpr"], ["cpr\x00"], ["ecg"]]
        assert published == [["cpr", "ecg"]]  # in order, once
        assert await batcher.submit("next") == "NEXT"  # the held connection goes on
    finally:
        await batcher.stop()
        await held.release()
        await pool.close()
