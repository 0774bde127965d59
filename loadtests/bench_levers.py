"""PostgreSQL CPU of two levers of the intake, measured apart from the service.

    python -m loadtests.bench_levers --calls 400 --rounds 3
    python -m loadtests.bench_levers --only fold --statements   # + statements per call

A whole intake run on a shared machine moves by more than these levers save, so each is
measured here alone, each variant in turn, `--rounds` times, as CPU milliseconds of
the one PostgreSQL backend doing the work (/proc/<pid>/stat) per call:

* fold: the calls row and the events of one call (intake: received, answered, located,
  triaged; then the dispatch; then the crew's departure and clearing), one transaction per
  call, written as the service writes them, in four event INSERTs ("per_step"); with all
  the call's events in one INSERT ("one_insert": what a single INSERT per intake would
  leave of the call_clocks fold); with the fold deferred (migration 0024: "deferred", the
  writes only, which mark the call pending; "deferred_folded", the same writes and a fold
  every `--fold-batch` calls, as the background folder takes them: the difference is the
  deferred fold's cost per call folded once; /proc counts CPU in 10 ms ticks, too coarse
  to time one fold of a few calls alone);
  and with the call_clocks triggers disabled ("none": the same writes without any fold,
  so the fold's own share shows). "per_step" and "one_insert" run the triggers as they
  were before 0024. `--statements` counts each variant's top-level and nested statements
  per call with pg_stat_statements (track = all) on a private cluster, in a pass of its
  own (not timed).
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
from loadtests.pgstats import private_cluster

MIGRATIONS = Path(__file__).resolve().parent.parent / "dispatch" / "db" / "migrations"
RELEASES_PER_CALL = 6.7  # measured with log_statement=all on the intake and its clear
DEFERRED = "0024_"  # the first migration with the call_clocks fold off the writes
FOLD_VARIANTS = ("per_step", "one_insert", "deferred", "deferred_folded", "none")

REFERENCE_SQL = """
INSERT INTO districts (id, name, geometry) VALUES ('D', 'D', '{}');
INSERT INTO stations (id, name, district_id, lon, lat) VALUES ('S1', 'S1', 'D', 118.8, 32.0);
INSERT INTO vehicles (id, call_sign, kind, station_id) VALUES ('V1', 'A1', 'als', 'S1');
"""


async def _schema(conn: asyncpg.Connection, *, name: str, before: str | None = None) -> None:
    """Create `name` with every migration (or those before `before`) and a district, a
    station and a vehicle."""
    await conn.execute(f'CREATE SCHEMA "{name}"')
    await conn.execute(f'SET search_path TO "{name}", public')
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        if before is None or path.name < before:
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


async def _fold_schemas(conn: asyncpg.Connection, *, tag: str) -> dict[str, str]:
    """A schema per variant; "none" last, with its user triggers disabled."""
    names = {label: f"{tag}_{label}" for label in FOLD_VARIANTS}
    for label in FOLD_VARIANTS:
        await _schema(conn, name=names[label],
                      before=None if label.startswith("deferred") else DEFERRED)
    # user triggers only: the foreign keys' system triggers stay
    await conn.execute("ALTER TABLE events DISABLE TRIGGER USER;"
                       " ALTER TABLE calls DISABLE TRIGGER USER")
    return names


async def _calls(conn: asyncpg.Connection, *, label: str, at: datetime, calls: int,
                 fold_batch: int, pid: int) -> float:
    """Write `calls` calls as `label` does; CPU seconds of the backend ("deferred_folded":
    with a fold every `fold_batch` calls and one for the rest; "deferred": its fold after
    the clock stops, so that every round starts with nothing pending)."""
    began = pid_cpu_s(pid) or 0.0
    for i in range(calls):
        await _one_call(conn, at=at + timedelta(seconds=i), one_insert=label == "one_insert")
        if label == "deferred_folded" and ((i + 1) % fold_batch == 0 or i + 1 == calls):
            await conn.execute("SELECT call_clocks_fold_pending()")
    spent = (pid_cpu_s(pid) or 0.0) - began
    if label == "deferred":
        await conn.execute("SELECT call_clocks_fold_pending()")
    return spent


def _of_the_fold(row: asyncpg.Record, *, label: str) -> bool:
    """A statement of the deferred fold rather than of the writes: the fold's call, and
    what it runs (the writes' nested statements are the pending marks and the FK checks)."""
    query = row["query"]
    if "call_clocks_fold_pending" in query:
        return True
    return (label == "deferred_folded" and not row["toplevel"]
            and "call_clocks_pending (call_id)" not in query and "FOR KEY SHARE" not in query)


def _statements(rows: list[asyncpg.Record], *, calls: int) -> dict[str, float]:
    return {kind: round(sum(r["calls"] for r in rows if r["toplevel"] == top) / calls, 2)
            for kind, top in (("toplevel", True), ("nested", False))}


async def fold(*, calls: int, rounds: int, fold_batch: int) -> dict[str, Any]:
    """Backend CPU ms per call of a call's writes per step, in one INSERT, deferred (and
    the deferred fold apart) and with no fold, in turn."""
    conn = await asyncpg.connect(database_url())
    names = await _fold_schemas(conn, tag=f"ltl_{secrets.token_hex(4)}")
    results: dict[str, list[float]] = {label: [] for label in FOLD_VARIANTS}
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        at = datetime(2026, 1, 1, 8, tzinfo=UTC)
        n = len(FOLD_VARIANTS)
        for r in range(rounds):
            for label in FOLD_VARIANTS[r % n:] + FOLD_VARIANTS[:r % n]:
                await conn.execute(f'SET search_path TO "{names[label]}", public')
                # plans cached before the clock starts
                await _calls(conn, label=label, at=at, calls=1, fold_batch=1, pid=pid)
                spent = await _calls(conn, label=label, at=at, calls=calls,
                                     fold_batch=fold_batch, pid=pid)
                results[label].append(1000 * spent / calls)
    finally:
        for name in names.values():
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()
    out = _summary(results, unit="pg_cpu_ms_per_call")
    cpu = out["pg_cpu_ms_per_call"]
    out["deferred_fold_ms_per_call_folded"] = round(cpu["deferred_folded"] - cpu["deferred"], 4)
    out["fold_batch"] = fold_batch
    return out


async def fold_statements(*, calls: int, fold_batch: int) -> dict[str, Any]:
    """Top-level and nested statements per call of each variant's writes (and of the
    deferred fold), from pg_stat_statements on a private cluster."""
    out: dict[str, Any] = {}
    async with private_cluster(databases=["bench_levers"], copy_from=database_url()) as pg:
        conn = await asyncpg.connect(pg.url("bench_levers"))
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            names = await _fold_schemas(conn, tag="ltl")
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            at = datetime(2026, 1, 1, 8, tzinfo=UTC)
            for label in (v for v in FOLD_VARIANTS if v != "deferred"):
                await conn.execute(f'SET search_path TO "{names[label]}", public')
                await conn.execute("SELECT pg_stat_statements_reset()")
                await _calls(conn, label=label, at=at, calls=calls, fold_batch=fold_batch,
                             pid=pid)
                rows = await conn.fetch(
                    """SELECT toplevel, query, calls FROM pg_stat_statements
                        WHERE dbid = (SELECT oid FROM pg_database
                                       WHERE datname = current_database())
                          AND query NOT LIKE '%pg_stat_statements%'""")
                folds = [r for r in rows if _of_the_fold(r, label=label)]
                if label == "deferred_folded":  # its writes are "deferred"'s
                    out["deferred"] = _statements([r for r in rows if r not in folds],
                                                  calls=calls)
                    out["deferred_fold"] = _statements(folds, calls=calls)
                else:
                    out[label] = _statements(rows, calls=calls)
        finally:
            await conn.close()
    return {"statements_per_call": out, "fold_batch": fold_batch}


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


async def bench(*, calls: int, releases: int, rounds: int, fold_batch: int,
                only: str | None, statements: bool) -> dict[str, Any]:
    """Both levers, or the `only` one."""
    out: dict[str, Any] = {}
    if only in (None, "fold"):
        out["fold"] = await fold(calls=calls, rounds=rounds, fold_batch=fold_batch)
        if statements:
            out["fold_statements"] = await fold_statements(calls=calls, fold_batch=fold_batch)
    if only in (None, "reset"):
        out["reset"] = await reset(releases=releases, rounds=rounds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--releases", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fold-batch", type=int, default=20,
                        help="calls per deferred fold (the background folder's second)")
    parser.add_argument("--only", choices=("fold", "reset"))
    parser.add_argument("--statements", action="store_true",
                        help="statements per call of each fold variant (private cluster)")
    args = parser.parse_args()
    from loadtests.client import run_loop

    result = run_loop(bench(calls=args.calls, releases=args.releases, rounds=args.rounds,
                            fold_batch=args.fold_batch, only=args.only,
                            statements=args.statements))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
