"""What the fault tests check in PostgreSQL, the record: one vehicle one call, nothing lost."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncpg

from tests.fault.load import Call


async def assignment_problems(conn: asyncpg.Connection) -> list[str]:
    """Every way the assignments break "one vehicle, one call", read in one snapshot."""
    problems: list[str] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for r in await conn.fetch(
                """SELECT vehicle_id, count(*) AS n FROM assignments
                    WHERE released_at IS NULL GROUP BY vehicle_id HAVING count(*) > 1"""):
            problems.append(f"vehicle {r['vehicle_id']} holds {r['n']} live assignments")
        for r in await conn.fetch(
                """SELECT a.vehicle_id, a.call_id AS a_call, b.call_id AS b_call
                     FROM assignments a JOIN assignments b
                       ON a.vehicle_id = b.vehicle_id AND a.id < b.id
                    WHERE tstzrange(a.assigned_at, greatest(a.assigned_at,
                                                            coalesce(a.released_at, 'infinity')))
                       && tstzrange(b.assigned_at, greatest(b.assigned_at,
                                                            coalesce(b.released_at, 'infinity')))
                   """):
            problems.append(f"vehicle {r['vehicle_id']} on calls {r['a_call']} and "
                            f"{r['b_call']} at overlapping times")
        for r in await conn.fetch(
                """SELECT vehicle_id, call_id FROM assignments WHERE released_at < assigned_at"""):
            problems.append(f"vehicle {r['vehicle_id']} released from call {r['call_id']} "
                            "before it was assigned (a stale status closed a newer mission)")
        for r in await conn.fetch(
                """SELECT v.id, v.status, v.call_id, a.call_id AS live_call
                     FROM vehicles v
                     LEFT JOIN assignments a ON a.vehicle_id = v.id AND a.released_at IS NULL
                    WHERE (v.status = 'available' AND a.id IS NOT NULL)
                       OR (v.status = 'dispatched' AND a.id IS NULL)
                       OR v.call_id IS DISTINCT FROM a.call_id"""):
            problems.append(f"vehicle {r['id']} is {r['status']} (call {r['call_id']}) with "
                            f"live assignment on {r['live_call']}")
    return problems


async def calls_assigned_more_than_once(conn: asyncpg.Connection) -> list[str]:
    """Calls given two vehicles (intake never gives two: a retry claimed twice)."""
    rows = await conn.fetch("""SELECT call_id, array_agg(vehicle_id) AS vehicles
                                 FROM assignments GROUP BY call_id HAVING count(*) > 1""")
    return [f"call {r['call_id']} assigned {list(r['vehicles'])}" for r in rows]


async def record_problems(conn: asyncpg.Connection, calls: Iterable[Call]) -> list[str]:
    """Acknowledged calls missing from PostgreSQL, and calls stored twice or unasked."""
    stored = {r["idempotency_key"]: r for r in await conn.fetch(
        "SELECT id, idempotency_key, caller_number FROM calls")}
    problems: list[str] = []
    sent = list(calls)
    for call in sent:
        row = stored.get(call.key)
        if call.acknowledged and row is None:
            problems.append(f"call {call.key} acknowledged as {call.call_id} is not stored")
        elif row is not None and call.acknowledged and str(row["id"]) != call.call_id:
            problems.append(f"call {call.key} acknowledged as {call.call_id}, stored as "
                            f"{row['id']}")
    keys = {c.key for c in sent}
    for key in stored.keys() - keys:
        problems.append(f"a call stored under key {key} was never sent")
    by_number: dict[str, int] = {}
    for row in stored.values():
        by_number[row["caller_number"]] = by_number.get(row["caller_number"], 0) + 1
    problems += [f"caller {n} stored {k} times" for n, k in by_number.items() if k > 1]
    return problems


async def unassigned(conn: asyncpg.Connection, call_ids: Iterable[str]) -> list[str]:
    """Of `call_ids`, those that never got a vehicle."""
    rows = await conn.fetch(
        """SELECT c.id::text FROM calls c
            WHERE c.id = ANY($1::uuid[])
              AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.call_id = c.id)""",
        list(call_ids))
    return [r["id"] for r in rows]


def report_figures(test: str, figures: dict[str, Any]) -> None:
    """Append a test's measured figures to $DISPATCH_FAULT_FIGURES (JSON lines), if set.

    docs/reliability.md quotes them; nothing is written when the variable is unset.
    """
    target = os.environ.get("DISPATCH_FAULT_FIGURES")
    if not target:
        return
    with Path(target).open("a") as out:
        out.write(json.dumps({"test": test, **figures}, default=str) + "\n")
