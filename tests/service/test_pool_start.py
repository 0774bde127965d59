"""The pool's working set is open and warmed before the first request: a connection opened
during traffic puts its start-up (connect, auth, codecs) and its backend's cold first
statements on the requests that needed it, and a burst that grows the pool piles up."""

from __future__ import annotations

import asyncpg
import pytest

from dispatch.app import open_services
from dispatch.config import Settings
from dispatch.pool_warmup import table_reads, warm_pool
from tests.conftest import DATABASE_URL, drop_isolation, isolated_settings


def test_by_default_the_whole_pool_is_opened_at_start() -> None:
    settings = Settings()
    assert settings.db_pool_min >= settings.db_pool_max


async def test_open_services_opens_and_keeps_the_working_set() -> None:
    settings = isolated_settings(db_pool_min=4, db_pool_max=10)
    try:
        async with open_services(settings) as state:
            assert state["pool"].get_size() >= 4
    finally:
        await drop_isolation(settings)


async def test_a_minimum_above_the_maximum_opens_the_maximum() -> None:
    settings = isolated_settings(db_pool_min=8, db_pool_max=3)
    try:
        async with open_services(settings) as state:
            assert state["pool"].get_size() == 3
    finally:
        await drop_isolation(settings)


async def test_warm_pool_runs_every_step_on_as_many_distinct_connections() -> None:
    pool = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=5)
    seen: list[tuple[str, int]] = []

    async def first(conn: asyncpg.Connection) -> None:
        seen.append(("first", await conn.fetchval("SELECT pg_backend_pid()")))

    async def second(conn: asyncpg.Connection) -> None:
        seen.append(("second", await conn.fetchval("SELECT pg_backend_pid()")))

    try:
        assert await warm_pool(pool, connections=3, steps=[first, second]) == 3
        assert pool.get_size() == 3 and pool.get_idle_size() == 3
    finally:
        await pool.close()
    pids = {pid for _, pid in seen}
    assert len(pids) == 3
    for pid in pids:  # each connection ran the steps in order
        assert [step for step, p in seen if p == pid] == ["first", "second"]


async def test_a_failing_step_gives_every_connection_back() -> None:
    pool = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=3)

    async def broken(conn: asyncpg.Connection) -> None:
        await conn.execute("SELECT * FROM no_such_table_for_warm_up")

    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await warm_pool(pool, connections=2, steps=[broken])
        assert pool.get_idle_size() == pool.get_size()
    finally:
        await pool.close()


async def test_table_reads_change_nothing() -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    schema = "t_warm_reads"
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'CREATE TABLE "{schema}".a (x int)')
        await conn.execute(f'INSERT INTO "{schema}".a VALUES (1), (2)')
        await conn.execute(f"SET search_path = {schema}")
        await table_reads(conn, schema)
        assert await conn.fetchval("SELECT count(*) FROM a") == 2
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
