"""call_clocks (migrations 0007, 0024): the deferred fold equals a rebuild from the events,
whatever the order, batching, concurrency or correction of the events; the one-pass period
report equals its four views computed one by one. call_clocks is folded after the writes,
so every direct read here folds what is pending first, as the indicator readers do."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio

from dispatch.metrics.clock_folder import fold_pending
from dispatch.metrics.intervals import IndicatorConfig
from dispatch.metrics.queries import (
    compute_indicators,
    compute_indicators_reference,
    compute_period_report,
)
from tests.metrics.metrics_cases import BASE, CASES
from tests.metrics.test_queries import DSN, END, MIGRATIONS, START, _comparable, _seed

CACHE_SQL = """
    SELECT c.*, coalesce(
        (SELECT array_agg(v ORDER BY v.vehicle_id) FROM call_vehicle_clocks v
          WHERE v.call_id = c.call_id)::text, '') AS vehicles
    FROM call_clocks c ORDER BY c.call_id"""


@pytest_asyncio.fixture
async def schema() -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    name = f"metrics_clocks_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(DSN)
    try:
        await connection.execute(f'CREATE SCHEMA "{name}"')
        await connection.execute(f'SET search_path TO "{name}", public')
        for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            await connection.execute(path.read_text(encoding="utf-8"))
        yield name, connection
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await connection.close()


async def _cache(conn: asyncpg.Connection) -> list[dict[str, object]]:
    await fold_pending(conn)
    return [dict(r) for r in await conn.fetch(CACHE_SQL)]


async def _folded_row(conn: asyncpg.Connection, sql: str, *args: object) -> asyncpg.Record:
    await fold_pending(conn)
    return await conn.fetchrow(sql, *args)


async def _assert_equals_rebuild(conn: asyncpg.Connection) -> None:
    """The cache as folded so far equals a rebuild from the events."""
    folded = await _cache(conn)
    await conn.execute("SELECT call_clocks_rebuild(NULL)")
    assert await _cache(conn) == folded


async def test_fold_after_insert_equals_rebuild(
    schema: tuple[str, asyncpg.Connection],
) -> None:
    _, conn = schema
    await _seed(conn)  # single-row inserts, one statement each
    assert await conn.fetchval("SELECT count(*) FROM call_clocks") == 0  # not on the write
    assert await fold_pending(conn) == len(CASES)
    assert await conn.fetchval("SELECT count(*) FROM call_clocks") == len(CASES)
    assert await conn.fetchval("SELECT count(*) FROM call_clocks_pending") == 0
    await _assert_equals_rebuild(conn)


@pytest.mark.parametrize("batch", [1, 7, 1000], ids=["one_by_one", "batches_of_7", "one_batch"])
@pytest.mark.parametrize("seed", [1, 2])
async def test_any_order_and_batching_fold_to_the_same_cache(
    schema: tuple[str, asyncpg.Connection], batch: int, seed: int
) -> None:
    src, conn = schema
    await _seed(conn)
    expected = await _cache(conn)
    rows = await conn.fetch(
        "SELECT id, call_id, vehicle_id, kind, occurred_at, received_at, data FROM events"
    )
    random.Random(seed).shuffle(rows)
    # a second schema with the same calls, receiving the events shuffled
    dst = f"{src}_b"
    await conn.execute(f'CREATE SCHEMA "{dst}"')
    try:
        await conn.execute(f'SET search_path TO "{dst}", public')
        for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            await conn.execute(path.read_text(encoding="utf-8"))
        for table in ("districts", "stations", "vehicles", "hospitals", "calls"):
            await conn.execute(f'INSERT INTO "{dst}".{table} SELECT * FROM "{src}".{table}')
        if batch == 1:
            await conn.executemany(
                """INSERT INTO events (call_id, vehicle_id, kind, occurred_at, received_at, data)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                [tuple(r)[1:] for r in rows],
            )
        else:
            for first in range(0, len(rows), batch):
                await conn.execute(
                    f"""INSERT INTO events
                            (call_id, vehicle_id, kind, occurred_at, received_at, data)
                        SELECT e.call_id, e.vehicle_id, e.kind, e.occurred_at, e.received_at,
                               e.data
                        FROM unnest($1::bigint[]) WITH ORDINALITY AS o(id, n)
                        JOIN "{src}".events e USING (id) ORDER BY o.n""",
                    [r["id"] for r in rows[first : first + batch]],
                )
        assert await _cache(conn) == expected
    finally:
        await conn.execute(f'SET search_path TO "{src}", public')
        await conn.execute(f'DROP SCHEMA IF EXISTS "{dst}" CASCADE')


