"""The call_clocks fold after the writes (migration 0024): the same rows as the per-event
fold it replaced, readers that see every committed event, folds that neither repeat nor
lose a call when they run at once, and the background folder."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio

from dispatch.metrics.clock_folder import fold_every, fold_pending
from dispatch.metrics.intervals import IndicatorConfig
from dispatch.metrics.queries import compute_indicators, compute_indicators_reference
from tests.metrics.metrics_cases import BASE, CASES
from tests.metrics.test_call_clocks import CACHE_SQL, _assert_equals_rebuild
from tests.metrics.test_queries import DSN, END, MIGRATIONS, START, _comparable, _seed
from tests.waiting import eventually, waiting_for_lock

DEFERRED = "0024"
EVENT = """INSERT INTO events (call_id, vehicle_id, kind, occurred_at, received_at, data)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb)"""


async def _migrated(conn: asyncpg.Connection, name: str, *, before: str | None = None) -> None:
    """Schema `name` with the migrations (those before `before` only, if given)."""
    await conn.execute(f'CREATE SCHEMA "{name}"')
    await conn.execute(f'SET search_path TO "{name}", public')
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        if before is None or path.name < before:
            await conn.execute(path.read_text(encoding="utf-8"))


@pytest_asyncio.fixture
async def seeded() -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A schema with every migration and the metrics cases written, none folded yet."""
    name = f"metrics_deferred_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(DSN)
    try:
        await _migrated(conn, name)
        await _seed(conn)
        yield name, conn
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


