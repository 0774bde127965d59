"""Hospital capacity beside diversion: ED beds, capabilities unavailable for the moment.

A centre's screen (frame `capacity`) or REST (POST /v1/hospitals/{id}/capacity, the centre
or a dispatcher after a phone call) reports; the report is merged into `hospitals`, which
destination choice reads through Places (dispatch.triage.destination: an unavailable
capability counts as diverted, a full ED ranks further), and kept on the centre's timeline
(hospital_capacity_events), in one transaction with its `hospital_capacity` message to
the console and the centre (outbox). Then every instance reloads its places.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.auth import Principal
from dispatch.errors import NotFound
from dispatch.handover import repo
from dispatch.handover.messages import CapacityReport
from dispatch.places import PlacesCache
from dispatch.realtime.outbox import OutboxPublisher, add_outbox
from dispatch.triage.destination import ed_full

__all__ = ["Reported", "capacity_of", "current", "hospital_timeline", "report_capacity"]

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


async def _store(
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


async def report_capacity(
    *,
    pool: asyncpg.Pool,
    outbox: OutboxPublisher,
    places: PlacesCache,
    principal: Principal,
    hospital_id: str,
    report: CapacityReport,
    msg_id: str | None = None,
) -> Reported:
    """Store a capacity report, publish it, and have every instance reload its places.

    `msg_id`: a screen's frame, stored once per (hospital, msg_id) like its other frames;
    the resend of one changes nothing."""
    frame_id: int | None = None
    async with pool.acquire() as conn, conn.transaction():
        if msg_id is not None:
            frame_id, created = await repo.insert_hospital_message(
                conn=conn, hospital_id=hospital_id, msg_id=msg_id, call_id=None,
                kind="capacity", body=report.model_dump(mode="json"))
            if not created:
                return Reported(event_id=frame_id, capacity=None)
        stored = await _store(conn=conn, hospital_id=hospital_id, report=report,
                              reported_by=principal.subject)
        if stored is None:
            raise NotFound(f"hospital {hospital_id} does not exist", field="hospital_id")
        event_id, capacity = stored
        payload = {"kind": "hospital_capacity", **capacity}
        await add_outbox(conn=conn, items=[("console", payload),
                                                (f"hospital:{hospital_id}", payload)])
    # Every instance's destination choice reads the new capacity from now on.
    await places.invalidate()
    await outbox.flush()
    return Reported(event_id=event_id if frame_id is None else frame_id, capacity=capacity)


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
