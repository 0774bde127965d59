"""Group commit: frames from every connection of this instance, one statement per batch.

At 1 Hz per crew, a busy instance receives a crew frame every millisecond or so. Writing
each one alone costs a pool checkout, a round trip and asyncpg's connection reset on
release; the profile of the benchmark put two thirds of the service's CPU there. A
`Batcher` takes whatever the connections submitted while the previous batch was being
written, and for `gather_s` after the first item arrived (the crew writers wait 5 ms:
a few milliseconds against a mobile link's tens), and writes it in one statement, then
answers each submitter. A PostgreSQL writer keeps one pooled connection for itself
(`HeldConnection`: no checkout and reset per batch, and one generic plan for its
statement) and takes a fresh one after a connection error.

Each connection handles its frames one after another and submits at most a couple of
items per frame, so the pending list is bounded by the number of open connections.
A frame is acknowledged only when its batch has committed. A batch refused by PostgreSQL
(one item's content it cannot store, say) is written again item by item, so that only the
item at fault fails; a batch lost with its connection fails every item in it (the client
resends; the writes are idempotent), as written one by one they would only fail again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

__all__ = ["CONNECTION_ERRORS", "Batcher", "HeldConnection"]

log = logging.getLogger(__name__)

# The database or the link to it failed, whatever was written: the same write fails alike
# until it is back.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError, TimeoutError)

I = TypeVar("I")  # noqa: E741 - the item type
R = TypeVar("R")

Flush = Callable[[Sequence[I]], Awaitable[Sequence[R]]]
After = Callable[[Sequence[I], Sequence[R]], Awaitable[None]]


class Batcher(Generic[I, R]):
    """One writer task: submitted items are written together, in submission order."""

    def __init__(
        self,
        *,
        name: str,
        flush: Flush[I, R],
        after: After[I, R] | None = None,
        max_batch: int = 1_000,
        gather_s: float = 0.0,
    ) -> None:
        self._name = name
        self._flush = flush
        self._after = after
        self._max_batch = max_batch
        self._gather_s = gather_s
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Start the writer task."""
        # Kept: asyncio.get_running_loop() costs a getpid() system call on every call.
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Stop writing; anything still pending fails (its client resends)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _, future in self._pending:
            if not future.done():
                future.set_exception(ConnectionError("the service is stopping"))
        self._pending.clear()

    async def submit(self, item: I) -> R:
        """Write one item with the next batch; return its result once committed."""
        if self._task is None or self._task.done() or self._loop is None:
            raise ConnectionError(f"{self._name} is not running")
        future: asyncio.Future[R] = self._loop.create_future()
        self._pending.append((item, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._gather_s > 0:
                # Let the other connections' items join this batch.
                await asyncio.sleep(self._gather_s)
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._write(batch)

    async def _write(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await self._flush(items)
        except Exception as exc:  # noqa: BLE001 - every submitter hears of the failure
            log.warning("%s: batch of %d not written: %r", self._name, len(items), exc)
            if len(batch) > 1 and not isinstance(exc, CONNECTION_ERRORS):
                await self._write_one_by_one(batch)
                return
            _fail(batch, exc)
            return
        self._answer(batch, results)
        await self._after_commit(items, results)

    async def _write_one_by_one(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        """Write a refused batch's items each alone: the others of an item PostgreSQL
        cannot store are written and answered, in order; it alone fails."""
        written: list[I] = []
        results: list[R] = []
        for n, (item, future) in enumerate(batch):
            try:
                [result] = await self._flush([item])
            except Exception as exc:  # noqa: BLE001 - its submitter hears of it
                if isinstance(exc, CONNECTION_ERRORS):
                    _fail(batch[n:], exc)  # the database went away meanwhile
                    break
                log.warning("%s: item not written: %r", self._name, exc)
                _fail([(item, future)], exc)
                continue
            self._answer([(item, future)], [result])
            written.append(item)
            results.append(result)
        if written:
            await self._after_commit(written, results)

    @staticmethod
    def _answer(batch: list[tuple[I, asyncio.Future[R]]], results: Sequence[R]) -> None:
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # a submitter that left still had its item written
                future.set_result(result)

    async def _after_commit(self, items: Sequence[I], results: Sequence[R]) -> None:
        if self._after is not None:
            try:
                # Before the next batch is written: what one connection sends in order
                # is published in order.
                await self._after(items, results)
            except Exception as exc:  # noqa: BLE001 - committed and acked; ours to log
                log.error("%s: after-commit step of %d failed: %r", self._name, len(items), exc)


def _fail(batch: Sequence[tuple[object, asyncio.Future[R]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


class HeldConnection:
    """One pooled connection kept by a writer between batches."""

    def __init__(self, *, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[asyncpg.Connection]:
        """The held connection; dropped (a fresh one next time) after a connection error."""
        try:
            if self._conn is None:
                conn = self._conn = await self._pool.acquire()
                # A connection the server closed (a restart) goes back to the pool by
                # itself, and using it then fails: the next batch takes a fresh one.
                conn.add_termination_listener(self._terminated)
                # A writer runs its one statement all day on a few rows, by primary keys:
                # the plan never changes, and planning each execution anew cost PostgreSQL
                # more than executing it. (Undone by the pool's reset when it goes back.)
                await conn.execute("SET plan_cache_mode = force_generic_plan")
            yield self._conn
        except CONNECTION_ERRORS:
            await self.release()
            raise

    def _terminated(self, conn: object) -> None:
        if conn is self._conn:  # (the pool's proxy, as held)
            self._conn = None

    async def release(self) -> None:
        """Give the connection back to the pool."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                conn.remove_termination_listener(self._terminated)
                await self._pool.release(conn)
