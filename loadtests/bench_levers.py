"""PostgreSQL CPU of two levers of the intake, measured apart from the service.

    python -m loadtests.bench_levers --calls 400 --rounds 3

A whole intake run on a shared machine moves by more than these levers save, so each is
measured here alone, each variant in turn, `--rounds` times, as CPU milliseconds of
the one PostgreSQL backend doing the work (/proc/<pid>/stat) per call:

* fold: the calls row and the events of one call (intake: received, answered, located,
  triaged; then the dispatch; then the crew's departure and clearing), one transaction per
  call, written as the service writes them, in four event INSERTs ("per_step"); with all
  the call's events in one INSERT ("one_insert": what a single INSERT per intake would
  leave of the call_clocks fold); and with the call_clocks triggers disabled ("none": the
  same writes without any fold, so the fold's own share shows).
* reset: acquire, one `SELECT 1`, release, through asyncpg's pool with its default reset
  and through dispatch.db.pool (reset only when the session changed); ~6.7 releases make
  one call, so the figure is given per release and per call.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from dispatch.db.pool import create_pool
from loadtests.cpu import own_cpu_s, pid_cpu_s
from loadtests.local import database_url

MIGRATIONS = Path(__file__).resolve().parent.parent / "dispatch" / "db" / "migrations"
RELEASES_PER_CALL = 6.7  # measured with log_statement=all on the intake and its clear

REFERENCE_SQL = """
INSERT INTO districts (id, name, geometry) VALUES ('D', 'D', '{}');
INSERT INTO stations (id, name, district_id, lon, lat) VALUES ('S1', 'S1', 'D', 118.8, 32.0);
INSERT INTO vehicles (id, call_sign, kind, station_id) VALUES ('V1', 'A1', 'als', 'S1');
"""


async def _schema(conn: asyncpg.Connection, *, name: str) -> None:
    """Create `name` with every migration and a district, a station and a vehicle."""
    await conn.execute(f'CREATE SCHEMA "{name}"')
    await conn.execute(f'SET search_path TO "{name}", public')
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        await conn.execute(path.read_text(encoding="utf-8"))
    await conn.execute(REFERENCE_SQL)


_EVENTS = """INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                                  $5::jsonb[])"""


_BATCHES = ((("call_received", "call_answered", "location_fixed", "triaged"), None),
            (("dispatched",), "V1"), (("departed",), "V1"), (("cleared",), "V1"))


async def _one_call(conn: asyncpg.Connection, *, at: datetime, one_insert: bool) -> None:
    """The statements of one call's timeline that reach the fold, as the service batches
    them (the intake's events, the dispatch, the departure, the clearing) or all in one
    INSERT, in one transaction so commits weigh the same in every variant."""
    call_id = uuid.uuid4()
    batches = _BATCHES if not one_insert else (
        (tuple(k for kinds, _ in _BATCHES for k in kinds),
         [v for kinds, v in _BATCHES for _ in kinds]),)
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO calls (id, caller_number, status, acuity, transport_class, triage,
               required_kinds, district_id, received_at, answered_at)
           VALUES ($1, '13800000000', 'new', 2, 'emergency', '{"flags": {}}', '{als}', 'D',
                   $2, $2)""", call_id, at)
        for kinds, vehicle in batches:
            n = len(kinds)
            vehicles = vehicle if isinstance(vehicle, list) else [vehicle] * n
            await conn.execute(_EVENTS, [call_id] * n, vehicles, list(kinds), [at] * n,
                               [orjson.dumps({"station_id": "S1"}).decode()] * n)


async def fold(*, calls: int, rounds: int) -> dict[str, Any]:
    """Backend CPU ms per call of a call's writes per step, in one INSERT, and with no
    fold, in turn."""
    conn = await asyncpg.connect(database_url())
    tag = f"ltl_{secrets.token_hex(4)}"
    labels = ["per_step", "one_insert", "none"]
    names = {label: f"{tag}_{label}" for label in labels}
    results: dict[str, list[float]] = {label: [] for label in labels}
    try:
        for label in labels:  # "none" last: the ALTER below applies to it
            await _schema(conn, name=names[label])
        # user triggers only: the foreign keys' system triggers stay
        await conn.execute("ALTER TABLE events DISABLE TRIGGER USER;"
                           " ALTER TABLE calls DISABLE TRIGGER USER")
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        at = datetime(2026, 1, 1, 8, tzinfo=UTC)
        for r in range(rounds):
            for label in labels[r % 3:] + labels[:r % 3]:
                await conn.execute(f'SET search_path TO "{names[label]}", public')
                one_insert = label == "one_insert"
                # plans cached before the clock starts
                await _one_call(conn, at=at, one_insert=one_insert)
                began = pid_cpu_s(pid) or 0.0
                for i in range(calls):
                    await _one_call(conn, at=at + timedelta(seconds=i), one_insert=one_insert)
                results[label].append(1000 * ((pid_cpu_s(pid) or 0.0) - began) / calls)
    finally:
        for name in names.values():
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()
    return _summary(results, unit="pg_cpu_ms_per_call")


async def reset(*, releases: int, rounds: int) -> dict[str, Any]:
    """Backend + client CPU ms per release, asyncpg's default reset against ours."""
    schema = "public"
    ours = await create_pool(dsn=database_url(), schema=schema, min_size=1, max_size=1,
                             command_timeout_s=10.0)  # max_queries 50,000: see the pid
    default = await asyncpg.create_pool(database_url(), min_size=1, max_size=1,
                                        max_queries=10**9)
    pg: dict[str, list[float]] = {"default": [], "ours": []}
    client: dict[str, list[float]] = {"default": [], "ours": []}
    try:
        pools = {"default": default, "ours": ours}
        for r in range(rounds):
            for label in (("default", "ours") if r % 2 == 0 else ("ours", "default")):
                pool = pools[label]
                # the pool replaces its connection every max_queries: read the pid each round
                async with pool.acquire() as conn:
                    pid = await conn.fetchval("SELECT pg_backend_pid()")
                began, own = pid_cpu_s(pid) or 0.0, own_cpu_s()
                for _ in range(releases):
                    async with pool.acquire() as conn:
                        await conn.fetchval("SELECT 1")
                pg[label].append(1000 * ((pid_cpu_s(pid) or 0.0) - began) / releases)
                client[label].append(1000 * (own_cpu_s() - own) / releases)
    finally:
        await ours.close()
        await default.close()
    out = _summary(pg, unit="pg_cpu_ms_per_release")
    out["client_cpu_ms_per_release"] = {k: round(statistics.median(v), 4)
                                        for k, v in client.items()}
    out["pg_cpu_ms_per_call_saved"] = round(
        RELEASES_PER_CALL * (out["pg_cpu_ms_per_release"]["default"]
                             - out["pg_cpu_ms_per_release"]["ours"]), 3)
    return out


def _summary(results: dict[str, list[float]], *, unit: str) -> dict[str, Any]:
    return {unit: {k: round(statistics.median(v), 4) for k, v in results.items()},
            "rounds": {k: [round(x, 4) for x in v] for k, v in results.items()}}


async def bench(*, calls: int, releases: int, rounds: int) -> dict[str, Any]:
    """Both levers."""
    return {"fold": await fold(calls=calls, rounds=rounds),
            "reset": await reset(releases=releases, rounds=rounds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--releases", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from loadtests.client import run_loop

    result = run_loop(bench(calls=args.calls, releases=args.releases, rounds=args.rounds))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