async def test_concurrent_appends_to_one_call_are_not_lost(
    schema: tuple[str, asyncpg.Connection],
) -> None:
    """Two transactions appending vehicles to the same call at once: neither waits for
    the other (the fold is not on the write), and the fold after both sees both."""
    name, conn = schema
    await _seed(conn)
    call_id = await conn.fetchval("SELECT id FROM calls WHERE district_id = 'no_departure'")
    other = await asyncpg.connect(DSN)
    try:
        await other.execute(f'SET search_path TO "{name}", public')
        first = conn.transaction()
        await first.start()
        # V1 (dispatched at 60) exists; V2 ordered earlier (50) in this transaction
        await conn.execute(
            """INSERT INTO events (call_id, vehicle_id, kind, occurred_at)
               VALUES ($1, 'V2', 'dispatched', $2)""",
            call_id,
            BASE + timedelta(seconds=50),
        )
        # meanwhile V1 is stood down by another transaction, which commits first
        await asyncio.wait_for(
            other.execute(
                """INSERT INTO events (call_id, vehicle_id, kind, occurred_at)
                   VALUES ($1, 'V1', 'unassigned', $2)""",
                call_id,
                BASE + timedelta(seconds=70),
            ),
            timeout=10,
        )
        # a fold now takes the committed stand-down; our V2 stays pending, invisible
        assert await fold_pending(other) == len(CASES)
        row = await other.fetchrow(
            "SELECT cv_vehicle_id, first_order FROM call_clocks WHERE call_id = $1", call_id
        )
        assert row["cv_vehicle_id"] is None  # V1 stood down, V2 not committed yet
        await first.commit()
    finally:
        await other.close()
    row = await _folded_row(
        conn, "SELECT cv_vehicle_id, first_order FROM call_clocks WHERE call_id = $1", call_id
    )
    assert row["cv_vehicle_id"] == "V2"
    assert row["first_order"] == BASE + timedelta(seconds=50)
    await _assert_equals_rebuild(conn)


async def test_corrected_or_removed_events_are_refolded(
    schema: tuple[str, asyncpg.Connection],
) -> None:
    _, conn = schema
    await _seed(conn)
    call_id = await conn.fetchval("SELECT id FROM calls WHERE district_id = 'late_departure'")
    await conn.execute(
        """UPDATE events SET occurred_at = occurred_at - interval '100 seconds'
           WHERE call_id = $1 AND kind = 'departed'""",
        call_id,
    )
    turnout = await _folded_row(
        conn, "SELECT cv_departed - cv_dispatched FROM call_clocks WHERE call_id = $1", call_id
    )
    assert turnout[0] == timedelta(seconds=90)
    await conn.execute("DELETE FROM events WHERE call_id = $1 AND kind = 'departed'", call_id)
    departed = await _folded_row(
        conn, "SELECT cv_departed FROM call_clocks WHERE call_id = $1", call_id
    )
    assert departed[0] is None
    await _assert_equals_rebuild(conn)
    await conn.execute("TRUNCATE events")
    # no timeline left: every call keeps its row (its attributes, migration 0008), no clock
    await fold_pending(conn)
    assert await conn.fetchval("SELECT count(*) FROM call_vehicle_clocks") == 0
    rows = await conn.fetch(
        """SELECT k.id, c.received, c.answered, c.cv_dispatched, c.response_s,
                  c.district_id = k.district_id AS same_district
           FROM calls k LEFT JOIN call_clocks c ON c.call_id = k.id"""
    )
    assert len(rows) == len(CASES)
    assert all(r["same_district"] for r in rows)
    assert all(
        r[col] is None
        for r in rows
        for col in ("received", "answered", "cv_dispatched", "response_s")
    )


