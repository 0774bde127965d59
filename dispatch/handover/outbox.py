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
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="handover-outbox")

    async def _listen(self) -> None:
        listener = await self._pool.acquire()
        try:
            # The server closing it (a restart) hands it back to the pool by itself: the
            # sweep publishes meanwhile, and the next round listens on a fresh one.
            listener.add_termination_listener(self._listener_lost)
            await listener.add_listener(self._channel, self._notified)
        except BaseException:
            await self._pool.release(listener)
            raise
        self._listener = listener

    def _listener_lost(self, conn: object) -> None:
        if conn is self._listener:
            self._listener = None

    async def stop(self) -> None:
        """Stop publishing and give the listening connection back."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                listener.remove_termination_listener(self._listener_lost)
                await listener.remove_listener(self._channel, self._notified)
            with contextlib.suppress(asyncpg.InterfaceError):  # already back (lost)
                await self._pool.release(listener)

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
                if self._listener is None:
                    await self._listen()
                await self.flush()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, RedisError, OSError,
                    TimeoutError) as exc:
                log.warning("handover outbox: %s; retrying", exc)
