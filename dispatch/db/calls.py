"""Calls and their location fixes in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.db import fleet as fleet_db
from dispatch.domain import CallStatus, CoordSystem, FixSource
from dispatch.geo.fusion import FusedLocation
from dispatch.realtime.outbox import OUTBOX_CHANNEL_PREFIX


@dataclass(frozen=True, slots=True)
class StoredFix:
    source: FixSource
    coord_system: CoordSystem
    raw_lon: float
    raw_lat: float
    lon: float  # WGS-84
    lat: float
    accuracy_m: float
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class NewCall:
    id: UUID
    idempotency_key: str | None
    caller_number: str
    complaint: str
    answers: dict[str, Any]
    acuity: int
    transport_class: str
    pathway: str | None
    triage: dict[str, Any]
    required_kinds: list[str]
    received_at: datetime
    answered_at: datetime
    booked_from: datetime | None
    booked_to: datetime | None
    # SHA-256 of the canonical request body, kept with an Idempotency-Key
    request_fingerprint: str | None = None


CALL_COLUMNS = """id, caller_number, complaint, answers, status, acuity, transport_class,
    pathway, triage, required_kinds, lon, lat, radius_m, location, district_id,
    booked_from, booked_to, destination_id, received_at, answered_at, created_at, updated_at"""


async def call_for_key(
    *, conn: asyncpg.Connection, key: str
) -> tuple[UUID, str | None] | None:
    """(id, request fingerprint) of the call an Idempotency-Key created, if any."""
    row = await conn.fetchrow(
        "SELECT id, request_fingerprint FROM calls WHERE idempotency_key = $1", key)
    return None if row is None else (row["id"], row["request_fingerprint"])


async def insert_fixes(
    *, conn: asyncpg.Connection, call_id: UUID, fixes: list[StoredFix]
) -> list[int]:
    """Insert fixes in one round trip; return their ids in the order given (the ids a
    fused location's `used` and `rejected` name, from intake on)."""
    if not fixes:
        return []
    rows = await conn.fetch(
        """INSERT INTO fixes (call_id, source, coord_system, raw_lon, raw_lat, lon, lat,
                              accuracy_m, observed_at)
           SELECT $1, t.source, t.coord_system, t.raw_lon, t.raw_lat, t.lon, t.lat,
                  t.accuracy_m, t.observed_at
             FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[],
                         $7::float8[], $8::float8[], $9::timestamptz[]) WITH ORDINALITY
                  AS t(source, coord_system, raw_lon, raw_lat, lon, lat, accuracy_m,
                       observed_at, n)
            ORDER BY t.n
           RETURNING id""",
        call_id, [f.source.value for f in fixes], [f.coord_system.value for f in fixes],
        [f.raw_lon for f in fixes], [f.raw_lat for f in fixes], [f.lon for f in fixes],
        [f.lat for f in fixes], [f.accuracy_m for f in fixes], [f.observed_at for f in fixes],
    )
    # one statement draws its ids from the sequence in the order of its rows
    return sorted(r["id"] for r in rows)


async def fixes_of(*, conn: asyncpg.Connection, call_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, source, coord_system, raw_lon, raw_lat, lon, lat, accuracy_m,
                  observed_at, received_at
             FROM fixes WHERE call_id = $1 ORDER BY id""",
        call_id,
    )


async def set_location(
    *,
    conn: asyncpg.Connection,
    call_id: UUID,
    lon: float,
    lat: float,
    radius_m: float,
    location: dict[str, Any],
    district_id: str | None,
) -> None:
    await conn.execute(
        """UPDATE calls SET lon = $2, lat = $3, radius_m = $4, location = $5, district_id = $6,
                            updated_at = now()
            WHERE id = $1""",
        call_id, lon, lat, radius_m, location, district_id,
    )


async def set_triage(
    *,
    conn: asyncpg.Connection,
    call_id: UUID,
    acuity: int,
    transport_class: str,
    pathway: str | None,
    triage: dict[str, Any],
    required_kinds: list[str],
    answers: dict[str, Any],
) -> None:
    await conn.execute(
        """UPDATE calls SET acuity = $2, transport_class = $3, pathway = $4, triage = $5,
                            required_kinds = $6, answers = $7, updated_at = now()
            WHERE id = $1""",
        call_id, acuity, transport_class, pathway, triage, required_kinds, answers,
    )


async def set_destination(
    *, conn: asyncpg.Connection, call_id: UUID, hospital_id: str | None
) -> None:
    await conn.execute(
        "UPDATE calls SET destination_id = $2, updated_at = now() WHERE id = $1",
        call_id, hospital_id,
    )


async def get_call(
    *, conn: asyncpg.Connection, call_id: UUID, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {CALL_COLUMNS} FROM calls WHERE id = $1{lock}", call_id)


async def view_row(*, conn: asyncpg.Connection, call_id: UUID) -> asyncpg.Record | None:
    """A call with its live assignments, queue place and booked trip, in one round trip."""
    return await conn.fetchrow(
        f"""SELECT {CALL_COLUMNS},
               (SELECT coalesce(json_agg(json_build_object(
                    'vehicle_id', a.vehicle_id, 'call_sign', v.call_sign, 'kind', v.kind,
                    'status', v.status, 'assigned_at', a.assigned_at, 'eta_s', a.eta_s,
                    'distance_m', a.distance_m, 'reasons', a.reason -> 'reasons',
                    'assigned_by', a.assigned_by) ORDER BY a.assigned_at), '[]')
                  FROM assignments a JOIN vehicles v ON v.id = a.vehicle_id
                 WHERE a.call_id = c.id AND a.released_at IS NULL) AS live_assignments,
               CASE WHEN c.status = 'queued' THEN 1 + (
                    SELECT count(*) FROM calls q
                     WHERE q.status = 'queued' AND q.transport_class = c.transport_class
                       AND (q.acuity, q.received_at, q.id) < (c.acuity, c.received_at, c.id))
               END AS queue_position,
               (SELECT json_build_object('plan', b.plan, 'status', b.status)
                  FROM booked_trips b WHERE b.call_id = c.id) AS trip,
               (SELECT coalesce(json_agg(json_build_object(
                    'id', f.id, 'source', f.source, 'coord_system', f.coord_system,
                    'raw_lon', f.raw_lon, 'raw_lat', f.raw_lat, 'lon', f.lon, 'lat', f.lat,
                    'accuracy_m', f.accuracy_m, 'observed_at', f.observed_at,
                    'received_at', f.received_at) ORDER BY f.id), '[]')
                  FROM fixes f WHERE f.call_id = c.id) AS fixes
             FROM calls c WHERE c.id = $1""",
        call_id,
    )


async def list_calls(
    *, conn: asyncpg.Connection, statuses: list[str], limit: int
) -> list[asyncpg.Record]:
    """Calls in the given states: the queue order, acuity first then age."""
    return await conn.fetch(
        f"""SELECT {CALL_COLUMNS} FROM calls WHERE status = ANY($1::text[])
             ORDER BY acuity, received_at LIMIT $2""",
        statuses, limit,
    )


async def calls_received(
    *, conn: asyncpg.Connection, since: datetime, until: datetime,
    after: tuple[datetime, UUID] | None, limit: int,
) -> list[asyncpg.Record]:
    """Calls received in [since, until), oldest first, from after the (received_at, id) cursor."""
    return await conn.fetch(
        f"""SELECT {CALL_COLUMNS} FROM calls
             WHERE received_at >= $1 AND received_at < $2
               AND ($3::timestamptz IS NULL OR (received_at, id) > ($3, $4::uuid))
             ORDER BY received_at, id LIMIT $5""",
        since, until, after[0] if after else None, after[1] if after else None, limit,
    )


async def set_status(
    *, conn: asyncpg.Connection, call_id: UUID, status: CallStatus, expect: list[str]
) -> bool:
    """Move a call to `status` only if it is in one of `expect`; True if it moved."""
    row = await conn.fetchrow(
        """UPDATE calls SET status = $2, updated_at = now()
            WHERE id = $1 AND status = ANY($3::text[]) RETURNING id""",
        call_id, status.value, expect,
    )
    return row is not None


async def live_call_for_caller(
    *, conn: asyncpg.Connection, caller_number: str
) -> UUID | None:
    """The newest live call from a number (AML messages find their call this way)."""
    return await conn.fetchval(
        """SELECT id FROM calls WHERE caller_number = $1
              AND status IN ('queued', 'assigned', 'active')
            ORDER BY received_at DESC LIMIT 1""",
        caller_number,
    )


@dataclass(frozen=True, slots=True)
class Prelude:
    """What an intake reads before it writes."""

    held: list[asyncpg.Record]  # AML reports held for the caller, oldest first
    fix_ids: list[int]  # ids for the new call's fixes: those given, then the held ones
    # the call the Idempotency-Key created already, and its request's fingerprint
    key_call: UUID | None
    key_fingerprint: str | None


async def intake_prelude(
    *, conn: asyncpg.Connection, caller_number: str, since: datetime, n_fixes: int,
    key: str | None,
) -> Prelude:
    """In one round trip: the call `key` created, if any; the AML reports held for a
    caller since `since`; ids drawn for the new call's fixes (`n_fixes` given plus one
    per held report): fusion names fixes by id, so the ids exist before the call does."""
    rows = await conn.fetch(
        """WITH held AS (
               SELECT id, lon, lat, accuracy_m, source, observed_at FROM aml_messages
                WHERE caller_number = $1 AND call_id IS NULL AND received_at >= $2
           ), keyed AS (
               SELECT id, request_fingerprint FROM calls WHERE idempotency_key = $4::text
           ), ids AS (
               -- none for a replay: it writes nothing
               SELECT array_agg(nextval(pg_get_serial_sequence('fixes', 'id'))
                                ORDER BY n) AS fix_ids
                 FROM generate_series(1, CASE WHEN EXISTS (SELECT 1 FROM keyed) THEN 0
                                         ELSE $3 + (SELECT count(*)::int FROM held) END) AS n
           )
           SELECT h.id, h.lon, h.lat, h.accuracy_m, h.source, h.observed_at, ids.fix_ids,
                  k.id AS key_call, k.request_fingerprint AS key_fingerprint
             FROM ids LEFT JOIN held h ON true LEFT JOIN keyed k ON true
            ORDER BY h.id""",
        caller_number, since, n_fixes, key,
    )
    first = rows[0]
    return Prelude(held=[r for r in rows if r["id"] is not None],
                   fix_ids=sorted(first["fix_ids"] or []), key_call=first["key_call"],
                   key_fingerprint=first["key_fingerprint"])


@dataclass(frozen=True, slots=True)
class CentreAlert:
    """A new call's first receiving-centre alert, written with its intake
    (dispatch.handover.prealert.first_alert): the centre's handover row and the bus
    messages for the outbox, in order (its timeline event is among the intake's)."""

    # the centre's handover: none when no centre could be chosen
    hospital_id: str | None
    phase: str | None
    state: dict[str, Any] | None
    outbox: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class IntakeWrite:
    """Everything a new call's intake writes, decided before PostgreSQL is touched."""

    call: NewCall
    fused: FusedLocation | None
    district_id: str | None
    destination_id: str | None
    fixes: list[tuple[int, StoredFix]]  # (id from intake_prelude, fix)
    held_aml: list[int]  # held AML reports these fixes came from, to attach
    # the timeline up to the claim: (kind, occurred_at, data)
    events: list[tuple[str, datetime, dict[str, Any]]]
    # the claim, tried first to last: (vehicle_id, eta_s, distance_m, reason)
    options: list[tuple[str, float | None, float | None, dict[str, Any]]]
    assigned_by: str
    role: str
    now: datetime
    alert: CentreAlert | None = None


# One statement: claim the first free option (dispatch.db.fleet.CLAIM_CTES), insert the
# call once with its final status, its fixes, its whole timeline in one insert (one
# call_clocks pending mark, migration 0024) and the assignment's audit row, attach the
# held AML reports, alert the receiving centre (its handover row, the outbox's messages
# and their NOTIFY, delivered on commit), and return the call as view_row shows it. The
# statement is its own transaction unless the caller opened one.
_INTAKE_SQL = f"""WITH {fleet_db.CLAIM_CTES},
call AS (
    INSERT INTO calls (id, idempotency_key, caller_number, complaint, answers, status,
                       acuity, transport_class, pathway, triage, required_kinds,
                       lon, lat, radius_m, location, district_id, destination_id,
                       received_at, answered_at, booked_from, booked_to,
                       request_fingerprint)
    VALUES ($5, $8, $9, $10, $11,
            CASE WHEN EXISTS (SELECT 1 FROM claimed) THEN 'assigned' ELSE 'queued' END,
            $12, $13, $14, $15, $16, $22, $23, $24, $25, $26, $27, $17, $18, $19, $20,
            $21)
    RETURNING {CALL_COLUMNS}
), fix AS (
    INSERT INTO fixes (id, call_id, source, coord_system, raw_lon, raw_lat, lon, lat,
                       accuracy_m, observed_at)
    SELECT t.id, $5, t.source, t.coord_system, t.raw_lon, t.raw_lat, t.lon, t.lat,
           t.accuracy_m, t.observed_at
      FROM unnest($28::bigint[], $29::text[], $30::text[], $31::float8[], $32::float8[],
                  $33::float8[], $34::float8[], $35::float8[], $36::timestamptz[])
           AS t(id, source, coord_system, raw_lon, raw_lat, lon, lat, accuracy_m,
                observed_at)
    RETURNING id, source, coord_system, raw_lon, raw_lat, lon, lat, accuracy_m,
              observed_at, received_at
), held AS (
    UPDATE aml_messages SET call_id = $5
     WHERE id = ANY($37::bigint[]) AND call_id IS NULL RETURNING id
), event AS (
    INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)
    SELECT $5, e.vehicle_id, e.kind, e.at, e.data FROM (
        SELECT NULL::text AS vehicle_id, kind, at, data, n
          FROM unnest($38::text[], $39::timestamptz[], $40::jsonb[])
               WITH ORDINALITY AS u(kind, at, data, n)
        UNION ALL
        -- as dispatch.flows.claim.claim_first records a claim
        SELECT c.id, 'dispatched', $41::timestamptz, jsonb_build_object(
                   'station_id', c.station_id, 'district_id', s.district_id,
                   'eta_s', c.eta_s, 'distance_m', c.distance_m,
                   'reasons', c.reason -> 'reasons', 'by', $7::text,
                   'from_lon', c.lon, 'from_lat', c.lat), 1 + cardinality($38::text[])
          FROM claimed c LEFT JOIN stations s ON s.id = c.station_id
    ) e ORDER BY e.n
    RETURNING id
), audited AS (
    INSERT INTO audit_log (actor, role, action, call_id, vehicle_id, detail)
    SELECT $7, $42, 'assign', $5, c.id, jsonb_build_object(
               'eta_s', c.eta_s, 'reasons', c.reason -> 'reasons',
               'note', c.reason -> 'note')
      FROM claimed c
    RETURNING id
), handover AS (
    INSERT INTO handovers (call_id, hospital_id, phase, state)
    SELECT $5, $43, $44, $45 WHERE $43::text IS NOT NULL
    RETURNING call_id
), outbox AS (
    INSERT INTO handover_outbox (topic, payload)
    SELECT o.topic, o.payload
      FROM unnest($46::text[], $47::jsonb[]) WITH ORDINALITY AS o(topic, payload, n)
     ORDER BY o.n
    RETURNING id
)
SELECT k.*,
       (SELECT coalesce(json_agg(json_build_object(
            'vehicle_id', c.id, 'call_sign', c.call_sign, 'kind', c.kind,
            'status', 'dispatched', 'assigned_at', c.at, 'eta_s', c.eta_s,
            'distance_m', c.distance_m, 'reasons', c.reason -> 'reasons',
            'assigned_by', $7::text)), '[]') FROM claimed c) AS live_assignments,
       CASE WHEN k.status = 'queued' THEN 1 + (
            SELECT count(*) FROM calls q
             WHERE q.status = 'queued' AND q.transport_class = k.transport_class
               AND (q.acuity, q.received_at, q.id) < (k.acuity, k.received_at, k.id))
       END AS queue_position,
       NULL::json AS trip,
       (SELECT coalesce(json_agg(json_build_object(
            'id', f.id, 'source', f.source, 'coord_system', f.coord_system,
            'raw_lon', f.raw_lon, 'raw_lat', f.raw_lat, 'lon', f.lon, 'lat', f.lat,
            'accuracy_m', f.accuracy_m, 'observed_at', f.observed_at,
            'received_at', f.received_at) ORDER BY f.id), '[]') FROM fix f) AS fixes,
       (SELECT c.id FROM claimed c) AS claimed_vehicle_id,
       (SELECT count(*) FROM held) AS held_attached,
       -- as dispatch.realtime.outbox.add_outbox wakes the publishers
       (SELECT count(*) FROM (
            SELECT pg_notify('{OUTBOX_CHANNEL_PREFIX}' || current_schema(), '')
             WHERE cardinality($46::text[]) > 0) n) AS notified
  FROM call k"""


async def insert_intake(*, conn: asyncpg.Connection, intake: IntakeWrite) -> asyncpg.Record:
    """Write a new call's intake in one statement (see _INTAKE_SQL); return the call's
    view row with `claimed_vehicle_id` (None when no option was free) and
    `held_attached`. A taken Idempotency-Key raises UniqueViolationError on calls."""
    call, fixes, options = intake.call, [f for _, f in intake.fixes], intake.options
    loc, alert = intake.fused, intake.alert
    outbox = alert.outbox if alert else []
    row = await conn.fetchrow(
        _INTAKE_SQL,
        [o[0] for o in options], [o[1] for o in options], [o[2] for o in options],
        [o[3] for o in options], call.id, intake.now, intake.assigned_by,
        call.idempotency_key, call.caller_number, call.complaint, call.answers,
        call.acuity, call.transport_class, call.pathway, call.triage, call.required_kinds,
        call.received_at, call.answered_at, call.booked_from, call.booked_to,
        call.request_fingerprint,
        loc.lon if loc else None, loc.lat if loc else None,
        loc.radius_m if loc else None, loc.to_dict() if loc else None,
        intake.district_id, intake.destination_id,
        [i for i, _ in intake.fixes], [f.source.value for f in fixes],
        [f.coord_system.value for f in fixes], [f.raw_lon for f in fixes],
        [f.raw_lat for f in fixes], [f.lon for f in fixes], [f.lat for f in fixes],
        [f.accuracy_m for f in fixes], [f.observed_at for f in fixes],
        intake.held_aml,
        [e[0] for e in intake.events], [e[1] for e in intake.events],
        [e[2] for e in intake.events], intake.now, intake.role,
        alert and alert.hospital_id, alert and alert.phase, alert and alert.state,
        [t for t, _ in outbox], [p for _, p in outbox],
    )
    assert row is not None  # the call's INSERT returns its row or raises
    return row
