"""The asyncpg pool: JSON codecs via orjson, the configured schema on the search path, and
a bounded wait for a connection."""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import asyncpg.pool
import orjson


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog"
        )


class BoundedPool(asyncpg.pool.Pool):
    """A pool whose `acquire()` waits at most `acquire_timeout` unless told otherwise.

    Without it a request waits for a connection for ever (a frozen PostgreSQL, a pool
    exhausted) and its client sees a hang instead of a 503 it can retry.
    """

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(
    *, dsn: str, schema: str, min_size: int, max_size: int, command_timeout_s: float,
    acquire_timeout_s: float | None = None,
) -> asyncpg.Pool:
    """Open a pool whose connections see `schema` first and speak JSON through orjson.

    `command_timeout_s` bounds each statement and each new connection's start-up;
    `acquire_timeout_s` (default: the command timeout) each wait for a connection.
    """
    pool = BoundedPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=init_connection,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        acquire_timeout=command_timeout_s if acquire_timeout_s is None else acquire_timeout_s,
        command_timeout=command_timeout_s,
        # a frozen server accepts TCP but never answers the start-up: bound that as well
        timeout=command_timeout_s,
        server_settings={"search_path": f"{schema},public", "application_name": "dispatch"},
    )
    await pool
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
