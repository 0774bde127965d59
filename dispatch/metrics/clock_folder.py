"""The call_clocks fold, run after the writes rather than in them (migration 0024).

A write only records the calls it changed in `call_clocks_pending`; `fold_pending` refolds
them from their events. Readers of call_clocks fold first, in their own snapshot
(queries.py); `fold_every` runs in each instance's background so the pending table stays
small and a reader's fold short. Folds are serial (a table lock): an instance that finds
another fold running skips its turn instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

log = logging.getLogger(__name__)

# A second keeps the pending table to about a second of writes; a reader folds what the
# background has not yet.
FOLD_EVERY_S = 1.0

# LOCK TABLE takes no snapshot: a REPEATABLE READ transaction that runs this first gets a
# snapshot that sees every fold committed before, and no fold runs until it ends.
LOCK_FOLDS = "LOCK TABLE call_clocks_fold_lock IN SHARE UPDATE EXCLUSIVE MODE"

# The background folds a backlog (writes while no instance ran) this many calls per
# transaction, each well within the statement timeout, rather than all in one.
BATCH_CALLS = 5000


async def fold_pending(conn: asyncpg.Connection, *, wait: bool = True,
                       max_calls: int | None = None) -> int | None:
    """Fold every pending call (at most `max_calls`); how many, or None if another fold
    runs and not `wait`."""
    folded: int | None = await conn.fetchval(
        "SELECT call_clocks_fold_pending($1, $2)", wait, max_calls)
    return folded


async def fold_every(pool: asyncpg.Pool, *, every_s: float = FOLD_EVERY_S,
                     batch_calls: int = BATCH_CALLS) -> None:
    """Fold what is pending every `every_s`, until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        try:
            async with pool.acquire() as conn:
                while await fold_pending(conn, wait=False, max_calls=batch_calls) == batch_calls:
                    pass  # a full batch: more may wait
        except Exception:  # noqa: BLE001 - the background fold must outlive any one failure
            # nothing is lost: the calls stay pending for the next turn or the next reader
            log.exception("call_clocks fold failed; trying again in %.1f s", every_s)
