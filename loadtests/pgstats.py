"""PostgreSQL statements, rows and commits per call of a benchmark run.

With `pg_stat_statements` loaded (a private cluster, loadtests/private_postgres.py, started
by `private_cluster`), each run resets the statistics of its target's own database and
reads them back at the end: top-level and nested statements (`track = all`, so trigger,
function and FK-check statements count), rows, and the most frequent statements. Commits
are the database's `xact_commit` delta (every transaction, read-only ones too). Without the
extension only the commits are read, and on a shared cluster they include other clients'.

PostgreSQL 15 backends publish their transaction counts up to 10 s after going idle
(PGSTAT_IDLE_INTERVAL), so the closing commit count is read after FLUSH_WAIT_S, and a
window opens only once the database's backends have been idle that long (or the commits
of what came just before, a read-back, would land in it); the statement counts are read
at once (pg_stat_statements counts as statements end). The commits still include the
service's own background work (timers) over the run and the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from loadtests.private_postgres import PrivatePostgres, running

FLUSH_WAIT_S = 11.0
TOP_STATEMENTS = 10
QUERY_CHARS = 160
STATEMENT_KEYS = ("statements_per_call", "toplevel_per_call", "nested_per_call",
                  "rows_per_call", "commit_statements_per_call")

# copied from the shared cluster so that figures taken on the private one compare
COPIED_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "jit",
                   "shared_buffers", "max_connections")
STATEMENT_SETTINGS: Mapping[str, str] = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",  # statements run by triggers and functions too
    "pg_stat_statements.track_utility": "on",  # BEGIN, COMMIT, SET, RESET, ...
    "pg_stat_statements.max": "10000",
}


async def shared_settings(url: str, names: Iterable[str] = COPIED_SETTINGS) -> dict[str, str]:
    """The server at `url`'s values of `names` (SHOW)."""
    conn = await asyncpg.connect(url)
    try:
        return {name: str(await conn.fetchval(f"SHOW {name}")) for name in names}
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def private_cluster(*, databases: Iterable[str],
                          copy_from: str) -> AsyncIterator[PrivatePostgres]:
    """A private cluster with pg_stat_statements and the durability and memory settings of
    the server at `copy_from`, holding `databases`; stopped and deleted on the way out."""
    settings = {**await shared_settings(copy_from), **STATEMENT_SETTINGS}
    pg = PrivatePostgres(settings=settings, prefix="dispatch-bench-pg-")
    with running(pg):
        conn = await asyncpg.connect(pg.admin_dsn)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        finally:
            await conn.close()
        for name in databases:
            await pg.create_database(name)
        yield pg


def statement_figures(read: Mapping[str, Any], *, calls: int) -> dict[str, Any]:
    """Per call: statements (top-level, nested), rows, commits and the top statements.

    `read`: a StatementMeter's window (pg_stat_statements rows of one database: query,
    toplevel, calls, rows, mean_exec_time; its xact_commit delta; where they came from);
    `calls`: the calls sent. Statement figures are None without pg_stat_statements.
    """
    n = max(1, calls)
    rows: list[Mapping[str, Any]] = read["rows"]
    out: dict[str, Any] = {"source": read["source"],
                           "commits_per_call": round(read["commits"] / n, 2)}
    if read["source"] != "pg_stat_statements":
        return {**out, **dict.fromkeys(STATEMENT_KEYS), "top": []}
    top = sum(r["calls"] for r in rows if r["toplevel"])
    nested = sum(r["calls"] for r in rows if not r["toplevel"])
    ranked = sorted(rows, key=lambda r: (-r["calls"], not r["toplevel"], r["query"]))
    return {
        **out,
        "statements_per_call": round((top + nested) / n, 2),
        "toplevel_per_call": round(top / n, 2),
        "nested_per_call": round(nested / n, 2),
        "rows_per_call": round(sum(r["rows"] for r in rows) / n, 2),
        "commit_statements_per_call": round(
            sum(r["calls"] for r in rows if r["query"].strip().upper() == "COMMIT") / n, 2),
        "top": [{"query": " ".join(r["query"].split())[:QUERY_CHARS],
                 "toplevel": r["toplevel"], "per_call": round(r["calls"] / n, 2),
                 "mean_ms": round(r["mean_exec_time"], 3)}
                for r in ranked[:TOP_STATEMENTS]],
    }


@dataclass
class StatementMeter:
    """Statements and commits of one database over a window (`start` .. `stop`).

    `admin_url` reaches any database of the cluster (its readings are not counted: they run
    in another database, or are few, on a shared cluster without the extension).
    """

    admin_url: str
    database: str
    flush_wait_s: float = FLUSH_WAIT_S
    statements: bool = field(init=False, default=False)
    _dbid: int = 0
    _commits: int = 0

    async def _commit_count(self, conn: asyncpg.Connection) -> int:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datid = $1", self._dbid)
        return int(value or 0)

    async def start(self) -> None:
        """Reset this database's statement statistics and note its commit count."""
        conn = await asyncpg.connect(self.admin_url)
        try:
            self._dbid = await conn.fetchval(
                "SELECT oid FROM pg_database WHERE datname = $1", self.database)
            self.statements = bool(await conn.fetchval(
                "SELECT to_regclass('pg_stat_statements') IS NOT NULL AND "
                "'pg_stat_statements' = ANY(string_to_array("
                "current_setting('shared_preload_libraries'), ', '))"))
            # what the database's backends did just before (a read-back) is published up to
            # FLUSH_WAIT_S after they went idle: let it land before this window opens
            idle_s = await conn.fetchval(
                "SELECT extract(epoch FROM now() - max(state_change))::float8"
                " FROM pg_stat_activity WHERE datid = $1", self._dbid)
            if idle_s is not None and idle_s < self.flush_wait_s:
                await asyncio.sleep(self.flush_wait_s - idle_s)
            if self.statements:
                await conn.execute("SELECT pg_stat_statements_reset(0, $1, 0)", self._dbid)
            self._commits = await self._commit_count(conn)
        finally:
            await conn.close()

    async def stop(self) -> dict[str, Any]:
        """The window's statement rows and commit count (see `statement_figures`)."""
        conn = await asyncpg.connect(self.admin_url)
        try:
            rows = [dict(r) for r in await conn.fetch(
                "SELECT query, toplevel, calls, rows, mean_exec_time FROM pg_stat_statements"
                " WHERE dbid = $1", self._dbid)] if self.statements else []
            await asyncio.sleep(self.flush_wait_s)
            commits = await self._commit_count(conn) - self._commits
        finally:
            await conn.close()
        return {"rows": rows, "commits": commits,
                "source": "pg_stat_statements" if self.statements else "pg_stat_database"}
