"""loadtests.bench_commit: every way of writing is measured, and its schema dropped."""

from __future__ import annotations

import asyncpg

from loadtests.bench_commit import MODES, bench
from loadtests.local import database_url

_SCHEMAS = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'lc\\_%'"


async def test_the_commit_bench_measures_every_mode_and_leaves_nothing() -> None:
    conn = await asyncpg.connect(database_url())
    try:
        before = await conn.fetchval(_SCHEMAS)
        lines = await bench(rows=32, repeats=1)
        after = await conn.fetchval(_SCHEMAS)
    finally:
        await conn.close()
    rows = [line for line in lines if line.startswith("| ") and line[2:3] != "w"]
    assert [(r.split(" | ")[0][2:], int(r.split(" | ")[1])) for r in rows] == list(MODES)
    assert "synchronous_commit" in lines[0]
    assert after == before
