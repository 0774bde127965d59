"""What a COMMIT costs alone, and what sharing one saves: single-row INSERTs each its own
transaction, B of them in one transaction (BEGIN, B statements, COMMIT), and B rows in
one multi-row statement.

    python -m loadtests.bench_commit [--rows 1000] [--repeats 3]

On a schema of its own in the local PostgreSQL (DISPATCH_DATABASE_URL, else the test
one), dropped at the end. Per row, medians of alternated repetitions: this client's CPU,
its PostgreSQL backend's CPU (/proc/<pid>/stat) and wall time. Group commit of intakes
(docs/benchmarks.md) is the "B statements in one transaction" case.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time

import asyncpg

from loadtests.cpu import own_cpu_s, pid_cpu_s
from loadtests.local import database_url

_ONE = "INSERT INTO t (a, b) VALUES ($1, $2)"
_MANY = "INSERT INTO t (a, b) SELECT * FROM unnest($1::text[], $2::jsonb[])"
_ROW = ("x" * 40, '{"k": 1}')
MODES = (("autocommit", 1), ("transaction", 1), ("transaction", 2), ("transaction", 4),
         ("transaction", 8), ("transaction", 32), ("one statement", 8), ("one statement", 32))


async def _write(conn: asyncpg.Connection, mode: str, per: int, rows: int) -> None:
    if mode == "autocommit":
        for _ in range(rows):
            await conn.execute(_ONE, *_ROW)
    elif mode == "transaction":
        for _ in range(0, rows, per):
            async with conn.transaction():
                for _ in range(per):
                    await conn.execute(_ONE, *_ROW)
    else:
        for _ in range(0, rows, per):
            await conn.execute(_MANY, [_ROW[0]] * per, [_ROW[1]] * per)


async def _run(conn: asyncpg.Connection, backend: int, mode: str, per: int,
               rows: int) -> tuple[float, float, float]:
    """Client CPU, backend CPU and wall microseconds per row."""
    client, pg, wall = own_cpu_s(), pid_cpu_s(backend) or 0.0, time.perf_counter()
    await _write(conn, mode, per, rows)
    return (1e6 * (own_cpu_s() - client) / rows,
            1e6 * ((pid_cpu_s(backend) or 0.0) - pg) / rows,
            1e6 * (time.perf_counter() - wall) / rows)


async def bench(*, rows: int, repeats: int) -> list[str]:
    schema = f"lc_{secrets.token_hex(5)}"
    conn = await asyncpg.connect(database_url())
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"; SET search_path = "{schema}";'
                           "CREATE TABLE t (id bigserial PRIMARY KEY, a text, b jsonb)")
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        settings = [f"{name} {await conn.fetchval(f'SHOW {name}')}"
                    for name in ("synchronous_commit", "fsync", "wal_sync_method")]
        for mode, per in MODES:  # statements prepared, the table's first pages
            await _run(conn, backend, mode, per, 64)
        done: dict[tuple[str, int], list[tuple[float, float, float]]] = {m: [] for m in MODES}
        for i in range(repeats):
            for mode, per in MODES if i % 2 == 0 else MODES[::-1]:
                done[(mode, per)].append(await _run(conn, backend, mode, per, rows))
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    out = [", ".join(settings), "",
           "| written as | rows per commit | client CPU us/row | PostgreSQL CPU us/row "
           "| wall us/row |", "|---|---|---|---|---|"]
    for (mode, per), runs in done.items():
        client, pg, wall = (round(statistics.median(r[i] for r in runs)) for i in range(3))
        out.append(f"| {mode} | {per} | {client} | {pg} | {wall} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows per mode and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(os.linesep.join(asyncio.run(bench(rows=args.rows, repeats=args.repeats))))


if __name__ == "__main__":
    main()
