"""A crew's status report in few statements: the locks and the facts it is judged on in
one; its writes in another (a clock's stamp, or a clearing's release with the queue it
may drain)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.db.fleet import QUEUE_ORDER, QUEUED_FOR_KIND


async def lock_for_status(
    *, conn: asyncpg.Connection, vehicle_id: str, status: str, at: datetime,
    report_id: str | None, drainer: str,
) -> asyncpg.Record | None:
    """Lock the vehicle's mission, then the vehicle (the lock order: call, then vehicle),
    and read what a status report about it is judged on. None: no such vehicle.

    Columns: the vehicle's (dispatch.db.fleet.VEHICLE_COLUMNS) as locked; `seen_call_id`,
    the mission before the lock (the call locked); `fresh`, whether the vehicle's row is
    the version this statement's snapshot saw (else the facts below may predate a report
    that held the lock first: run again, holding it); `destination_id` of the mission;
    its live assignment (`given_call_id`, `assigned_at`, `assigned_by`); the first answer
    to `report_id` (`fingerprint`, `result`); the event a report of `status` stamped `at`
    wrote (`earlier`, `earlier_call_id`); and the call of the vehicle's last clearing with
    `status` (`last_cleared`), read only where it can matter: a clearing stamped before
    its mission was given, or one soon after the queue (`drainer`) gave it.
    """
    return await conn.fetchrow(
        """WITH seen AS MATERIALIZED (
               SELECT call_id, xmin AS version FROM vehicles WHERE id = $1
           ), mission AS MATERIALIZED (
               SELECT id, destination_id FROM calls
                WHERE id = (SELECT call_id FROM seen) FOR UPDATE
           ), held AS MATERIALIZED (
               -- the count makes the call's lock come first
               SELECT v.*, v.xmin AS version FROM vehicles v
                WHERE v.id = $1 AND (SELECT count(*) FROM mission) >= 0
                  FOR UPDATE
           )
           SELECT v.id, v.call_sign, v.kind, v.station_id, v.home_station_id,
                  v.capabilities, v.crew_count, v.status, v.call_id, v.lon, v.lat,
                  v.position_at, v.status_at, s.district_id AS station_district_id,
                  (SELECT call_id FROM seen) AS seen_call_id,
                  v.version = (SELECT version FROM seen) AS fresh,
                  (SELECT destination_id FROM mission) AS destination_id,
                  a.call_id AS given_call_id, a.assigned_at, a.assigned_by,
                  r.fingerprint, r.result,
                  e.found IS NOT NULL AS earlier, e.call_id AS earlier_call_id,
                  lc.call_id AS last_cleared
             FROM held v
             LEFT JOIN stations s ON s.id = v.station_id
             LEFT JOIN assignments a ON a.vehicle_id = v.id AND a.released_at IS NULL
             LEFT JOIN status_reports r ON r.vehicle_id = v.id AND r.report_id = $4
             LEFT JOIN LATERAL (
                 SELECT true AS found, call_id FROM events
                  WHERE vehicle_id = $1 AND occurred_at = $3 AND data->>'status' = $2
                  LIMIT 1) e ON true
             LEFT JOIN LATERAL (
                 SELECT call_id FROM events
                  WHERE vehicle_id = $1 AND kind = 'cleared' AND data->>'status' = $2
                    AND $2 IN ('available', 'returning')
                    AND ($3 < a.assigned_at OR a.assigned_by = $5)
                  ORDER BY occurred_at DESC, id DESC LIMIT 1) lc ON true""",
        vehicle_id, status, at, report_id, drainer,
    )


async def stamp_status(
    *, conn: asyncpg.Connection, vehicle_id: str, call_id: UUID, status: str,
    event_kind: str, at: datetime, report: tuple[str, str, dict[str, Any]] | None,
) -> None:
    """A status that stamps a clock of the vehicle's mission, in one statement: the call
    becomes active (if it was assigned), the vehicle takes the status, the clock's event
    is written and `report` (report_id, fingerprint, result) kept under its id."""
    report_id, fingerprint, result = report if report is not None else (None, None, None)
    await conn.execute(
        """WITH call AS (
               UPDATE calls SET status = 'active', updated_at = now()
                WHERE id = $2 AND status = 'assigned'
           ), vehicle AS (
               UPDATE vehicles SET status = $3, status_at = $5 WHERE id = $1
           ), event AS (
               INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
               VALUES ($2, $1, $4, $5, jsonb_build_object('status', $3::text))
           )
           INSERT INTO status_reports (vehicle_id, report_id, fingerprint, result)
           SELECT $1, $6, $7, $8 WHERE $6::text IS NOT NULL""",
        vehicle_id, call_id, status, event_kind, at, report_id, fingerprint, result,
    )


@dataclass(frozen=True, slots=True)
class Release:
    """What ending a vehicle's assignment writes besides it: the event and audit row,
    whether the call closes when no other vehicle is left on it, and a status report's
    answer to keep under its id."""

    vehicle_id: str
    call_id: UUID
    at: datetime
    status: str
    event_kind: str
    data: dict[str, Any]
    actor: str
    role: str
    close: bool = False
    report: tuple[str, str, dict[str, Any]] | None = None  # (report_id, fingerprint, result)


@dataclass(frozen=True, slots=True)
class QueueLook:
    """The head of the queue a freed vehicle of `kind` could serve (QUEUED_FOR_KIND)."""

    kind: str
    limit: int
    booked_before: datetime


async def release_assignment(
    *, conn: asyncpg.Connection, release: Release, queue: QueueLook | None = None,
) -> asyncpg.Record:
    """End the vehicle's live assignment and write what goes with it, in one statement.

    Returns the vehicle (id, kind, lon, lat), the `call_id` it was released from and, with
    `queue`, the head of the queue as `queued` (JSON: id, acuity, lon, lat; unlocked, in
    queue order). The call is closed only if no other vehicle is live on it.
    """
    r = release
    report_id, fingerprint, result = r.report if r.report is not None else (None, None, None)
    return await conn.fetchrow(
        f"""WITH released AS (
               UPDATE assignments SET released_at = $2
                WHERE vehicle_id = $1 AND released_at IS NULL
                RETURNING call_id
           ), vehicle AS (
               UPDATE vehicles SET status = $3, call_id = NULL, status_at = $2
                WHERE id = $1 RETURNING id, kind, lon, lat
           ), event AS (
               INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
               VALUES ($4, $1, $5, $2, $6)
           ), audited AS (
               INSERT INTO audit_log (actor, role, action, call_id, vehicle_id, detail)
               VALUES ($7, $8, 'unassign', $4, $1, $6)
           ), closed AS (
               -- this statement still sees the vehicle's own assignment as live
               UPDATE calls SET status = 'closed', updated_at = now()
                WHERE $9 AND id = $4 AND status IN ('active', 'assigned')
                  AND NOT EXISTS (SELECT 1 FROM assignments a
                                   WHERE a.call_id = $4 AND a.released_at IS NULL
                                     AND a.vehicle_id <> $1)
           ), report AS (
               INSERT INTO status_reports (vehicle_id, report_id, fingerprint, result)
               SELECT $1, $10, $11, $12 WHERE $10::text IS NOT NULL
           )
           SELECT v.id, v.kind, v.lon, v.lat, (SELECT call_id FROM released) AS call_id,
                  (SELECT coalesce(json_agg(json_build_object(
                              'id', q.id, 'acuity', q.acuity, 'lon', q.lon, 'lat', q.lat)
                              ORDER BY q.acuity, q.received_at), '[]')
                     FROM ({QUEUED_FOR_KIND.format(kind="$13", booked_before="$15")}
                           {QUEUE_ORDER} LIMIT $14) q
                    WHERE $13::text IS NOT NULL) AS queued
             FROM vehicle v""",
        r.vehicle_id, r.at, r.status, r.call_id, r.event_kind, r.data, r.actor, r.role,
        r.close, report_id, fingerprint, result,
        None if queue is None else queue.kind, None if queue is None else queue.limit,
        None if queue is None else queue.booked_before,
    )
