"""The SQL path against real PostgreSQL, held to the hand-computed values and to the pure path."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from dispatch.metrics.indicators import IndicatorReport
from dispatch.metrics.intervals import IndicatorConfig
from dispatch.metrics.queries import compute_indicators, compute_indicators_reference
from tests.metrics.metrics_cases import BASE, CASES, Case

MIGRATIONS = Path(__file__).resolve().parents[2] / "dispatch" / "db" / "migrations"
DSN = "postgresql://postgres@127.0.0.1:5432/test"
START = BASE - timedelta(days=1)
END = BASE + timedelta(days=10)

# flag -> which rate it feeds
_RATE_OF = {
    "answered_in_time",
    "departed_in_time",
    "prealerted",
    "direct_to_capable",
    "pickup_on_time",
}


async def _seed(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """INSERT INTO districts (id, name, geometry) VALUES ('D', 'D', '{}');
           INSERT INTO stations (id, name, district_id, lon, lat) VALUES
               ('S1', 'S1', 'D', 118.8, 32.0), ('S2', 'S2', 'D', 118.9, 32.1);
           INSERT INTO vehicles (id, call_sign, kind, station_id) VALUES
               ('V1', 'A1', 'als', 'S1'), ('V2', 'A2', 'als', 'S2'), ('V3', 'B3', 'bls', 'S1');
           INSERT INTO hospitals (id, name, lon, lat, capabilities) VALUES
               ('H_PCI', 'PCI', 118.8, 32.0, '{pci}'), ('H_GEN', 'General', 118.8, 32.0, '{}');"""
    )
    for i, case in enumerate(CASES):
        base = BASE + timedelta(hours=i)
        call_id = uuid.uuid4()
        await conn.execute(
            """INSERT INTO calls (id, caller_number, status, acuity, transport_class, pathway,
                   triage, required_kinds, district_id, booked_to, destination_id,
                   received_at, answered_at)
               VALUES ($1, '13800000000', 'closed', $2, $3, $4, $5::jsonb, '{als}', $6, $7, $8,
                       $9, $9)""",
            call_id,
            int(case.acuity),
            str(case.transport_class),
            None if case.pathway is None else str(case.pathway),
            json.dumps({"flags": {f: True for f in case.flags}, "needs": []}),
            case.name,
            None if case.booked_to_s is None else base + timedelta(seconds=case.booked_to_s),
            case.destination,
            base,
        )
        await conn.executemany(
            """INSERT INTO events (call_id, vehicle_id, kind, occurred_at, received_at, data)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb)""",
            [
                (
                    call_id,
                    e.vehicle,
                    e.kind,
                    base + timedelta(seconds=e.at),
                    base + timedelta(seconds=e.at if e.recv is None else e.recv),
                    json.dumps(e.data()),
                )
                for e in case.events
            ],
        )


@pytest_asyncio.fixture(scope="module")
async def conn() -> AsyncIterator[asyncpg.Connection]:
    schema = f"metrics_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(DSN)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
        await connection.execute(f'SET search_path TO "{schema}", public')
        for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            await connection.execute(path.read_text(encoding="utf-8"))
        await _seed(connection)
        yield connection
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


def _check_case(report: IndicatorReport, case: Case) -> None:
    (row,) = [r for r in report.rows if r.key == (("district", case.name),)]
    for name, expected in case.expect.items():
        if name in _RATE_OF:
            rate = row.rates[name]
            got = (rate.numerator, rate.denominator)
            want = (0, 0) if expected is None else (int(expected), 1)
        elif name == "cancelled":
            got, want = row.cancelled, int(expected)
        elif name == "clock_repairs":
            got, want = row.clock_repairs, expected
        elif name in ("station_id", "vehicle_id"):
            continue  # checked through the grouping test below
        else:
            stats = row.intervals[name]
            got = (stats.n, stats.p50)
            want = (0, None) if expected is None else (1, pytest.approx(expected))
        assert got == want, f"{case.name}.{name}"


@pytest.mark.parametrize(
    "config", [IndicatorConfig(), IndicatorConfig(departure_from="answered")], ids=str
)
async def test_sql_matches_hand_computed_per_case(
    conn: asyncpg.Connection, config: IndicatorConfig
) -> None:
    report = await compute_indicators(
        conn=conn, start=START, end=END, by=["district"], config=config
    )
    assert len(report.rows) == len(CASES)
    for case in CASES:
        if case.config == config:
            _check_case(report, case)


def _comparable(report: IndicatorReport) -> list[tuple[object, ...]]:
    def stats(row):  # type: ignore[no-untyped-def]
        return (
            row.key,
            row.calls,
            row.cancelled,
            row.clock_repairs,
            {k: (r.numerator, r.denominator) for k, r in row.rates.items()},
            {
                k: (
                    s.n,
                    *(None if v is None else round(v, 6) for v in (s.p50, s.p90, s.p95)),
                    s.within,
                )
                for k, s in row.intervals.items()
            },
        )

    return [stats(r) for r in (*report.rows, report.total)]


def _during(name: str, seconds: float) -> IndicatorConfig:
    """A report read `seconds` into the case `name` (seeded at BASE + its index hours):
    the calls before it are over, it is under way, the later ones not yet happened."""
    index = next(i for i, c in enumerate(CASES) if c.name == name)
    return IndicatorConfig(as_of=BASE + timedelta(hours=index, seconds=seconds))


@pytest.mark.parametrize(
    "by",
    [
        [],
        ["hour"],
        ["day", "acuity"],
        ["month"],
        ["station"],
        ["vehicle"],
        ["transport_class", "pathway"],
        ["district"],
    ],
    ids=lambda b: "+".join(b) or "total",
)
@pytest.mark.parametrize(
    "config",
    [IndicatorConfig(), IndicatorConfig(departure_from="answered", pickup_grace_s=300.0),
     _during("no_departure", 100.0), _during("booking_missed", 1800.0)],
    ids=["default", "answered", "as_of_during_a_departure", "as_of_during_a_booking"],
)
async def test_sql_matches_pure_reference(
    conn: asyncpg.Connection, by: list[str], config: IndicatorConfig
) -> None:
    sql = await compute_indicators(conn=conn, start=START, end=END, by=by, config=config)
    ref = await compute_indicators_reference(conn=conn, start=START, end=END, by=by, config=config)
    assert _comparable(sql) == _comparable(ref)
    assert sql.total.calls == len(CASES)


async def test_station_and_vehicle_attribution(conn: asyncpg.Connection) -> None:
    report = await compute_indicators(
        conn=conn, start=START, end=END, by=["vehicle"], config=IndicatorConfig()
    )
    keys = [r.key for r in report.rows]
    assert keys == [(("vehicle", "V1"),), (("vehicle", "V2"),), (("vehicle", None),)]
    # V2 is counted only on several_vehicles (V1 stood down there)
    v2 = report.rows[1]
    assert v2.calls == 1
    assert v2.intervals["turnout_s"].p50 == pytest.approx(30.0)


async def test_an_empty_period_gives_an_empty_total(conn: asyncpg.Connection) -> None:
    later = END + timedelta(days=30)
    report = await compute_indicators(
        conn=conn,
        start=later,
        end=later + timedelta(days=1),
        by=["station"],
        config=IndicatorConfig(),
    )
    assert report.rows == ()
    assert report.total.calls == 0
    assert report.total.intervals["response_s"].p50 is None
    assert report.total.rates["departed_in_time"].value is None


@pytest.mark.parametrize("connections", [2, 3])
@pytest.mark.parametrize("by", [[], ["hour"], ["district"], ["vehicle"]], ids=str)
async def test_time_slices_on_helper_connections_add_up(
    conn: asyncpg.Connection, by: list[str], connections: int
) -> None:
    """The period cut into slices computed on several connections (the API's
    DISPATCH_INDICATOR_CONNECTIONS) gives the one-connection answer, groups merged."""
    schema = await conn.fetchval("SELECT current_schema()")
    helpers = [await asyncpg.connect(DSN) for _ in range(connections - 1)]
    try:
        for helper in helpers:
            await helper.execute(f'SET search_path TO "{schema}", public')
        config = IndicatorConfig()
        # the cases are received an hour apart: every slice holds some of them
        start, end = BASE, BASE + timedelta(hours=len(CASES))
        sliced = await compute_indicators(
            conn=conn, helpers=helpers, start=start, end=end, by=by, config=config
        )
    finally:
        for helper in helpers:
            await helper.close()
    ref = await compute_indicators_reference(conn=conn, start=start, end=end, by=by, config=config)
    assert _comparable(sliced) == _comparable(ref)
    assert sliced.total.calls == len(CASES)
