"""Reference data as GeoJSON: districts, stations, vehicles and hospitals.

One FeatureCollection; each feature's `properties.type` says what it is. Validated here
(field and reason named on error), written by `load_reference`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from shapely.geometry import shape

from dispatch.db import reference
from dispatch.domain import LISTED_CAPABILITIES, Capability, VehicleKind
from dispatch.errors import InvalidInput
from dispatch.fields import WholeNumber


def _listed(value: object) -> Capability:
    """A capability a hospital may list: any but the ED, which every hospital has."""
    if isinstance(value, str) and value in _LISTED:
        return Capability(value)
    raise ValueError(f"Input should be one of {', '.join(map(repr, _LISTED))}")


_LISTED = tuple(c.value for c in LISTED_CAPABILITIES)
ListedCapability = Annotated[
    Capability, PlainValidator(_listed), WithJsonSchema({"type": "string", "enum": list(_LISTED)})
]


class _Props(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = None
    synthetic: bool = False


class DistrictProps(_Props):
    type: Literal["district"]
    area_type: Literal["urban", "suburban", "rural"] = "urban"


class StationProps(_Props):
    type: Literal["station"]
    district_id: str | None = None


class VehicleProps(_Props):
    type: Literal["vehicle"]
    kind: VehicleKind
    station_id: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    crew_count: WholeNumber = Field(default=2, ge=1, le=8)


class HospitalProps(_Props):
    type: Literal["hospital"]
    district_id: str | None = None
    capabilities: list[ListedCapability] = Field(default_factory=list)
    trauma_level: WholeNumber | None = Field(default=None, ge=1, le=3)


Props = Annotated[
    DistrictProps | StationProps | VehicleProps | HospitalProps, Field(discriminator="type")
]
_props = TypeAdapter(Props)
_KINDS = ("district", "station", "vehicle", "hospital")


def parse_features(collection: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Split and validate a FeatureCollection into rows per table."""
    if collection.get("type") != "FeatureCollection":
        raise InvalidInput("expected a GeoJSON FeatureCollection", field="type")
    out: dict[str, list[dict[str, Any]]] = {
        "district": [], "station": [], "vehicle": [], "hospital": []}
    features = collection.get("features", [])
    if not isinstance(features, list):
        raise InvalidInput("features must be a list of GeoJSON Features", field="features")
    for i, feature in enumerate(features):
        if not isinstance(feature, dict):
            raise InvalidInput("a feature must be a JSON object", field=f"features[{i}]")
        try:
            props = _props.validate_python(feature.get("properties") or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            # loc starts with the union's tag ("vehicle"): the feature's type, not a field
            parts = err["loc"][1:] if err["loc"][:1] and err["loc"][0] in _KINDS else err["loc"]
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
