"""Reference data: districts, stations, vehicles, hospitals."""

from __future__ import annotations

from typing import Any

import asyncpg


async def upsert_districts(*, conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> int:
    await conn.executemany(
        """INSERT INTO districts (id, name, area_type, geometry, synthetic)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, area_type = EXCLUDED.area_type,
               geometry = EXCLUDED.geometry, synthetic = EXCLUDED.synthetic""",
        [(r["id"], r["name"], r["area_type"], r["geometry"], r["synthetic"]) for r in rows],
    )
    return len(rows)


async def upsert_stations(*, conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> int:
    await conn.executemany(
        """INSERT INTO stations (id, name, district_id, lon, lat, synthetic)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
               district_id = EXCLUDED.district_id, lon = EXCLUDED.lon, lat = EXCLUDED.lat,
               synthetic = EXCLUDED.synthetic""",
        [(r["id"], r["name"], r["district_id"], r["lon"], r["lat"], r["synthetic"]) for r in rows],
    )
    return len(rows)


async def upsert_vehicles(*, conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> int:
    """Insert or update vehicles; a new vehicle starts available at its station.

    The station given is the vehicle's home. A vehicle moved up elsewhere stays posted there
    when its home is loaded again unchanged; a new home posts it at the new home.
    """
    await conn.executemany(
        """INSERT INTO vehicles (id, call_sign, kind, station_id, home_station_id,
                                 capabilities, crew_count, lon, lat, position_at, synthetic)
           VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, now(), $9)
           ON CONFLICT (id) DO UPDATE SET call_sign = EXCLUDED.call_sign,
               kind = EXCLUDED.kind,
               station_id = CASE WHEN vehicles.home_station_id
                                      IS NOT DISTINCT FROM EXCLUDED.home_station_id
                                 THEN vehicles.station_id ELSE EXCLUDED.station_id END,
               home_station_id = EXCLUDED.home_station_id,
               capabilities = EXCLUDED.capabilities, crew_count = EXCLUDED.crew_count,
               synthetic = EXCLUDED.synthetic""",
        [
            (r["id"], r["name"], r["kind"], r["station_id"], r["capabilities"],
             r["crew_count"], r["lon"], r["lat"], r["synthetic"])
            for r in rows
        ],
    )
    return len(rows)


async def upsert_hospitals(*, conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> int:
    await conn.executemany(
        """INSERT INTO hospitals (id, name, district_id, lon, lat, capabilities, trauma_level,
                                  synthetic)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
               district_id = EXCLUDED.district_id, lon = EXCLUDED.lon, lat = EXCLUDED.lat,
               capabilities = EXCLUDED.capabilities, trauma_level = EXCLUDED.trauma_level,
               synthetic = EXCLUDED.synthetic""",
        [
            (r["id"], r["name"], r["district_id"], r["lon"], r["lat"], r["capabilities"],
             r["trauma_level"], r["synthetic"])
            for r in rows
        ],
    )
    return len(rows)


async def districts(*, conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT id, name, area_type, geometry, synthetic FROM districts")


async def stations(*, conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT id, name, district_id, lon, lat, synthetic FROM stations")


async def hospitals(*, conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, name, district_id, lon, lat, capabilities, trauma_level, diversion,
                  synthetic, ed_beds_available, ed_at_capacity, unavailable, capacity_at
             FROM hospitals ORDER BY id"""
    )
