"""The pool resets a connection on release only when its session may have changed, and
then undoes everything asyncpg's reset undoes."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from dispatch.db.pool import SessionTrackingConnection, create_pool
from tests.conftest import DATABASE_URL


@pytest.fixture
async def pool() -> AsyncIterator[asyncpg.Pool]:
    """One connection, so every acquire gets the same session back."""
    pool = await create_pool(dsn=DATABASE_URL, schema=f"t_{secrets.token_hex(6)}",
                             min_size=1, max_size=1, command_timeout_s=10.0)
    try:
        yield pool
    finally:
        await pool.close()


async def _last_query(pid: int) -> str:
    """What the backend `pid` ran last, as PostgreSQL reports it."""
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        return str(await conn.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1",
                                       pid))
    finally:
        await conn.close()


async def test_a_connection_that_changed_nothing_goes_back_without_a_reset(
        pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        async with conn.transaction():
            await conn.execute("SET LOCAL work_mem = '8MB'")  # the transaction's only
            await conn.fetchval("SELECT pg_advisory_xact_lock(42)")
            await conn.fetchval("SELECT 'an UPDATE ... SET is not a session setting'")
    assert await _last_query(pid) == "COMMIT;"  # not asyncpg's reset query
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW work_mem") != "8MB"


@pytest.mark.parametrize("statement", [
    "SET work_mem = '8MB'", "set session work_mem to '8MB'",
    "SELECT set_config('work_mem', '8MB', false)",
])
async def test_a_session_setting_is_undone(pool: asyncpg.Pool, statement: str) -> None:
    async with pool.acquire() as conn:
        default = await conn.fetchval("SHOW work_mem")
        await conn.execute(statement)
        assert await conn.fetchval("SHOW work_mem") == "8MB"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW work_mem") == default


@pytest.mark.parametrize("statement", [
    "SELECT pg_advisory_lock(4242)", "SELECT pg_try_advisory_lock(4242, 7)",
    "SELECT pg_advisory_lock_shared(4242)",
])
async def test_a_session_lock_left_held_is_released(pool: asyncpg.Pool,
                                                    statement: str) -> None:
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        await conn.fetchval(statement)
    async with pool.acquire() as conn:
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", pid)
    assert held == 0


async def test_listening_stops(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("LISTEN reset_test")
        assert await conn.fetch("SELECT pg_listening_channels()")
    async with pool.acquire() as conn:
        assert await conn.fetch("SELECT pg_listening_channels()") == []


async def test_an_open_transaction_is_rolled_back(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("CREATE TEMP TABLE reset_probe (a int)")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT to_regclass('pg_temp.reset_probe')") is None


async def test_a_new_connection_serves_array_parameters_without_asking_for_codecs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The codecs of the array types the service binds are learnt on connecting, in one
    ask: a request never waits for (nor PostgreSQL plans) an asyncpg type lookup."""
    asked: list[set[int]] = []
    lookup = SessionTrackingConnection._introspect_types

    async def counted(self: asyncpg.Connection, typeoids: set[int], timeout: float) -> object:
        asked.append(set(typeoids))
        return await lookup(self, typeoids, timeout)

    monkeypatch.setattr(SessionTrackingConnection, "_introspect_types", counted)
    pool = await create_pool(dsn=DATABASE_URL, schema=f"t_{secrets.token_hex(6)}",
                             min_size=1, max_size=1, command_timeout_s=10.0)
    try:
        assert len(asked) == 1  # on connecting
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT $1::uuid[] AS u, $2::jsonb[] AS j, $3::timestamptz[] AS t,
                          $4::float8[] AS f, $5::bigint[] AS b, $6::int[] AS i,
                          $7::bool[] AS o""",
                [uuid4()], [{"a": 1}], [datetime.now(UTC)], [1.5], [2], [3], [True])
        assert row["j"] == [{"a": 1}] and row["o"] == [True]
        assert len(asked) == 1
    finally:
        await pool.close()
