"""Booked non-emergency trips."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def net_fleet(*, conn: asyncpg.Connection, now: datetime) -> list[asyncpg.Record]:
    """Non-emergency vehicles in service, with their planned trips still ahead."""
    return await conn.fetch(
        """SELECT v.id, v.lon, v.lat, v.status,
                  coalesce(jsonb_agg(jsonb_build_object(
                      'call_id', b.call_id, 'start', b.depart_at, 'end', b.dropoff_at,
                      'start_lon', b.pickup_lon, 'start_lat', b.pickup_lat,
                      'end_lon', b.dest_lon, 'end_lat', b.dest_lat) ORDER BY b.depart_at)
                      FILTER (WHERE b.call_id IS NOT NULL), '[]') AS trips
             FROM vehicles v
             LEFT JOIN booked_trips b ON b.vehicle_id = v.id AND b.status = 'planned'
                                     AND b.dropoff_at > $1
            WHERE v.kind = 'net' AND v.status <> 'out_of_service' AND v.lon IS NOT NULL
            GROUP BY v.id ORDER BY v.id""",
        now,
    )


async def insert_trip(
    *, conn: asyncpg.Connection, call_id: UUID, vehicle_id: str, depart_at: datetime,
    pickup_at: datetime, dropoff_at: datetime, pickup: tuple[float, float],
    dest: tuple[float, float], plan: dict[str, Any],
) -> None:
    await conn.execute(
        """INSERT INTO booked_trips (call_id, vehicle_id, depart_at, pickup_at, dropoff_at,
                                     pickup_lon, pickup_lat, dest_lon, dest_lat, plan)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (call_id) DO UPDATE SET vehicle_id = EXCLUDED.vehicle_id,
               depart_at = EXCLUDED.depart_at, pickup_at = EXCLUDED.pickup_at,
               dropoff_at = EXCLUDED.dropoff_at, plan = EXCLUDED.plan, status = 'planned',
               planned_at = now()""",
        call_id, vehicle_id, depart_at, pickup_at, dropoff_at, pickup[0], pickup[1],
        dest[0], dest[1], plan,
    )


async def due_trips(*, conn: asyncpg.Connection, until: datetime) -> list[asyncpg.Record]:
    """Planned trips whose vehicle should leave by `until`, for calls still waiting."""
    return await conn.fetch(
        """SELECT b.call_id, b.vehicle_id, b.depart_at FROM booked_trips b
             JOIN calls c ON c.id = b.call_id
            WHERE b.status = 'planned' AND b.depart_at <= $1 AND c.status = 'queued'
            ORDER BY b.depart_at""",
        until,
    )


async def set_trip_status(*, conn: asyncpg.Connection, call_id: UUID, status: str) -> None:
    await conn.execute("UPDATE booked_trips SET status = $2 WHERE call_id = $1", call_id, status)
