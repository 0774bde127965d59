"""Publish after commit: the one policy for events whose facts PostgreSQL has committed.

Two ways in. Inside a transaction, `add_outbox` queues the events with the facts, so
they leave only if the facts commit. After a commit, `OutboxPublisher.publish` appends
them to the streams at once and, if Redis refuses, queues them in the outbox instead:
the fact is committed and the client may already hold its answer, so the event must
follow it, never be dropped, and never fail the request that caused it.

The outbox is drained by `OutboxPublisher`, woken by PostgreSQL NOTIFY (delivered only
when the writing transaction commits) and, in case a notification is lost with a
connection, by a periodic sweep. An advisory lock lets one instance at a time publish,
so messages reach each stream in the order written. Delivery is at least once: a
pipeline that Redis refused part of is queued whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from redis.exceptions import RedisError

from dispatch.realtime.bus import Along, Bus

__all__ = ["OUTBOX_CHANNEL_PREFIX", "OutboxPublisher", "Outgoing", "add_outbox", "take_outbox"]

log = logging.getLogger(__name__)

# Events for the streams: (topic, payload), in the order they must arrive.
Outgoing = list[tuple[str, dict[str, Any]]]

# NOTIFY channel, suffixed with the schema: instances of other deployments sharing the
# database do not wake each other.
OUTBOX_CHANNEL_PREFIX = "handover_outbox_"
_BATCH = 500
# Redis or the link to it failed: the outbox publishes once it is back.
_PUBLISH_ERRORS = (RedisError, OSError, TimeoutError)


async def add_outbox(*, conn: asyncpg.Connection, items: Outgoing) -> None:
    """Queue bus messages to publish once the caller's transaction commits."""
    if not items:
        return
    await conn.executemany("INSERT INTO handover_outbox (topic, payload) VALUES ($1, $2)", items)
    # NOTIFY is delivered only on commit: the publisher never sees uncommitted rows.
    await conn.execute(f"SELECT pg_notify('{OUTBOX_CHANNEL_PREFIX}' || current_schema(), '')")


# The publishers' lock and the batch in one statement: rows are read (and locked) only
# when the lock is held; the lock's row comes back even when no message does.
_TAKE = """
WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(hashtext($2)) AS held),
gone AS (
    DELETE FROM handover_outbox WHERE id IN (
        SELECT id FROM handover_outbox WHERE (SELECT held FROM lock)
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING id, topic, payload)
SELECT l.held, g.id, g.topic, g.payload FROM lock l LEFT JOIN gone g ON true ORDER BY g.id"""


async def take_outbox(*, conn: asyncpg.Connection, limit: int, lock: str) -> Outgoing | None:
    """Remove and return the oldest outbox rows, inside the caller's transaction, if it
    takes the publishers' transaction lock `lock`; None when another transaction holds it."""
    rows = await conn.fetch(_TAKE, limit, lock)
    if not rows[0]["held"]:
        return None
    return [(r["topic"], dict(r["payload"])) for r in rows if r["id"] is not None]


class OutboxPublisher:
    """One per instance: publishes after commit, and drains handover_outbox to the bus."""

    def __init__(
        self, *, pool: asyncpg.Pool, bus: Bus, schema: str, sweep_every_s: float = 1.0
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._channel = f"{OUTBOX_CHANNEL_PREFIX}{schema}"
        self._sweep_every_s = sweep_every_s
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        # Events this instance queued after Redis refused them may still be waiting:
        # later ones queue behind them rather than overtake them.
        self._behind = False
        # How many times publish() queued: a drain clears _behind only if none was queued
        # while it ran.
        self._queued = 0

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

    async def publish(self, items: Outgoing, *, after_queued: bool = False,
                      along: Sequence[Along] = ()) -> list[str] | None:
        """Publish events whose facts are committed; return their stream ids, or None when
        Redis refused them and they wait in the outbox (published once it is back).

        `after_queued`: first publish what transactions queued so far (the events these
        follow, a re-routing before the frame that caused it, say). `along`: writes to
        send in the same exchange (the live index's; see Bus.publish_many), sent even
        when the events go to the outbox; each hears of its own failure.
        Never raises for Redis: what is committed is answered, and its events follow.
        A database that fails as well loses them from the streams only; clients still
        read the facts in their snapshot on reconnecting."""
        if after_queued and not await self.flush():
            self._behind = True  # Redis failed: these wait behind the queued ones
        if items and not self._behind:
            try:
                return await self._bus.publish_many(items, along=along)
            except _PUBLISH_ERRORS as exc:
                log.warning("%d event(s) to the outbox, Redis failed: %r", len(items), exc)
        elif along:
            with contextlib.suppress(*_PUBLISH_ERRORS):  # each heard of its failure
                await self._bus.publish_many([], along=along)
        if not items:
            return []
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await add_outbox(conn=conn, items=items)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            log.exception("%d committed event(s) neither published nor queued", len(items))
            return None
        self._behind = True
        self._queued += 1
        return None

    async def flush(self) -> bool:
        """Publish what transactions queued now, not at the next wake (the screens hear of
        it before the answer); False when that failed: the sweep retries."""
        try:
            await self._drain()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, RedisError, OSError,
                TimeoutError) as exc:
            log.warning("handover outbox not published now: %r; the sweep retries", exc)
            return False
        return True

    async def _drain(self) -> int:
        """Publish everything committed so far; return how many messages went out."""
        sent = 0
        async with self._flush_lock:
            queued = self._queued
            while True:
                # A batch: BEGIN, the lock and the rows in one statement, one exchange
                # with Redis, COMMIT.
                async with self._pool.acquire() as conn, conn.transaction():
                    items = await take_outbox(conn=conn, limit=_BATCH, lock=self._channel)
                    if items is None:
                        return sent  # another instance is publishing them in order
                    # Published before the DELETE commits: a failure keeps the rows.
                    await self._bus.publish_many(items)
                sent += len(items)
                if len(items) < _BATCH:
                    if queued == self._queued:
                        self._behind = False  # all that was queued has gone out
                    return sent

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._sweep_every_s)
            self._wake.clear()
            try:
                if self._listener is None:
                    await self._listen()
                await self._drain()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, RedisError, OSError,
                    TimeoutError) as exc:
                log.warning("handover outbox: %s; retrying", exc)
