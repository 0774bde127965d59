"""Benchmark: indicators over N synthetic calls in PostgreSQL.

    python -m loadtests.bench_indicators --calls 1000000 [--dsn ...] [--keep]
    python -m loadtests.bench_indicators --calls 100000 --write 2000

With --write N it measures the write path instead: after loading --calls calls it appends
the timelines of N more calls as the intake does (one multi-row INSERT per call) and one
event per statement, each autocommitted, with the trigger that marks their calls for the
call_clocks fold (migration 0024) enabled and disabled, and reports events/s.

Loads the calls and their timelines with COPY into a schema of its own (migrated with
dispatch/db/migrations), times `compute_indicators` (median of --runs runs), prints the figure
and writes loadtests/out/bench_indicators.json. The schema is dropped unless --keep;
--reuse SCHEMA times a kept one again without loading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from dispatch.metrics.intervals import IndicatorConfig
from dispatch.metrics.queries import compute_indicators

MIGRATIONS = Path(__file__).resolve().parents[1] / "dispatch" / "db" / "migrations"
OUT = Path(__file__).resolve().parent / "out" / "bench_indicators.json"
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 30
DISTRICTS = [f"D{i:02d}" for i in range(12)]
STATIONS = [(f"S{i:03d}", DISTRICTS[i % len(DISTRICTS)]) for i in range(60)]
VEHICLES = [(f"V{i:04d}", STATIONS[i % len(STATIONS)][0]) for i in range(360)]
HOSPITALS = [("H_PCI", ["pci"]), ("H_STROKE", ["thrombolysis", "thrombectomy"]), ("H_GEN", [])]
PATHWAYS = ["chest_pain", "stroke", "trauma", "maternal", "paediatric"]
CHUNK = 20_000

CALL_COLUMNS = [
    "id",
    "caller_number",
    "status",
    "acuity",
    "transport_class",
    "pathway",
    "triage",
    "required_kinds",
    "district_id",
    "booked_from",
    "booked_to",
    "destination_id",
    "received_at",
    "answered_at",
]
EVENT_COLUMNS = ["call_id", "vehicle_id", "kind", "occurred_at", "received_at", "data"]


def _call(rng: random.Random) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """One synthetic call row and its timeline (plausible shapes, not a clinical model)."""
    cid = uuid.uuid4()
    t0 = START + timedelta(seconds=rng.uniform(0, DAYS * 86400))
    non_emergency = rng.random() < 0.1
    pathway = None if non_emergency or rng.random() < 0.75 else rng.choice(PATHWAYS)
    flags = {"stemi": True} if pathway == "chest_pain" and rng.random() < 0.4 else {}
    destination = rng.choice(HOSPITALS)[0]
    booked_from = t0 + timedelta(hours=2) if non_emergency else None
    booked_to = t0 + timedelta(hours=3) if non_emergency else None
    answered = t0 + timedelta(seconds=rng.expovariate(1 / 5))
    events: list[tuple[Any, ...]] = []

    def ev(kind: str, at: datetime, vehicle: str | None = None, data: str = "{}") -> None:
        late = timedelta(seconds=rng.expovariate(1 / 2))
        events.append((cid, vehicle, kind, at, at + late, data))

    ev("call_received", t0)
    ev("call_answered", answered)
    ev("triaged", answered + timedelta(seconds=rng.uniform(20, 90)))
    t = answered + timedelta(seconds=rng.uniform(30, 120))
    cancelled = rng.random() < 0.05
    vehicles = rng.sample(VEHICLES, 2 if rng.random() < 0.1 else 1)
    for n, (vid, station) in enumerate(vehicles):
        d = t + timedelta(seconds=20 * n)
        data = json.dumps({"station_id": station, "district_id": station, "eta_s": 420})
        ev("dispatched", d, vid, data)
        if cancelled and n == 0:
            ev("cancelled", d + timedelta(seconds=rng.uniform(10, 300)))
            break
        dep = d + timedelta(seconds=rng.lognormvariate(4.3, 0.5))
        ev("departed", dep, vid)
        scene = dep + timedelta(seconds=rng.lognormvariate(6.0, 0.4))
        ev("on_scene", scene, vid)
        if n > 0:
            ev("cleared", scene + timedelta(minutes=10), vid)
            continue
        ev("patient_contact", scene + timedelta(seconds=rng.uniform(20, 120)), vid)
        left = scene + timedelta(seconds=rng.lognormvariate(6.5, 0.4))
        ev("left_scene", left, vid)
        arrive = left + timedelta(seconds=rng.lognormvariate(6.7, 0.4))
        if pathway is not None:
            ev("centre_alerted", left + timedelta(seconds=rng.uniform(-60, 600)))
            ev("team_activated", left + timedelta(seconds=rng.uniform(0, 900)))
        ev("at_destination", arrive, vid)
        ev("handover", arrive + timedelta(seconds=rng.lognormvariate(6.0, 0.6)), vid)
        ev("cleared", arrive + timedelta(minutes=30), vid)
    call = (
        cid,
        "13800000000",
        "cancelled" if cancelled else "closed",
        4 if non_emergency else rng.choice([1, 2, 2, 3, 3, 3]),
        "non_emergency" if non_emergency else "emergency",
        pathway,
        json.dumps({"needs": [], "flags": flags}),
        ["net"] if non_emergency else ["als"],
        rng.choice(DISTRICTS),
        booked_from,
        booked_to,
        destination,
        t0,
        answered,
    )
    return call, events


def _chunks(*, calls: int, seed: int) -> Iterator[tuple[list[Any], list[Any]]]:
    rng = random.Random(seed)
    for first in range(0, calls, CHUNK):
        call_rows: list[Any] = []
        event_rows: list[Any] = []
        for _ in range(min(CHUNK, calls - first)):
            call, events = _call(rng)
            call_rows.append(call)
            event_rows.extend(events)
        yield call_rows, event_rows


async def _load(*, conn: asyncpg.Connection, schema: str, calls: int, seed: int) -> int:
    """Migrate the schema, COPY the fleet and the calls in; return the number of events."""
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.execute(f'SET search_path TO "{schema}", public')
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        await conn.execute(path.read_text(encoding="utf-8"))
    await conn.executemany(
        "INSERT INTO districts (id, name, geometry, synthetic) VALUES ($1, $1, '{}', true)",
        [(d,) for d in DISTRICTS],
    )
    await conn.executemany(
        "INSERT INTO stations (id, name, district_id, lon, lat, synthetic)"
        " VALUES ($1, $1, $2, 118.8, 32.0, true)",
        STATIONS,
    )
    await conn.executemany(
        "INSERT INTO vehicles (id, call_sign, kind, station_id, synthetic)"
        " VALUES ($1, $1, 'als', $2, true)",
        VEHICLES,
    )
    await conn.executemany(
        "INSERT INTO hospitals (id, name, lon, lat, capabilities, synthetic)"
        " VALUES ($1, $1, 118.8, 32.0, $2::text[], true)",
        HOSPITALS,
    )
    n_events = 0
    for call_rows, event_rows in _chunks(calls=calls, seed=seed):
        await conn.copy_records_to_table(
            "calls", records=call_rows, columns=CALL_COLUMNS, schema_name=schema
        )
        await conn.copy_records_to_table(
            "events", records=event_rows, columns=EVENT_COLUMNS, schema_name=schema
        )
        n_events += len(event_rows)
    # the COPY left its calls pending (migration 0024): folded here, not in the first timing
    await conn.execute("SELECT call_clocks_fold_pending()")
    # index-only scans need the visibility map; the planner needs statistics
    for table in ("calls", "events", "call_clocks", "call_vehicle_clocks"):
        await conn.execute(f"VACUUM ANALYZE {table}")
    return n_events


async def _time_queries(
    *, dsn: str, schema: str, by: list[str], runs: int, connections: int
) -> dict[str, Any]:
    """Time `runs` computations of the indicators over the whole synthetic period, on
    `connections` connections (as the API does with DISPATCH_INDICATOR_CONNECTIONS)."""
    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    try:
        for c in conns:
            await c.execute(f'SET search_path TO "{schema}", public')
        timings = []
        report = None
        end = START + timedelta(days=DAYS + 1)
        for _ in range(runs):
            t = time.perf_counter()
            report = await compute_indicators(
                conn=conns[0],
                helpers=conns[1:],
                start=START,
                end=end,
                by=by,
                config=IndicatorConfig(),
            )
            timings.append(time.perf_counter() - t)
        assert report is not None
        postgres = await conns[0].fetchval("SHOW server_version")
    finally:
        for c in conns:
            await c.close()
    departure = report.total.rates["departed_in_time"]
    return {
        "by": by,
        "connections": connections,
        "runs_s": [round(x, 3) for x in timings],
        "median_s": round(statistics.median(timings), 3),
        "groups": len(report.rows),
        "total_calls_counted": report.total.calls,
        "departure_3min": [departure.numerator, departure.denominator],
        "response_p90_s": report.total.intervals["response_s"].p90,
        "postgres": postgres,
        "load_average_1m": os.getloadavg()[0],
    }


async def run(
    *,
    dsn: str,
    calls: int,
    seed: int,
    keep: bool,
    by: list[str],
    runs: int,
    reuse: str | None,
    connections: int,
) -> dict[str, Any]:
    """Load (or reuse a kept schema), time the runs, report the median; drop the schema
    unless `keep` or reused."""
    conn = await asyncpg.connect(dsn)
    schema = reuse or f"bench_indicators_{uuid.uuid4().hex[:8]}"
    try:
        if reuse:
            await conn.execute(f'SET search_path TO "{schema}", public')
            calls = await conn.fetchval("SELECT count(*) FROM calls")
            n_events = await conn.fetchval("SELECT count(*) FROM events")
            load_s = None
        else:
            t = time.perf_counter()
            n_events = await _load(conn=conn, schema=schema, calls=calls, seed=seed)
            load_s = round(time.perf_counter() - t, 1)
            print(f"loaded {calls} calls, {n_events} events in {load_s} s")
        timed = await _time_queries(
            dsn=dsn, schema=schema, by=by, runs=runs, connections=connections
        )
        result = {
            "calls": calls,
            "events": n_events,
            "load_s": load_s,
            **timed,
            "schema": schema if keep or reuse else None,
        }
    finally:
        if not keep and not reuse:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    return result


_APPEND = """INSERT INTO events (call_id, vehicle_id, kind, occurred_at, received_at, data)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                         $5::timestamptz[], $6::jsonb[])"""


async def _append_rate(
    *, conn: asyncpg.Connection, schema: str, calls: int, seed: int, per_event: bool
) -> float:
    """Events/s appending the timelines of `calls` new calls, autocommitted statements."""
    call_rows, event_rows = next(_chunks(calls=calls, seed=seed))
    await conn.copy_records_to_table(
        "calls", records=call_rows, columns=CALL_COLUMNS, schema_name=schema
    )
    by_call: dict[Any, list[tuple[Any, ...]]] = {}
    for e in event_rows:
        by_call.setdefault(e[0], []).append(e)
    t = time.perf_counter()
    for timeline in by_call.values():
        batches = [[e] for e in timeline] if per_event else [timeline]
        for batch in batches:
            await conn.execute(_APPEND, *(list(col) for col in zip(*batch, strict=True)))
    return len(event_rows) / (time.perf_counter() - t)


async def run_write(*, dsn: str, calls: int, seed: int, write: int) -> dict[str, Any]:
    """Events/s with and without the call_clocks trigger, over `calls` already loaded."""
    schema = f"bench_indicators_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await _load(conn=conn, schema=schema, calls=calls, seed=seed)
        rates: dict[str, float] = {}
        for n, (trigger, per_event) in enumerate(
            [(True, False), (False, False), (True, True), (False, True)]
        ):
            await conn.execute(
                f"ALTER TABLE events {'ENABLE' if trigger else 'DISABLE'}"
                " TRIGGER events_mark_call_clocks"  # the fold is deferred (0024)
            )
            name = f"{'per_event' if per_event else 'per_call'}_{'trigger' if trigger else 'none'}"
            rate = await _append_rate(
                conn=conn, schema=schema, calls=write, seed=seed + 1 + n, per_event=per_event
            )
            rates[name] = round(rate)
            print(f"{name}: {rate:.0f} events/s")
        return {"calls": calls, "written_calls_per_run": write, "events_per_s": rates}
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def main() -> None:
    """Command-line entry: parse arguments, run, print and save the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seed", type=int, default=120)
    parser.add_argument("--by", default="district", help="comma-separated dimensions")
    parser.add_argument("--keep", action="store_true", help="keep the schema for inspection")
    parser.add_argument("--reuse", metavar="SCHEMA", help="time a schema kept by --keep")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (the median is quoted)")
    parser.add_argument("--connections", type=int, default=2, help="connections per computation")
    parser.add_argument("--write", type=int, default=0, help="measure appends of N calls")
    args = parser.parse_args()
    if args.write:
        written = asyncio.run(
            run_write(dsn=args.dsn, calls=args.calls, seed=args.seed, write=args.write)
        )
        print(json.dumps(written))
        return
    by = [d for d in args.by.split(",") if d]
    result = asyncio.run(
        run(
            dsn=args.dsn,
            calls=args.calls,
            seed=args.seed,
            keep=args.keep,
            by=by,
            runs=args.runs,
            reuse=args.reuse,
            connections=args.connections,
        )
    )
    print(
        f"compute_indicators over {result['calls']} calls ({result['events']} events), "
        f"by={by}, {result['connections']} connections: median {result['median_s']} s "
        f"(runs {result['runs_s']})"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
