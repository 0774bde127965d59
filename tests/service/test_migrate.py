"""Migrations: an applied file that changed stops start-up; earlier records get checksums."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest

from dispatch.db.migrate import MigrationChanged, checksum, migrate
from tests.conftest import DATABASE_URL, running_service

FILES = [("0001_a", "CREATE TABLE a (x int);"), ("0002_b", "CREATE TABLE b (y int);")]


@pytest.fixture
async def schema_conn() -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    schema = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        yield conn, schema
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def _recorded(conn: asyncpg.Connection, schema: str) -> dict[str, str | None]:
    rows = await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
    return {r["version"]: r["checksum"] for r in rows}


async def test_a_changed_applied_migration_is_refused_and_nothing_is_applied(
    schema_conn: tuple[asyncpg.Connection, str],
) -> None:
    conn, schema = schema_conn
    assert await migrate(conn=conn, schema=schema, files=FILES[:1]) == ["0001_a"]
    assert await _recorded(conn, schema) == {"0001_a": checksum(FILES[0][1])}
    edited = [("0001_a", "CREATE TABLE a (x bigint);"), FILES[1]]
    with pytest.raises(MigrationChanged, match="0001_a") as refused:
        await migrate(conn=conn, schema=schema, files=edited)
    assert refused.value.versions == ("0001_a",)
    # the pending 0002 was not applied either: the database is as it was
    assert await _recorded(conn, schema) == {"0001_a": checksum(FILES[0][1])}
    assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.b") is None
    # the same text with CRLF line endings is the same file
    crlf = [("0001_a", FILES[0][1] + "\r\n"), FILES[1]]
    assert checksum(crlf[0][1]) == checksum(FILES[0][1] + "\n")
    assert await migrate(conn=conn, schema=schema, files=FILES) == ["0002_b"]


async def test_versions_applied_before_checksums_get_them_on_the_first_run(
    schema_conn: tuple[asyncpg.Connection, str],
) -> None:
    conn, schema = schema_conn
    # the table as earlier releases left it: no checksum column
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.execute(f'''CREATE TABLE "{schema}".schema_migrations (
        version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())''')
    await conn.execute(f'CREATE TABLE "{schema}".a (x int)')
    await conn.execute(f"INSERT INTO \"{schema}\".schema_migrations VALUES ('0001_a')")
    assert await migrate(conn=conn, schema=schema, files=FILES) == ["0002_b"]
    assert await _recorded(conn, schema) == {v: checksum(sql) for v, sql in FILES}
    with pytest.raises(MigrationChanged):
        await migrate(conn=conn, schema=schema, files=[("0001_a", "-- edited"), FILES[1]])


async def test_the_service_does_not_start_on_a_changed_migration() -> None:
    async with running_service() as service:
        schema = service.settings.db_schema
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await migrate(conn=conn, schema=schema)
        await conn.execute(f"""UPDATE "{schema}".schema_migrations SET checksum = 'edited'
                               WHERE version = '0001_core'""")
        with pytest.raises(MigrationChanged, match="0001_core"):
            async with running_service(db_schema=schema):
                pass
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
