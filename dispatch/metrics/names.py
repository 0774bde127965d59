"""The reference data's names by id, for what a person reads (report, CSV)."""

from __future__ import annotations

import asyncpg

from dispatch.metrics.labels import PlaceNames


async def fetch_place_names(*, conn: asyncpg.Connection) -> PlaceNames:
    """District, station and vehicle (call sign) names from the reference tables."""
    districts = await conn.fetch("SELECT id, name FROM districts")
    stations = await conn.fetch("SELECT id, name FROM stations")
    vehicles = await conn.fetch("SELECT id, call_sign FROM vehicles")
    return PlaceNames(
        districts={r["id"]: r["name"] for r in districts},
        stations={r["id"]: r["name"] for r in stations},
        vehicles={r["id"]: r["call_sign"] for r in vehicles},
    )
