"""The asyncpg pool: JSON codecs via orjson, the configured schema on the search path."""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import orjson


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog"
        )


async def create_pool(
    *, dsn: str, schema: str, min_size: int, max_size: int, command_timeout_s: float
) -> asyncpg.Pool:
    """Open a pool whose connections see `schema` first and speak JSON through orjson."""
    pool = await asyncpg.create_pool(
        dsn=dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout_s,
        init=init_connection,
        server_settings={"search_path": f"{schema},public", "application_name": "dispatch"},
    )
    assert pool is not None
    return pool


def lent_or_pooled(
    pool: asyncpg.Pool, lent: asyncpg.Connection | None
) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """The caller's connection if it lends one (kept by the caller), else one from the pool
    for the block. A caller holding a connection while it calls a step that would take
    another holds two: enough such callers at once wait on each other for the pool."""
    if lent is not None:
        return contextlib.nullcontext(lent)
    acquired: AbstractAsyncContextManager[asyncpg.Connection] = pool.acquire()
    return acquired