async def _connect(schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(DSN, server_settings={"search_path": f'"{schema}", public'})


async def _rows(conn: asyncpg.Connection) -> list[dict[str, object]]:
    return [dict(r) for r in await conn.fetch(CACHE_SQL)]


async def _indicators_exact(conn: asyncpg.Connection, *helpers: asyncpg.Connection) -> None:
    """The SQL indicators (read through call_clocks, folding what is pending) equal the
    pure path's over the raw events, by district and over all."""
    config = IndicatorConfig()
    sql = await compute_indicators(conn=conn, start=START, end=END, by=["district"],
                                   config=config, helpers=helpers)
    ref = await compute_indicators_reference(conn=conn, start=START, end=END, by=["district"],
                                             config=config)
    assert _comparable(sql) == _comparable(ref)


# The same changes after the first replay, in both schemas: re-triage and re-routing (the
# attributes and the destination clocks), a late dispatch of another vehicle, a stand-down,
# a corrected and a removed event, and a call with no event yet.
_CHANGES = [
    ("""UPDATE calls SET district_id = 'moved', acuity = 1, pathway = 'chest_pain',
               destination_id = 'H_PCI', triage = '{"flags": {"stemi": true}}'
        WHERE district_id = 'late_departure'""", ()),
    ("UPDATE calls SET destination_id = 'H_GEN' WHERE destination_id = 'H_PCI'"
     " AND district_id <> 'moved'", ()),
    ("""INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
        SELECT id, 'V2', 'dispatched', received_at + interval '20 seconds',
               '{"station_id": "S2"}' FROM calls WHERE district_id = 'no_departure'""", ()),
    ("""INSERT INTO events (call_id, vehicle_id, kind, occurred_at)
        SELECT call_id, vehicle_id, 'unassigned', occurred_at + interval '5 seconds'
        FROM events WHERE kind = 'dispatched' AND vehicle_id = 'V1'
          AND call_id IN (SELECT id FROM calls WHERE district_id = 'moved')""", ()),
    ("""UPDATE events SET occurred_at = occurred_at - interval '100 seconds'
        WHERE kind = 'departed' AND call_id IN (SELECT id FROM calls
                                                  WHERE district_id = 'moved')""", ()),
    ("""DELETE FROM events WHERE kind = 'on_scene' AND call_id IN
          (SELECT id FROM calls ORDER BY id LIMIT 2)""", ()),
    ("""INSERT INTO calls (id, caller_number, status, acuity, transport_class, triage,
                           required_kinds, district_id, received_at, answered_at)
        VALUES ('00000000-0000-0000-0000-000000000001', '13800000000', 'queued', 2,
                'emergency', '{}', '{als}', 'quiet', $1, $1)""", (BASE,)),
]


@pytest.mark.parametrize("seed", [1, 2])
async def test_deferred_fold_equals_the_per_event_fold_row_for_row(seed: int) -> None:
    """The cases replayed through the triggers before 0024 (folding every INSERT) and
    through the deferred fold (events shuffled, in batches, folds in between), then the
    same corrections in both: call_clocks and call_vehicle_clocks equal row for row."""
    tag = uuid.uuid4().hex[:12]
    old, new = f"metrics_fold_old_{tag}", f"metrics_fold_new_{tag}"
    conn = await asyncpg.connect(DSN)
    try:
        await _migrated(conn, old, before=DEFERRED)
        await _seed(conn)
        await _migrated(conn, new)
        for table in ("districts", "stations", "vehicles", "hospitals", "calls"):
            await conn.execute(f'INSERT INTO "{new}".{table} SELECT * FROM "{old}".{table}')
        events = await conn.fetch(f'SELECT * FROM "{old}".events')
        rng = random.Random(seed)
        rng.shuffle(events)
        while events:
            n = rng.randint(1, 7)
            batch, events = events[:n], events[n:]
            await conn.executemany(EVENT, [
                (e["call_id"], e["vehicle_id"], e["kind"], e["occurred_at"], e["received_at"],
                 e["data"]) for e in batch])
            if rng.random() < 0.3:
                await fold_pending(conn)
        for schema in (old, new):
            await conn.execute(f'SET search_path TO "{schema}", public')
            for sql, args in _CHANGES:
                await conn.execute(sql, *args)
        await fold_pending(conn)  # search_path: new
        folded_new = await _rows(conn)
        await conn.execute(f'SET search_path TO "{old}", public')
        folded_old = await _rows(conn)
        assert len(folded_new) == len(CASES) + 1
        assert sum(r["cv_vehicle_id"] is not None for r in folded_new) > 0
        assert sum(r["dest_alerted"] is not None for r in folded_new) > 0
        assert folded_new == folded_old
    finally:
        for schema in (old, new):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def test_writes_leave_the_fold_pending(seeded: tuple[str, asyncpg.Connection]) -> None:
    _, conn = seeded
    assert await conn.fetchval("SELECT count(*) FROM call_clocks") == 0
    assert await conn.fetchval("SELECT count(DISTINCT call_id) FROM call_clocks_pending") \
        == len(CASES)
    # events call_clocks does not read mark no call
    before = await conn.fetchval("SELECT count(*) FROM call_clocks_pending")
    await conn.execute("""INSERT INTO events (call_id, kind, occurred_at)
                          SELECT id, 'recommended', received_at FROM calls""")
    assert await conn.fetchval("SELECT count(*) FROM call_clocks_pending") == before


async def test_a_backlog_folds_in_batches(seeded: tuple[str, asyncpg.Connection]) -> None:
    _, conn = seeded
    assert await fold_pending(conn, max_calls=5) == 5
    assert await conn.fetchval("SELECT count(*) FROM call_clocks") == 5
    assert await conn.fetchval("SELECT count(DISTINCT call_id) FROM call_clocks_pending") \
        == len(CASES) - 5
    assert await fold_pending(conn, max_calls=len(CASES)) == len(CASES) - 5
    assert await fold_pending(conn, max_calls=5) == 0
    await _assert_equals_rebuild(conn)


async def test_a_reader_sees_an_event_committed_just_before_it_reads(
    seeded: tuple[str, asyncpg.Connection],
) -> None:
    name, conn = seeded
    helper = await _connect(name)
    try:
        await _indicators_exact(conn, helper)  # folds everything pending
        assert await conn.fetchval("SELECT count(*) FROM call_clocks_pending") == 0
        rows = await conn.fetch("SELECT id, received_at FROM calls ORDER BY id")
        for i, call in enumerate(rows[:6]):
            # committed, then read at once: no fold has run in between
            await conn.execute(EVENT, call["id"], "V3", "dispatched",
                               call["received_at"] + timedelta(seconds=1 + i),
                               call["received_at"] + timedelta(seconds=1 + i),
                               '{"station_id": "S1"}')
            await _indicators_exact(conn, *([helper] if i % 2 else []))
    finally:
        await helper.close()


async def test_a_reader_waits_for_a_fold_in_flight_and_sees_later_events(
    seeded: tuple[str, asyncpg.Connection],
) -> None:
    """A fold not yet committed when the reader starts: the reader waits for it (its
    snapshot would not see that fold's rows), then folds what came after, in its own
    snapshot, and reads alone."""
    name, conn = seeded
    folder, writer, helper = [await _connect(name) for _ in range(3)]
    try:
        in_flight = folder.transaction()
        await in_flight.start()
        assert await fold_pending(folder) == len(CASES)
        call_id = await writer.fetchval("SELECT id FROM calls WHERE district_id = 'late_departure'")
        await writer.execute("""INSERT INTO events (call_id, vehicle_id, kind, occurred_at)
                                VALUES ($1, 'V2', 'dispatched', $2)""",
                             call_id, BASE + timedelta(seconds=1))
        reader = asyncio.create_task(_indicators_exact(conn, helper))
        await waiting_for_lock(writer, pid=conn.get_server_pid())
        assert not reader.done()
        await in_flight.commit()
        await asyncio.wait_for(reader, timeout=30)
    finally:
        for c in (folder, writer, helper):
            await c.close()


async def test_concurrent_folds_neither_repeat_nor_lose_a_call(
    seeded: tuple[str, asyncpg.Connection],
) -> None:
    name, conn = seeded
    first, second, writer = [await _connect(name) for _ in range(3)]
    try:
        call_ids = [r["id"] for r in await conn.fetch("SELECT id FROM calls ORDER BY id")]
        tx = first.transaction()
        await tx.start()
        assert await fold_pending(first) == len(CASES)
        assert await fold_pending(second, wait=False) is None  # one fold at a time
        waiting = asyncio.create_task(fold_pending(second))
        await waiting_for_lock(writer, pid=second.get_server_pid())
        # a write while the first fold runs: committed, pending for the next fold
        await writer.execute("""INSERT INTO events (call_id, vehicle_id, kind, occurred_at)
                                VALUES ($1, 'V2', 'on_scene', $2)""",
                             call_ids[0], BASE + timedelta(minutes=30))
        await tx.commit()
        # the second fold takes only the write made since, not the calls the first folded
        assert await asyncio.wait_for(waiting, timeout=30) == 1
        # a transaction still open keeps its pending row past a fold
        open_write = writer.transaction()
        await open_write.start()
        await writer.execute("""INSERT INTO events (call_id, vehicle_id, kind, occurred_at)
                                VALUES ($1, 'V3', 'on_scene', $2)""",
                             call_ids[1], BASE + timedelta(minutes=40))
        assert await fold_pending(first) == 0
        await open_write.commit()
        assert await fold_pending(first) == 1
    finally:
        for c in (first, second, writer):
            await c.close()
    await _assert_equals_rebuild(conn)


async def test_writers_and_folders_at_once_leave_the_cache_exact(
    seeded: tuple[str, asyncpg.Connection],
) -> None:
    """Writers appending and folders folding at the same time, with and without waiting:
    after the last fold the cache equals a rebuild from the events and nothing is pending."""
    name, conn = seeded
    call_ids = [r["id"] for r in await conn.fetch("SELECT id FROM calls")]
    kinds = ["dispatched", "departed", "on_scene", "left_scene", "unassigned", "handover"]
    stop = asyncio.Event()

    async def write(seed: int) -> None:
        rng = random.Random(seed)
        c = await _connect(name)
        try:
            for _ in range(60):
                async with c.transaction():
                    for _ in range(rng.randint(1, 3)):
                        at = BASE + timedelta(seconds=rng.randint(0, 3600))
                        await c.execute(EVENT, rng.choice(call_ids), rng.choice(["V1", "V2"]),
                                        rng.choice(kinds), at, at, '{"station_id": "S2"}')
        finally:
            await c.close()

    async def fold(wait: bool) -> int:
        c = await _connect(name)
        n = 0
        try:
            while not stop.is_set():
                n += await fold_pending(c, wait=wait) or 0
                await asyncio.sleep(0)
        finally:
            await c.close()
        return n

    folders = [asyncio.create_task(fold(wait)) for wait in (True, True, False)]
    await asyncio.gather(*(write(s) for s in range(4)))
    stop.set()
    await asyncio.gather(*folders)
    await fold_pending(conn)
    assert await conn.fetchval("SELECT count(*) FROM call_clocks_pending") == 0
    await _assert_equals_rebuild(conn)
    await _indicators_exact(conn)


async def test_the_background_folder_folds_and_stops(
    seeded: tuple[str, asyncpg.Connection],
) -> None:
    name, conn = seeded
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2,
                                     server_settings={"search_path": f'"{name}", public'})
    try:
        task = asyncio.create_task(fold_every(pool, every_s=0.05, batch_calls=3))

        async def drained() -> bool:
            return await conn.fetchval("SELECT count(*) FROM call_clocks_pending") == 0

        await eventually(drained, what="the pending calls folded")
        assert await conn.fetchval("SELECT count(*) FROM call_clocks") == len(CASES)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await asyncio.wait_for(pool.close(), timeout=10)
