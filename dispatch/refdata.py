"""Reference data as GeoJSON: districts, stations, vehicles and hospitals.

One FeatureCollection; each feature's `properties.type` says what it is. Checked against
the format's JSON Schema (dispatch.reference_format), then parsed here (field and reason
named on error), written by `load_reference`.
"""

from __future__ import annotations

import math
from typing import Any

import asyncpg
from pydantic import TypeAdapter, ValidationError
from shapely.geometry import shape

from dispatch.db import reference
from dispatch.errors import InvalidInput
from dispatch.reference_format import KINDS, DistrictProps, Props, check_reference

_props = TypeAdapter(Props)


def parse_features(collection: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Split and validate a FeatureCollection into rows per table."""
    check_reference(collection)  # the envelope, every kind's properties and geometry
    out: dict[str, list[dict[str, Any]]] = {
        "district": [], "station": [], "vehicle": [], "hospital": []}
    for i, feature in enumerate(collection["features"]):
        try:
            props = _props.validate_python(feature.get("properties") or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            # loc starts with the union's tag ("vehicle"): the feature's type, not a field
            parts = err["loc"][1:] if err["loc"][:1] and err["loc"][0] in KINDS else err["loc"]
            loc = ".".join(str(p) for p in parts) or "type"
            raise InvalidInput(err["msg"].removeprefix("Value error, "),
                               field=f"features[{i}].properties.{loc}") from exc
        geometry = feature.get("geometry") or {}
        try:
            geom = shape(geometry)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InvalidInput(f"bad geometry: {exc}", field=f"features[{i}].geometry") from exc
        if not _on_earth(geom.bounds):
            raise InvalidInput("coordinates must be finite, longitude within [-180, 180] and "
                               "latitude within [-90, 90]", field=f"features[{i}].geometry")
        row = props.model_dump()
        row["feature"] = i  # for errors that only the database can find (references)
        if isinstance(props, DistrictProps):
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise InvalidInput("a district needs a (Multi)Polygon",
                                   field=f"features[{i}].geometry")
            row["geometry"] = geometry
        else:
            if geom.geom_type != "Point":
                raise InvalidInput("a station, vehicle or hospital needs a Point",
                                   field=f"features[{i}].geometry")
            row["lon"], row["lat"] = geom.x, geom.y
        out[props.type].append(row)
    return out


def _on_earth(bounds: tuple[float, ...]) -> bool:
    # shapely's bounds are NaN for an empty geometry: finite() rejects those too
    if len(bounds) != 4 or not all(math.isfinite(b) for b in bounds):
        return False
    min_lon, min_lat, max_lon, max_lat = bounds
    return -180 <= min_lon and max_lon <= 180 and -90 <= min_lat and max_lat <= 90


# (table, property, referenced table): the references a load can get wrong
_REFERENCES = (("station", "district_id", "district"), ("vehicle", "station_id", "station"),
               ("hospital", "district_id", "district"))
_TABLES = {"district": "districts", "station": "stations"}


async def _check_references(
    conn: asyncpg.Connection, rows: dict[str, list[dict[str, Any]]]
) -> None:
    """Refuse a feature naming a district or station neither loaded now nor stored."""
    for kind, prop, target in _REFERENCES:
        wanted = {r[prop] for r in rows[kind] if r[prop] is not None}
        missing = wanted - {r["id"] for r in rows[target]}
        if missing:
            stored = await conn.fetch(f"SELECT id FROM {_TABLES[target]} WHERE id = ANY($1)",
                                      list(missing))
            missing -= {r["id"] for r in stored}
        for row in rows[kind]:
            if row[prop] in missing:
                raise InvalidInput(f"{target} {row[prop]!r} is neither in this collection "
                                   "nor loaded before",
                                   field=f"features[{row['feature']}].properties.{prop}")


async def load_reference(*, conn: asyncpg.Connection, collection: dict[str, Any]) -> dict[str, int]:
    """Validate and upsert reference data in one transaction; return counts per type."""
    rows = parse_features(collection)
    async with conn.transaction():
        await _check_references(conn, rows)
        counts = {
            "districts": await reference.upsert_districts(conn=conn, rows=rows["district"]),
            "stations": await reference.upsert_stations(conn=conn, rows=rows["station"]),
            "vehicles": await reference.upsert_vehicles(conn=conn, rows=rows["vehicle"]),
            "hospitals": await reference.upsert_hospitals(conn=conn, rows=rows["hospital"]),
        }
    return counts
