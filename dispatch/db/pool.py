"""The asyncpg pool: JSON codecs via orjson, the configured schema on the search path, a
bounded wait for a connection, and a reset on release only when the session changed."""

from __future__ import annotations

import contextlib
import re
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import asyncpg.pool
import orjson

from dispatch.db.statements import note_statement


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# Every array type the service's statements bind or return, but text[] (asyncpg has its
# codec built in). asyncpg learns any other array's codec by asking the server, per
# connection and per statement that first names one: each ask a query on pg_type whose
# planning alone costs PostgreSQL milliseconds, and with `jit` on three round trips, in
# the first requests a new connection serves. Prepared once on connecting, they are all
# asked for in one go.
_ARRAY_TYPES = ("jsonb[]", "uuid[]", "timestamptz[]", "float8[]", "bigint[]", "int[]",
                "bool[]")
_PRIME_ARRAY_CODECS = "SELECT " + ", ".join(
    f"${n}::{t}" for n, t in enumerate(_ARRAY_TYPES, start=1))


async def init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog"
        )
    # past the statement counter: setting up a connection is not a request's statement
    await asyncpg.Connection.prepare(conn, _PRIME_ARRAY_CODECS)


# Statements that leave state in the session past their transaction: what asyncpg's reset
# query (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) undoes. Matched
# loosely: a false match only costs a reset.
_SESSION_STATE = re.compile(
    r"pg_(?:try_)?advisory_lock"  # session-level advisory locks (not the _xact_ ones)
    r"|(?:^|;)\s*SET\s+(?!LOCAL\b|TRANSACTION\b)"  # SET [SESSION] name ..., not SET LOCAL
    r"|set_config\s*\(|\bLISTEN\b|\bWITH\s+HOLD\b",
    re.IGNORECASE)


class SessionTrackingConnection(asyncpg.Connection):
    """A connection that notes when a statement it sends may change the session.

    asyncpg resets every connection given back to the pool: one round trip and four
    statements (~6.7 releases per call). Our requests change no session state: their
    settings are `SET LOCAL` and their locks transaction-scoped; a few places (the queue
    sweep's and a vehicle's status lock, the outbox's LISTEN, the frame writers' plan cache
    setting) do. Each query text is classified once; a connection that sent none of those
    goes back without the reset (an open transaction is still rolled back by the pool).
    """

    _classified: dict[str, bool] = {}  # query text -> may change the session
    _CLASSIFIED_MAX = 4096  # texts built with values in them must not grow it for ever

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_changed = False

    def _note(self, query: str) -> None:
        note_statement(query)
        changes = self._classified.get(query)
        if changes is None:
            if len(self._classified) >= self._CLASSIFIED_MAX:
                self._classified.clear()
            changes = self._classified[query] = bool(_SESSION_STATE.search(query))
        if changes:
            self.session_changed = True

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().execute(query, *args, **kwargs)

    async def executemany(self, command: str, args: Any, **kwargs: Any) -> Any:
        self._note(command)
        return await super().executemany(command, args, **kwargs)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().fetch(query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().fetchval(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().fetchrow(query, *args, **kwargs)

    async def fetchmany(self, query: str, args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().fetchmany(query, args, **kwargs)

    async def prepare(self, query: str, **kwargs: Any) -> Any:
        self._note(query)
        return await super().prepare(query, **kwargs)

    def cursor(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().cursor(query, *args, **kwargs)


async def reset_if_changed(conn: asyncpg.Connection) -> None:
    """The pool's reset: asyncpg's full reset query only for a connection whose session may
    have changed (any other connection than ours is always reset)."""
    if getattr(conn, "session_changed", True):
        await conn.execute(conn.get_reset_query())
        conn.session_changed = False


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
        connection_class=SessionTrackingConnection,
        record_class=asyncpg.Record,
        reset=reset_if_changed,
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
