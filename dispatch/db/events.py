"""The append-only timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.domain import EventKind


@dataclass(frozen=True, slots=True)
class NewEvent:
    kind: EventKind
    occurred_at: datetime
    call_id: UUID | None = None
    vehicle_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


async def append_events(*, conn: asyncpg.Connection, events: list[NewEvent]) -> list[int]:
    """Append events in one round trip; return their ids in order."""
    if not events:
        return []
    rows = await conn.fetch(
        """INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[])
           RETURNING id""",
        [e.call_id for e in events],
        [e.vehicle_id for e in events],
        [e.kind.value for e in events],
        [e.occurred_at for e in events],
        [e.data for e in events],
    )
    return [r["id"] for r in rows]


async def timeline(*, conn: asyncpg.Connection, call_id: UUID) -> list[dict[str, Any]]:
    """A call's events in the order they happened (ties broken by arrival)."""
    rows = await conn.fetch(
        """SELECT id, kind, vehicle_id, occurred_at, received_at, data
             FROM events WHERE call_id = $1 ORDER BY occurred_at, id""",
        call_id,
    )
    return [dict(r) for r in rows]


async def audit(
    *,
    conn: asyncpg.Connection,
    actor: str,
    role: str,
    action: str,
    call_id: UUID | None = None,
    vehicle_id: str | None = None,
    hospital_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record who did or read what."""
    await conn.execute(
        """INSERT INTO audit_log (actor, role, action, call_id, vehicle_id, hospital_id, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        actor, role, action, call_id, vehicle_id, hospital_id, detail or {},
    )
