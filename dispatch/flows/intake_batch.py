"""Group commit of intakes: the one-statement intakes (dispatch.db.calls.insert_intake)
arriving within a short window written on one connection, in one transaction.

Each plain intake is one statement and its own transaction, so each pays a COMMIT (a
WAL flush). With `intake_batch_ms` > 0, an intake hands its statement here instead: the
statements that arrive within that many milliseconds of the first (at most
`intake_batch_max`) run one after another in one transaction on a connection this
writer holds, and one COMMIT ends them. Each waiter gets its own row, and only after
the COMMIT: a call is committed before its 201.

In one transaction a later statement sees the earlier ones' claims (the claim checks
that a vehicle is still `available`), so two calls of one batch never claim one vehicle.
A batch PostgreSQL refuses (an Idempotency-Key taken, the one-live-assignment index,
anything in one intake) is rolled back and its intakes written again each alone: only
the one at fault fails, with its own error, which its intake handles as it would have
written alone. A batch lost with its connection fails every intake in it.

Stopping writes what is pending first; an intake arriving after that writes itself on
its own connection. Measured against writing each alone: docs/benchmarks.md, "Group
commit of intakes".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg

from dispatch.db import calls as call_db
from dispatch.realtime.batching import CONNECTION_ERRORS, HeldConnection

__all__ = ["IntakeBatcher"]

log = logging.getLogger(__name__)

_Waiter = tuple[call_db.IntakeWrite, "asyncio.Future[asyncpg.Record]"]


class IntakeBatcher:
    """One writer task for this instance's one-statement intakes."""

    def __init__(self, *, pool: asyncpg.Pool, gather_s: float, max_batch: int) -> None:
        # The intake's statement is planned as it is on any pooled connection.
        self._conn = HeldConnection(pool=pool, generic_plans=False)
        self._gather_s = gather_s
        self._max_batch = max_batch
        self._pending: list[_Waiter] = []
        self._first_at = 0.0  # when the oldest pending intake arrived (loop time)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # What was written: transactions (one COMMIT each) and the intakes in them.
        self.transactions = 0
        self.intakes = 0

    async def start(self) -> None:
        """Take the writer's connection and start it. Held from now on: the waiters each
        hold a pooled connection, and a full pool must not starve the batch they wait on."""
        self._loop = asyncio.get_running_loop()
        async with self._conn.use():
            pass
        self._task = asyncio.create_task(self._run(), name="intake-batches")

    async def stop(self) -> None:
        """Write what is pending, then stop (later intakes write themselves)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._conn.release()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def insert(
        self, conn: asyncpg.Connection, intake: call_db.IntakeWrite
    ) -> asyncpg.Record:
        """insert_intake's row for `intake`, once its batch has committed; written alone
        on `conn` (the caller's) when the writer is not running."""
        if self._stopping or self._task is None or self._task.done() or self._loop is None:
            return await call_db.insert_intake(conn=conn, intake=intake)
        future: asyncio.Future[asyncpg.Record] = self._loop.create_future()
        if not self._pending:
            self._first_at = self._loop.time()
        self._pending.append((intake, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        assert self._loop is not None
        while self._pending or not self._stopping:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            # The window runs from the oldest pending intake's arrival: one that came in
            # while the previous batch was written waits no longer than the window.
            wait_s = self._first_at + self._gather_s - self._loop.time()
            if wait_s > 0 and len(self._pending) < self._max_batch and not self._stopping:
                await asyncio.sleep(wait_s)
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._write(batch)

    async def _write(self, batch: list[_Waiter]) -> None:
        try:
            async with self._conn.use() as conn:
                rows = await _insert_all(conn, [intake for intake, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiter hears of it
            if len(batch) == 1 or isinstance(exc, CONNECTION_ERRORS):
                _fail(batch, exc)
                return
            # Rolled back: each alone, so only the intake at fault fails.
            log.info("intake batch of %d refused (%r); writing each alone", len(batch), exc)
            for n, waiter in enumerate(batch):
                try:
                    await self._write_alone(waiter)
                except CONNECTION_ERRORS as lost:
                    _fail(batch[n:], lost)
                    return
            return
        self.transactions += 1
        self.intakes += len(batch)
        for (_, future), row in zip(batch, rows, strict=True):
            if not future.done():  # a waiter that left still had its call written
                future.set_result(row)

    async def _write_alone(self, waiter: _Waiter) -> None:
        """One intake, its own transaction; its error goes to its waiter alone (a lost
        connection is raised)."""
        intake, future = waiter
        try:
            async with self._conn.use() as conn:
                row = await call_db.insert_intake(conn=conn, intake=intake)
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - its waiter hears of it
            _fail([waiter], exc)
            return
        self.transactions += 1
        self.intakes += 1
        if not future.done():
            future.set_result(row)


async def _insert_all(
    conn: asyncpg.Connection, intakes: Sequence[call_db.IntakeWrite]
) -> list[asyncpg.Record]:
    """The intakes' statements in order, one transaction (one alone needs none)."""
    if len(intakes) == 1:
        return [await call_db.insert_intake(conn=conn, intake=intakes[0])]
    async with conn.transaction():
        return [await call_db.insert_intake(conn=conn, intake=i) for i in intakes]


def _fail(batch: Sequence[_Waiter], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