async def test_backfill_folds_events_written_before_the_migration() -> None:
    name = f"metrics_backfill_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        await conn.execute(f'SET search_path TO "{name}", public')
        paths = sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))
        before = [p for p in paths if p.name < "0007"]
        after = [p for p in paths if p.name >= "0007"]
        for path in before:
            await conn.execute(path.read_text(encoding="utf-8"))
        await _seed(conn)
        for path in after:
            await conn.execute(path.read_text(encoding="utf-8"))
        backfilled = await _cache(conn)
        assert len(backfilled) == len(CASES)
        assert sum(r["cv_vehicle_id"] is not None for r in backfilled) > 0
        report = await compute_indicators(
            conn=conn, start=START, end=END, by=["district"], config=IndicatorConfig()
        )
        assert report.total.calls == len(CASES)
        assert report.total.rates["departed_in_time"].denominator > 0
        # the backfilled cache gives the pure path's answers and equals a rebuild
        reference = await compute_indicators_reference(
            conn=conn, start=START, end=END, by=["district"], config=IndicatorConfig()
        )
        assert _comparable(report) == _comparable(reference)
        await _assert_equals_rebuild(conn)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


async def test_period_report_in_one_pass_equals_its_views(
    schema: tuple[str, asyncpg.Connection],
) -> None:
    _, conn = schema
    await _seed(conn)
    config = IndicatorConfig(departure_from="answered")
    report = await compute_period_report(conn=conn, start=START, end=END, config=config)
    for view, dim in (
        (report.by_hour, "hour"),
        (report.by_station, "station"),
        (report.by_district, "district"),
        (report.by_pathway, "pathway"),
    ):
        alone = await compute_indicators(conn=conn, start=START, end=END, by=[dim], config=config)
        assert view.by == (dim,)
        assert _comparable(view) == _comparable(alone)


async def test_attributes_follow_the_call(schema: tuple[str, asyncpg.Connection]) -> None:
    """Re-triage and re-routing change a call's attributes; the indicators see the change
    (migration 0008 copies them into call_clocks), and a call with no event yet is counted."""
    _, conn = schema
    await _seed(conn)
    call_id = await conn.fetchval("SELECT id FROM calls WHERE district_id = 'late_departure'")
    await conn.execute(
        """UPDATE calls SET district_id = 'moved', acuity = 1, pathway = 'chest_pain',
                  destination_id = 'H_PCI', triage = '{"flags": {"stemi": true}}'
           WHERE id = $1""",
        call_id,
    )
    row = await _folded_row(
        conn,
        """SELECT district_id, acuity, pathway, destination_id, flags
           FROM call_clocks WHERE call_id = $1""",
        call_id,
    )
    assert dict(row) == {
        "district_id": "moved",
        "acuity": 1,
        "pathway": "chest_pain",
        "destination_id": "H_PCI",
        "flags": ["stemi"],
    }
    quiet = uuid.uuid4()
    await conn.execute(
        """INSERT INTO calls (id, caller_number, status, acuity, transport_class, triage,
                              required_kinds, district_id, received_at, answered_at)
           VALUES ($1, '13800000000', 'queued', 2, 'emergency', '{}', '{als}', 'quiet',
                   $2, $2)""",
        quiet,
        BASE,
    )
    start, end, config = BASE - timedelta(days=1), BASE + timedelta(days=60), IndicatorConfig()
    sql = await compute_indicators(conn=conn, start=start, end=end, by=["district"], config=config)
    ref = await compute_indicators_reference(
        conn=conn, start=start, end=end, by=["district"], config=config
    )
    assert _comparable(sql) == _comparable(ref)
    districts = {r.key[0][1]: r for r in sql.rows}
    assert "late_departure" not in districts
    assert districts["moved"].calls == 1
    assert districts["quiet"].calls == 1
    assert districts["quiet"].rates["departed_in_time"].denominator == 0
    assert sql.total.calls == len(CASES) + 1
    await _assert_equals_rebuild(conn)
