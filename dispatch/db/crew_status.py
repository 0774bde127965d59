"""A crew's status report in few statements: a plain report locked, judged and written
in one (apply_if_plain); any other locked with the facts it is judged on in one, its
writes in another (a clock's stamp, or a clearing's release with the queue it may drain),
and a freed vehicle's claim of a queued call in a third (claim_queued)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.db.fleet import QUEUE_ORDER, QUEUED_FOR_KIND
from dispatch.realtime.outbox import OUTBOX_CHANNEL_PREFIX

# The receiving centre's message about a crew's status (dispatch.handover.prealert
# .crew_status_news): (topic, payload).
News = tuple[str, dict[str, Any]]
# Leave `News` in the outbox, as dispatch.realtime.outbox.add_outbox does, as the last
# CTEs of a statement ({topic} and {payload} its parameters; none when {topic} is NULL);
# the statement must read `notified` (NOTIFY is delivered only on commit).
_NEWS = """news AS (
               INSERT INTO handover_outbox (topic, payload)
               SELECT {topic}, {payload} WHERE {topic}::text IS NOT NULL
           ), notified AS (
               SELECT pg_notify('""" + OUTBOX_CHANNEL_PREFIX + """' || current_schema(), '')
                WHERE {topic}::text IS NOT NULL
           )"""


# Lock the vehicle's mission, then the vehicle (the lock order: call, then vehicle), and
# read the facts a status report is judged on ($1 vehicle, $2 status, $3 at, $4 report_id,
# $5 who drains the queue). `held` is the vehicle as locked; the count makes the call's
# lock come first.
_LOCK_AND_FACTS = """WITH seen AS MATERIALIZED (
       SELECT call_id, xmin AS version FROM vehicles WHERE id = $1
   ), seen_call AS MATERIALIZED (
       SELECT xmin AS version FROM calls WHERE id = (SELECT call_id FROM seen)
   ), mission AS MATERIALIZED (
       SELECT id, destination_id, xmin AS version FROM calls
        WHERE id = (SELECT call_id FROM seen) FOR UPDATE
   ), held AS MATERIALIZED (
       SELECT v.*, v.xmin AS version FROM vehicles v
        WHERE v.id = $1 AND (SELECT count(*) FROM mission) >= 0
          FOR UPDATE
   ), facts AS MATERIALIZED (
       SELECT v.id, v.call_sign, v.kind, v.station_id, v.home_station_id,
              v.capabilities, v.crew_count, v.status, v.call_id, v.lon, v.lat,
              v.position_at, v.status_at, s.district_id AS station_district_id,
              (SELECT call_id FROM seen) AS seen_call_id,
              v.version = (SELECT version FROM seen) AS fresh,
              (SELECT version FROM mission) IS NOT DISTINCT FROM
                  (SELECT version FROM seen_call) AS call_fresh,
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
              ORDER BY occurred_at DESC, id DESC LIMIT 1) lc ON true
   )"""


async def lock_for_status(
    *, conn: asyncpg.Connection, vehicle_id: str, status: str, at: datetime,
    report_id: str | None, drainer: str,
) -> asyncpg.Record | None:
    """Lock the vehicle's mission, then the vehicle (the lock order: call, then vehicle),
    and read what a status report about it is judged on. None: no such vehicle.

    Columns: the vehicle's (dispatch.db.fleet.VEHICLE_COLUMNS) as locked; `seen_call_id`,
    the mission before the lock (the call locked); `fresh`, whether the vehicle's row is
    the version this statement's snapshot saw (else the facts below may predate a report
    that held the lock first: run again, holding it), and `call_fresh` the same of the
    mission's row; `destination_id` of the mission;
    its live assignment (`given_call_id`, `assigned_at`, `assigned_by`); the first answer
    to `report_id` (`fingerprint`, `result`); the event a report of `status` stamped `at`
    wrote (`earlier`, `earlier_call_id`); and the call of the vehicle's last clearing with
    `status` (`last_cleared`), read only where it can matter: a clearing stamped before
    its mission was given, or one soon after the queue (`drainer`) gave it.
    """
    return await conn.fetchrow(
        f"{_LOCK_AND_FACTS} SELECT * FROM facts",
        vehicle_id, status, at, report_id, drainer,
    )


@dataclass(frozen=True, slots=True)
class PlainReport:
    """A status report to apply in one statement if it is plain (see apply_if_plain).

    `clock`: the event a clock status stamps; None for a clearing (available,
    returning). `grace_from`: a clearing of a call the queue (`drainer`) gave after this
    is not plain (Settings.clear_grace_s). `booked_before`: with `drains`, the queue a
    freed vehicle could take from (dispatch.flows.queue.queue_look)."""

    vehicle_id: str
    status: str
    at: datetime
    call_id: UUID | None
    report_id: str | None
    fingerprint: str
    clock: str | None
    actor: str
    role: str
    drainer: str
    grace_from: datetime
    drains: bool
    booked_before: datetime


async def apply_if_plain(*, conn: asyncpg.Connection, report: PlainReport
                         ) -> asyncpg.Record | None:
    """Lock and judge a status report as lock_for_status does and, when it is plain,
    write it in the same statement (its own transaction outside the caller's).

    Plain: the facts are fresh (neither the vehicle's row nor its mission's changed
    between this statement's snapshot and its locks: a wait on the call's lock may have
    let another transaction commit; the mission's other live vehicles are read
    locked, as committed), the report is neither a repeat (of its report_id, or of
    its status and time) nor about another mission than the vehicle's, the vehicle has
    one, and (a clearing) no call stamped before its mission nor soon after the queue
    gave it, and no queued call the freed vehicle could take; (a clock) not an arrival
    the receiving centre must record (at_hospital with a destination). Anything else
    writes nothing and is judged by the caller (dispatch.flows.fleet), in a
    transaction. A plain clock status writes what stamp_status does, a plain clearing
    what release_assignment does (the call closed when no vehicle is left on it); both
    keep the report's answer under its id and leave the receiving centre's news in the
    outbox, as dispatch.handover.prealert.crew_status_changed does.

    Columns: lock_for_status's, and `applied`. None: no such vehicle.
    """
    r = report
    return await conn.fetchrow(
        f"""{_LOCK_AND_FACTS}, go AS MATERIALIZED (
               SELECT f.call_id AS mission, f.destination_id, $9::text IS NOT NULL AS clock,
                      jsonb_build_object('vehicle_id', $1::text, 'status', $2::text,
                                         'call_id', f.call_id::text) AS result
                 FROM facts f
                WHERE f.fresh AND f.call_id = f.seen_call_id AND f.call_fresh
                  AND f.fingerprint IS NULL AND NOT f.earlier
                  AND CASE WHEN $6::uuid IS NOT NULL THEN $6 = f.call_id
                           WHEN f.given_call_id IS NULL THEN true
                           ELSE $3 >= f.assigned_at
                                AND ($9 IS NOT NULL OR f.assigned_by <> $5
                                     OR f.assigned_at <= $10)
                      END
                  AND CASE WHEN $9 IS NOT NULL
                           THEN $2 <> 'at_hospital' OR f.destination_id IS NULL
                           ELSE NOT ($11 AND f.lon IS NOT NULL AND EXISTS (
                               {QUEUED_FOR_KIND.format(kind="f.kind", booked_before="$12")}))
                      END
           ), others AS MATERIALIZED (
               -- the mission's other live vehicles, as committed when its lock was
               -- granted: locking re-reads a row another vehicle's clearing released
               -- after this statement's snapshot (a vehicle added meanwhile changed
               -- the call's row: not plain)
               SELECT a.id FROM assignments a
                WHERE a.call_id = (SELECT mission FROM go WHERE NOT clock)
                  AND a.released_at IS NULL AND a.vehicle_id <> $1
                  FOR UPDATE
           ), released AS (
               UPDATE assignments a SET released_at = $3 FROM go
                WHERE NOT go.clock AND a.vehicle_id = $1 AND a.released_at IS NULL
           ), vehicle AS (
               UPDATE vehicles v SET status = $2, status_at = $3,
                      call_id = CASE WHEN go.clock THEN v.call_id END
                 FROM go WHERE v.id = $1
           ), call AS (
               -- a clock makes the call active; a clearing closes it unless another
               -- vehicle is live on it
               UPDATE calls c SET status = CASE WHEN go.clock THEN 'active' ELSE 'closed' END,
                      updated_at = now()
                 FROM go
                WHERE c.id = go.mission
                  AND CASE WHEN go.clock THEN c.status = 'assigned'
                           ELSE c.status IN ('active', 'assigned')
                                AND NOT EXISTS (SELECT 1 FROM others)
                      END
           ), event AS (
               INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
               SELECT mission, $1, coalesce($9, 'cleared'), $3,
                      jsonb_build_object('status', $2::text)
                 FROM go
           ), audited AS (
               INSERT INTO audit_log (actor, role, action, call_id, vehicle_id, detail)
               SELECT $13, $14, 'unassign', mission, $1, jsonb_build_object('status', $2::text)
                 FROM go WHERE NOT clock
           ), kept AS (
               INSERT INTO status_reports (vehicle_id, report_id, fingerprint, result)
               SELECT $1, $4, $7, result FROM go WHERE $4::text IS NOT NULL
           ), news AS (
               INSERT INTO handover_outbox (topic, payload)
               SELECT 'hospital:' || destination_id,
                      jsonb_build_object('kind', 'crew_status', 'call_id', mission::text,
                                         'vehicle_id', $1::text, 'status', $2::text,
                                         'at', $8::text)
                 FROM go WHERE destination_id IS NOT NULL
           )
           -- NOTIFY is delivered only on commit: the outbox's publisher wakes then
           SELECT f.*, EXISTS (SELECT 1 FROM go) AS applied,
                  (SELECT pg_notify('{OUTBOX_CHANNEL_PREFIX}' || current_schema(), '')
                     FROM go WHERE destination_id IS NOT NULL) IS NULL AS quiet
             FROM facts f""",
        r.vehicle_id, r.status, r.at, r.report_id, r.drainer, r.call_id, r.fingerprint,
        r.at.isoformat(), r.clock, r.grace_from, r.drains, r.booked_before, r.actor, r.role,
    )


async def stamp_status(
    *, conn: asyncpg.Connection, vehicle_id: str, call_id: UUID, status: str,
    event_kind: str, at: datetime, report: tuple[str, str, dict[str, Any]] | None,
    news: News | None = None,
) -> None:
    """A status that stamps a clock of the vehicle's mission, in one statement: the call
    becomes active (if it was assigned), the vehicle takes the status, the clock's event
    is written, `report` (report_id, fingerprint, result) kept under its id and `news`
    left in the outbox."""
    report_id, fingerprint, result = report if report is not None else (None, None, None)
    topic, payload = news if news is not None else (None, None)
    await conn.execute(
        f"""WITH call AS (
               UPDATE calls SET status = 'active', updated_at = now()
                WHERE id = $2 AND status = 'assigned'
           ), vehicle AS (
               UPDATE vehicles SET status = $3, status_at = $5 WHERE id = $1
           ), event AS (
               INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
               VALUES ($2, $1, $4, $5, jsonb_build_object('status', $3::text))
           ), report AS (
               INSERT INTO status_reports (vehicle_id, report_id, fingerprint, result)
               SELECT $1, $6, $7, $8 WHERE $6::text IS NOT NULL
           ), {_NEWS.format(topic="$9", payload="$10")}
           SELECT count(*) FROM notified""",
        vehicle_id, call_id, status, event_kind, at, report_id, fingerprint, result,
        topic, payload,
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
    news: News | None = None  # the receiving centre's message, left in the outbox


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
           ), {_NEWS.format(topic="$16", payload="$17")}
           SELECT v.id, v.kind, v.lon, v.lat, (SELECT call_id FROM released) AS call_id,
                  (SELECT count(*) FROM notified) AS notified,
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
        *(r.news if r.news is not None else (None, None)),
    )


@dataclass(frozen=True, slots=True)
class QueuedClaim:
    """A freed vehicle's claim of a queued call, as dispatch.flows.claim.claim_first
    writes it: the assignment (`eta_s`, `distance_m`, `reason`), the `dispatched` event
    (`data`) and the audit row (`detail`)."""

    call_id: UUID
    eta_s: float
    distance_m: float
    reason: dict[str, Any]
    data: dict[str, Any]
    detail: dict[str, Any]


async def claim_queued(
    *, conn: asyncpg.Connection, vehicle_id: str, claim: QueuedClaim, at: datetime,
    actor: str, role: str,
) -> bool:
    """Give a vehicle freed in the caller's transaction (its row locked) a queued call, in
    one statement: the call locked SKIP LOCKED (never waited on while the vehicle is
    held; the lock order is call, then vehicle) and still queued, the vehicle still
    available with no live assignment; then the vehicle dispatched, its assignment
    (dated no earlier than its last clearing that has happened), the call assigned, the
    `dispatched` event at `at` and the audit row. False: nothing written (the call is
    held elsewhere or no longer queued)."""
    c = claim
    return bool(await conn.fetchval(
        """WITH call AS MATERIALIZED (
               SELECT id FROM calls WHERE id = $2 AND status = 'queued'
                  FOR UPDATE SKIP LOCKED
           ), pick AS MATERIALIZED (
               SELECT v.id, greatest($3::timestamptz,
                                     (SELECT max(r.released_at) FROM assignments r
                                       WHERE r.vehicle_id = v.id
                                         AND r.released_at <= clock_timestamp())) AS at
                 FROM vehicles v
                WHERE v.id = $1 AND v.status = 'available'
                  AND (SELECT count(*) FROM call) = 1
                  AND NOT EXISTS (SELECT 1 FROM assignments a
                                   WHERE a.vehicle_id = v.id AND a.released_at IS NULL)
                  FOR UPDATE OF v
           ), claimed AS (
               UPDATE vehicles v SET status = 'dispatched', call_id = $2, status_at = pick.at
                 FROM pick WHERE v.id = pick.id
           ), assignment AS (
               INSERT INTO assignments (call_id, vehicle_id, assigned_at, eta_s, distance_m,
                                        reason, assigned_by)
               SELECT $2, id, at, $4, $5, $6, $9 FROM pick
           ), moved AS (
               UPDATE calls c SET status = 'assigned', updated_at = now()
                 FROM pick WHERE c.id = $2
           ), event AS (
               INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
               SELECT $2, id, 'dispatched', $3, $7 FROM pick
           ), audited AS (
               INSERT INTO audit_log (actor, role, action, call_id, vehicle_id, detail)
               SELECT $9, $10, 'assign', $2, id, $8 FROM pick
           )
           SELECT count(*) = 1 FROM pick""",
        vehicle_id, c.call_id, at, c.eta_s, c.distance_m, c.reason, c.data, c.detail,
        actor, role,
    ))
