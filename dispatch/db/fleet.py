"""Vehicles, their assignments and the atomic claim."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

VEHICLE_COLUMNS = """v.id, v.call_sign, v.kind, v.station_id, v.home_station_id,
    v.capabilities, v.crew_count,
    v.status, v.call_id, v.lon, v.lat, v.position_at, v.status_at,
    s.district_id AS station_district_id"""


async def get_vehicle(
    *, conn: asyncpg.Connection, vehicle_id: str, for_update: bool = False
) -> asyncpg.Record | None:
    """One vehicle; `for_update` locks its row for the caller's transaction (status
    changes do, so two reports for one vehicle apply one after the other)."""
    lock = " FOR UPDATE OF v" if for_update else ""
    return await conn.fetchrow(
        f"""SELECT {VEHICLE_COLUMNS} FROM vehicles v LEFT JOIN stations s ON s.id = v.station_id
             WHERE v.id = $1{lock}""",
        vehicle_id,
    )


async def get_vehicles(*, conn: asyncpg.Connection, ids: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {VEHICLE_COLUMNS} FROM vehicles v LEFT JOIN stations s ON s.id = v.station_id
             WHERE v.id = ANY($1::text[])""",
        ids,
    )


async def list_vehicles(
    *, conn: asyncpg.Connection, status: str | None = None, kind: str | None = None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {VEHICLE_COLUMNS} FROM vehicles v LEFT JOIN stations s ON s.id = v.station_id
             WHERE ($1::text IS NULL OR v.status = $1) AND ($2::text IS NULL OR v.kind = $2)
             ORDER BY v.id""",
        status, kind,
    )


async def available_by_district(*, conn: asyncpg.Connection) -> dict[str, int]:
    """Available emergency vehicles per home-station district."""
    rows = await conn.fetch(
        """SELECT s.district_id, count(*) AS n
             FROM vehicles v JOIN stations s ON s.id = v.station_id
            WHERE v.status = 'available' AND v.kind IN ('als', 'bls')
              AND s.district_id IS NOT NULL
            GROUP BY s.district_id"""
    )
    return {r["district_id"]: r["n"] for r in rows}


async def available_positions(*, conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every available vehicle with a known position: the source of the Redis GEO index."""
    return await conn.fetch(
        """SELECT id, kind, lon, lat FROM vehicles
            WHERE status = 'available' AND lon IS NOT NULL AND lat IS NOT NULL"""
    )


# The claim as common table expressions another statement can start with (`WITH
# {CLAIM_CTES}, ...`): $1-$4 the options' vehicle ids, ETAs, distances and reasons in the
# order to try, $5 the call, $6 the time, $7 who assigns. `claimed` and `assignment` hold
# the vehicle taken and its assignment, or no row when every option was taken.
CLAIM_CTES = """opts AS (
    SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::jsonb[])
             WITH ORDINALITY AS o(vehicle_id, eta_s, distance_m, reason, pos)
), pick AS (
    -- never assigned before a clearing that freed it and has already happened
    -- (a request that waited on the vehicle read its clock before the crew
    -- stamped it); a stamp still in the future is a tablet's clock, not a fact
    SELECT v.id, o.eta_s, o.distance_m, o.reason,
           greatest($6::timestamptz,
                    (SELECT max(r.released_at) FROM assignments r
                      WHERE r.vehicle_id = v.id
                        AND r.released_at <= clock_timestamp())) AS at
      FROM vehicles v JOIN opts o ON o.vehicle_id = v.id
     WHERE v.status = 'available'
       -- never beside a live assignment, whatever the status column says
       AND NOT EXISTS (SELECT 1 FROM assignments a
                        WHERE a.vehicle_id = v.id AND a.released_at IS NULL)
     ORDER BY o.pos LIMIT 1
       FOR UPDATE OF v SKIP LOCKED
), claimed AS (
    UPDATE vehicles v SET status = 'dispatched', call_id = $5, status_at = pick.at
      FROM pick WHERE v.id = pick.id
    RETURNING v.id, v.kind, v.call_sign, v.station_id, v.lon, v.lat,
              pick.eta_s, pick.distance_m, pick.reason, pick.at
), assignment AS (
    INSERT INTO assignments (call_id, vehicle_id, assigned_at, eta_s, distance_m,
                             reason, assigned_by)
    SELECT $5, id, at, eta_s, distance_m, reason, $7 FROM claimed
    RETURNING id
)"""


async def claim_first_available(
    *,
    conn: asyncpg.Connection,
    options: Sequence[tuple[str, float | None, float | None, dict[str, Any]]],
    call_id: UUID,
    at: datetime,
    assigned_by: str,
) -> asyncpg.Record | None:
    """Claim the first of `options` (vehicle_id, eta_s, distance_m, reason) still available.

    One statement: the first candidate, in the given order, that is available and not
    locked by another transaction is locked, marked dispatched and given an assignment.
    SKIP LOCKED means racing instances never wait on each other's candidates: each takes
    the next free one. The partial unique index on assignments is the second line of
    defence against a double assignment.
    """
    if not options:
        return None
    return await conn.fetchrow(
        f"""WITH {CLAIM_CTES}
           SELECT c.id, c.kind, c.station_id, s.district_id AS station_district_id,
                  c.lon, c.lat, c.eta_s, c.distance_m, c.reason, a.id AS assignment_id
             FROM claimed c CROSS JOIN assignment a
             LEFT JOIN stations s ON s.id = c.station_id""",
        [o[0] for o in options], [o[1] for o in options], [o[2] for o in options],
        [o[3] for o in options], call_id, at, assigned_by,
    )


async def set_vehicle_status(
    *, conn: asyncpg.Connection, vehicle_id: str, status: str, at: datetime
) -> None:
    await conn.execute(
        "UPDATE vehicles SET status = $2, status_at = $3 WHERE id = $1", vehicle_id, status, at
    )


async def set_position(
    *, conn: asyncpg.Connection, vehicle_id: str, lon: float, lat: float, at: datetime
) -> asyncpg.Record | None:
    """Record a position unless an older report arrives after a newer one; the row comes
    back with the vehicle's mission and its destination (for the console's positions)."""
    return await conn.fetchrow(
        """UPDATE vehicles SET lon = $2, lat = $3, position_at = $4
            WHERE id = $1 AND (position_at IS NULL OR position_at <= $4)
            RETURNING id, kind, status, call_id,
                      (SELECT c.destination_id FROM calls c
                        WHERE c.id = vehicles.call_id) AS destination_id""",
        vehicle_id, lon, lat, at,
    )


async def live_assignments(*, conn: asyncpg.Connection, call_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT a.vehicle_id, a.assigned_at, a.eta_s, a.distance_m, a.reason, a.assigned_by,
                  v.kind, v.status, v.call_sign
             FROM assignments a JOIN vehicles v ON v.id = a.vehicle_id
            WHERE a.call_id = $1 AND a.released_at IS NULL ORDER BY a.assigned_at""",
        call_id,
    )


# The queue a vehicle of {kind} could serve, to be ordered by QUEUE_ORDER ({kind} and
# {booked_before} are the statement's parameters). Bookings opening after {booked_before},
# and bookings already planned onto a vehicle (the scheduler dispatches those), are out.
QUEUED_FOR_KIND = """SELECT id, status, lon, lat, acuity, received_at, required_kinds,
                  booked_from, transport_class
             FROM calls c
            WHERE status = 'queued' AND {kind} = ANY(required_kinds) AND lon IS NOT NULL
              AND (booked_from IS NULL OR booked_from <= {booked_before}
                   OR transport_class = 'emergency')
              AND NOT EXISTS (SELECT 1 FROM booked_trips b
                               WHERE b.call_id = c.id AND b.status = 'planned')"""
# most urgent, then oldest
QUEUE_ORDER = "ORDER BY acuity, received_at"


async def queued_calls_for_kind(
    *, conn: asyncpg.Connection, kind: str, limit: int, booked_before: datetime,
    passed: Sequence[UUID] = (),
) -> list[asyncpg.Record]:
    """The head of the queue a vehicle of `kind` could serve (QUEUED_FOR_KIND), less the
    calls in `passed`.

    Not locked: the drain locks only the call it picks (lock_queued_call). Locking the
    whole head here made a second instance draining at the same moment find every row
    of a short queue locked and give up, its vehicle left idle.
    """
    return await conn.fetch(
        f"""{QUEUED_FOR_KIND.format(kind="$1", booked_before="$3")}
              AND NOT (id = ANY($4::uuid[])) {QUEUE_ORDER} LIMIT $2""",
        kind, limit, booked_before, list(passed),
    )


async def lock_queued_call(*, conn: asyncpg.Connection, call_id: UUID) -> asyncpg.Record | None:
    """Lock a call that is still queued, or None when it is not (or another transaction
    holds it: SKIP LOCKED, that instance is assigning it)."""
    return await conn.fetchrow(
        """SELECT id, status, lon, lat, radius_m, acuity, received_at, required_kinds,
                  booked_from, transport_class
             FROM calls WHERE id = $1 AND status = 'queued' FOR UPDATE SKIP LOCKED""",
        call_id,
    )


async def queued_call_ids(
    *, conn: asyncpg.Connection, limit: int, booked_before: datetime
) -> list[UUID]:
    """Queued calls with a location that a vehicle could be given now, urgent first."""
    rows = await conn.fetch(
        """SELECT id FROM calls c
            WHERE status = 'queued' AND lon IS NOT NULL
              AND (booked_from IS NULL OR booked_from <= $2 OR transport_class = 'emergency')
              AND NOT EXISTS (SELECT 1 FROM booked_trips b
                               WHERE b.call_id = c.id AND b.status = 'planned')
            ORDER BY acuity, received_at
            LIMIT $1""",
        limit, booked_before,
    )
    return [r["id"] for r in rows]


async def status_reported(
    *, conn: asyncpg.Connection, vehicle_id: str, call_id: UUID, status: str
) -> bool:
    """Whether the vehicle's `status` about `call_id` is already on the call's timeline."""
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM events
                           WHERE call_id = $1 AND vehicle_id = $2 AND data->>'status' = $3)""",
        call_id, vehicle_id, status,
    ))


async def save_status_report(
    *, conn: asyncpg.Connection, vehicle_id: str, report_id: str, fingerprint: str,
    result: dict[str, Any],
) -> None:
    await conn.execute(
        """INSERT INTO status_reports (vehicle_id, report_id, fingerprint, result)
           VALUES ($1, $2, $3, $4)""",
        vehicle_id, report_id, fingerprint, result,
    )
