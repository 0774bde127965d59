"""Hospital capacity beside diversion: ED beds, capabilities unavailable for the moment.

A centre's screen (frame `capacity`) or REST (POST /v1/hospitals/{id}/capacity, the centre
or a dispatcher after a phone call) reports; the report is merged into `hospitals`, which
destination choice reads through Places (dispatch.triage.destination: an unavailable
capability counts as diverted, a full ED ranks further), and kept on the centre's timeline
(hospital_capacity_events), in one transaction with its `hospital_capacity` message to
the console and the centre (outbox). Then every instance reloads its places
(dispatch.flows.hospital.report_capacity).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.handover.messages import CapacityReport
from dispatch.triage.destination import ed_full

__all__ = ["Reported", "capacity_of", "current", "hospital_timeline", "store_report"]

_CAPACITY_COLUMNS = "id, ed_beds_available, ed_at_capacity, unavailable, capacity_at, capacity_by"


def capacity_of(row: asyncpg.Record) -> dict[str, Any]:
    """A hospital row's reported capacity, as published and shown (JSON-safe)."""
    at: datetime | None = row["capacity_at"]
    return {
        "hospital_id": row["id"],
        "ed_beds_available": row["ed_beds_available"],
        "ed_at_capacity": row["ed_at_capacity"],
        "ed_full": ed_full(beds_available=row["ed_beds_available"],
                           at_capacity=row["ed_at_capacity"]),
        "unavailable": dict(row["unavailable"]),
        "reported_at": None if at is None else at.isoformat(),
        "reported_by": row["capacity_by"],
    }


async def store_report(
    *, conn: asyncpg.Connection, hospital_id: str, report: CapacityReport, reported_by: str
) -> tuple[int, dict[str, Any]] | None:
    """Merge a report into the hospital's row and add it to its timeline (None: no such
    hospital). Returns the timeline row's id and the capacity after the report."""
    given = report.model_fields_set
    unavailable = {c.value: s.reason or "" for c, s in report.capabilities.items()
                   if not s.available}
    available = [c.value for c, s in report.capabilities.items() if s.available]
    row = await conn.fetchrow(
        f"""UPDATE hospitals
               SET ed_beds_available = CASE WHEN $2 THEN $3 ELSE ed_beds_available END,
                   ed_at_capacity = coalesce($4, ed_at_capacity),
                   unavailable = (unavailable - $6::text[]) || $5::jsonb,
                   capacity_at = clock_timestamp(), capacity_by = $7
             WHERE id = $1
         RETURNING {_CAPACITY_COLUMNS}""",
        hospital_id, "ed_beds_available" in given, report.ed_beds_available,
        report.ed_at_capacity, unavailable, available, reported_by)
    if row is None:
        return None
    capacity = capacity_of(row)
    event_id: int = await conn.fetchval(
        """INSERT INTO hospital_capacity_events
               (hospital_id, report, capacity, reported_by, reported_at)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        hospital_id, _report_body(report), capacity,
        reported_by, row["capacity_at"])
    return event_id, capacity


def _report_body(report: CapacityReport) -> dict[str, Any]:
    """What was reported, without a frame's type and msg_id."""
    return report.model_dump(mode="json", exclude_unset=True,
                             include=set(CapacityReport.model_fields))


@dataclass(frozen=True, slots=True)
class Reported:
    """A stored report: its timeline row (or the screen frame's row) and the capacity
    after it (None: a resend of a frame, stored the first time)."""

    event_id: int
    capacity: dict[str, Any] | None


async def current(*, conn: asyncpg.Connection, hospital_id: str) -> dict[str, Any] | None:
    """A hospital's reported capacity now (None: no such hospital)."""
    row = await conn.fetchrow(f"SELECT {_CAPACITY_COLUMNS} FROM hospitals WHERE id = $1",
                              hospital_id)
    return None if row is None else capacity_of(row)


async def hospital_timeline(
    *, conn: asyncpg.Connection, hospital_id: str, limit: int
) -> list[dict[str, Any]]:
    """The centre's diversions and capacity reports, newest first."""
    rows = await conn.fetch(
        """SELECT * FROM (
               SELECT 'diversion' AS kind, declared_at AS at, declared_by AS by,
                      jsonb_build_object('capability', capability, 'on', diverting,
                                         'until', until) AS data
                 FROM hospital_diversions WHERE hospital_id = $1
               UNION ALL
               SELECT 'capacity', reported_at, reported_by,
                      jsonb_build_object('report', report, 'capacity', capacity)
                 FROM hospital_capacity_events WHERE hospital_id = $1) t
            ORDER BY at DESC LIMIT $2""",
        hospital_id, limit)
    return [{"kind": r["kind"], "at": r["at"].isoformat(), "by": r["by"], "data": r["data"]}
            for r in rows]
