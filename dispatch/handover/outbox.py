"""Publish the handover outbox: messages written inside other transactions, after commit.

Woken by PostgreSQL NOTIFY (delivered only when the writing transaction commits) and, in
case a notification is lost with a connection, by a periodic sweep. An advisory lock
lets one instance at a time publish, so messages reach each stream in the order written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from redis.exceptions import RedisError

from dispatch.bus import Bus
from dispatch.handover import repo

__all__ = ["OutboxPublisher"]

log = logging.getLogger(__name__)

_BATCH = 500
# PostgreSQL down, restarting or frozen: the sweep tries again, the task must not end
_DOWN = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class OutboxPublisher:
    """One per instance: drains handover_outbox to the bus."""

    def __init__(
        self, *, pool: asyncpg.Pool, bus: Bus, schema: str, sweep_every_s: float = 1.0
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._channel = f"{repo.OUTBOX_CHANNEL_PREFIX}{schema}"
        self._sweep_every_s = sweep_every_s
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    async def start(self) -> None:
        """Listen for commits and start the publishing task."""
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(self._channel, self._notified)
        self._task = asyncio.create_task(self._run(), name="handover-outbox")

    async def stop(self) -> None:
        """Stop publishing and give the listening connection back."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_listener()

    async def _drop_listener(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            # its connection may have died with a PostgreSQL restart: give it back anyway
            with contextlib.suppress(*_DOWN):
                await listener.remove_listener(self._channel, self._notified)
            with contextlib.suppress(*_DOWN):
                await self._pool.release(listener)

    async def _relisten(self) -> None:
        """Listen again on a fresh connection once the old one died (a restart)."""
        await self._drop_listener()
        listener = await self._pool.acquire()
        try:
            await listener.add_listener(self._channel, self._notified)
        except BaseException:
            await self._pool.release(listener)
            raise
        self._listener = listener

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    async def flush(self) -> int:
        """Publish everything committed so far; return how many messages went out."""
        sent = 0
        async with self._flush_lock:
            while True:
                async with self._pool.acquire() as conn, conn.transaction():
                    if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))",
                                               self._channel):
                        return sent  # another instance is publishing them in order
                    items = await repo.take_outbox(conn=conn, limit=_BATCH)
                    # Published before the DELETE commits: a failure keeps the rows.
                    await self._bus.publish_many(items)
                sent += len(items)
                if len(items) < _BATCH:
                    return sent

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._sweep_every_s)
            self._wake.clear()
            try:
                if self._listener is None or self._listener.is_closed():
                    await self._relisten()
                await self.flush()
            except (*_DOWN, RedisError) as exc:
                log.warning("handover outbox: %s; retrying", exc)
