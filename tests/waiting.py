"""Waiting for something to happen, not for a time that usually suffices."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import redis.asyncio as aioredis

T = TypeVar("T")

WITHIN_S = 10.0


async def eventually(probe: Callable[[], Awaitable[T]], *, what: str,
                     within_s: float = WITHIN_S, every_s: float = 0.02) -> T:
    """`await probe()`'s first truthy result, asked every `every_s`; an AssertionError
    naming `what` (and the last result) if none comes within `within_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not within {within_s} s: {what} (last: {value!r})")
        await asyncio.sleep(every_s)


async def waiting_for_lock(observer: asyncpg.Connection, *, pid: int | None = None,
                           statement: str | None = None) -> None:
    """Until a PostgreSQL session (the one with `pid`, or one running a statement that
    contains `statement`) waits for a lock; `observer` asks pg_locks."""
    async def waits() -> int:
        n: int = await observer.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE NOT l.granted AND a.pid <> pg_backend_pid()"
            " AND ($1::int IS NULL OR a.pid = $1)"
            " AND ($2::text IS NULL OR strpos(a.query, $2) > 0)", pid, statement)
        return n

    await eventually(waits, what=f"a session (pid {pid}, {statement!r}) waiting for a lock")


async def indexed(redis: aioredis.Redis, key: str, member: str) -> bool:
    """Whether the GEO set `key` holds `member` (a vehicle in the live index)."""
    position = await redis.geopos(key, member)
    return position != [None]
