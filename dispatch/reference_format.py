"""The reference-data format: a GeoJSON FeatureCollection (RFC 7946) of districts,
stations, vehicles and hospitals, as pydantic models and as the JSON Schema built from them.

Each feature's `properties.type` says what it is and so which properties and which
geometry it takes: a district a Polygon or MultiPolygon, the others a Point. The schema
is served (GET /v1/reference/schema) for the teams who prepare the data, and every load
(POST /v1/admin/reference, `dispatch load`) is checked against it first, so a refusal
names the JSON path and the schema's reason.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from dispatch.domain import LISTED_CAPABILITIES, Capability, VehicleKind
from dispatch.errors import InvalidInput
from dispatch.fields import WholeNumber

__all__ = ["KINDS", "DistrictProps", "HospitalProps", "Props", "StationProps",
           "VehicleProps", "check_reference", "reference_schema"]

# ---------------------------------------------------------------------------- properties


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
    """An administrative district (its code, e.g. 156320102 for 玄武区)."""

    type: Literal["district"]
    area_type: Literal["urban", "suburban", "rural"] = "urban"


class StationProps(_Props):
    """An ambulance station."""

    type: Literal["station"]
    district_id: str | None = None


class VehicleProps(_Props):
    """A vehicle and the station it is based at."""

    type: Literal["vehicle"]
    kind: VehicleKind
    station_id: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    crew_count: WholeNumber = Field(default=2, ge=1, le=8)


class HospitalProps(_Props):
    """A receiving hospital and the specialist care it offers."""

    type: Literal["hospital"]
    district_id: str | None = None
    capabilities: list[ListedCapability] = Field(default_factory=list)
    trauma_level: WholeNumber | None = Field(default=None, ge=1, le=3)


Props = Annotated[
    DistrictProps | StationProps | VehicleProps | HospitalProps, Field(discriminator="type")
]
KINDS = ("district", "station", "vehicle", "hospital")

# ---------------------------------------------------------------------------- geometry

_GEOMETRY = ConfigDict(extra="allow")  # RFC 7946 allows foreign members ("bbox")
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
# [longitude, latitude] in WGS-84, with an optional altitude (RFC 7946 section 3.1.1)
Position = tuple[Lon, Lat] | tuple[Lon, Lat, float]
# a closed ring: at least four positions, the last equal to the first (section 3.1.6)
Ring = Annotated[list[Position], Field(min_length=4)]


class Point(BaseModel):
    model_config = _GEOMETRY
    type: Literal["Point"]
    coordinates: Position


class Polygon(BaseModel):
    model_config = _GEOMETRY
    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1)]


class MultiPolygon(BaseModel):
    model_config = _GEOMETRY
    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[Annotated[list[Ring], Field(min_length=1)]],
                           Field(min_length=1)]


Area = Annotated[Polygon | MultiPolygon, Field(discriminator="type")]


class _Shapes(BaseModel):
    """Only a holder, so that pydantic draws every model's schema into one `$defs`: each
    kind's properties, and the two geometries."""

    district: DistrictProps
    station: StationProps
    vehicle: VehicleProps
    hospital: HospitalProps
    area: Area
    point: Point


# The geometry each kind of feature takes (a field of _Shapes).
_GEOMETRY_OF = {"district": "area", "station": "point", "vehicle": "point", "hospital": "point"}


@cache
def reference_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a reference-data FeatureCollection."""
    drawn = _Shapes.model_json_schema(ref_template="#/$defs/{model}")
    defs: dict[str, Any] = drawn.pop("$defs")
    shapes = {name: {k: v for k, v in schema.items() if k != "title"}
              for name, schema in drawn["properties"].items()}
    kinds = [{"if": {"properties": {"properties": {"properties": {"type": {"const": kind}}}}},
              "then": {"properties": {"properties": shapes[kind],
                                      "geometry": shapes[_GEOMETRY_OF[kind]]}}}
             for kind in KINDS]
    defs["Feature"] = {
        "type": "object",
        "description": "One district, station, vehicle or hospital: `properties.type` says "
                       "which, and so its properties and geometry.",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "geometry": {"type": "object"},
            "properties": {"type": "object", "required": ["type"],
                           "properties": {"type": {"enum": list(KINDS)}}},
        },
        "allOf": kinds,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dispatch reference data",
        "description": "A GeoJSON FeatureCollection (RFC 7946, WGS-84 longitude and "
                       "latitude) of districts (Polygon or MultiPolygon), stations, vehicles "
                       "and hospitals (Point). 参考数据：行政区、急救站、车辆与医院。",
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": {"$ref": "#/$defs/Feature"}},
        },
        "$defs": defs,
    }


# Callers in the process may hand over shapely's mapping(), whose coordinates are tuples.
_Validator = extend(Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER
                    .redefine("array", lambda _, value: isinstance(value, list | tuple)))


@cache
def _validator() -> Any:
    return _Validator(reference_schema())


def _cause(error: ValidationError) -> ValidationError:
    """The error that says what to fix. Of alternatives (anyOf, oneOf) that all failed:
    those of the value's own `type` if there are some (a MultiPolygon's ring too short),
    else the wrong type itself (a district with a Point)."""
    if not error.context:
        return error
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    own = [sub for errors in branches.values() if not any(map(_wrong_type, errors))
           for sub in errors]
    if not own:
        return next(sub for sub in error.context if _wrong_type(sub))
    return max((_cause(sub) for sub in own), key=lambda e: len(e.absolute_path))


def _wrong_type(error: ValidationError) -> bool:
    return error.validator in ("const", "enum") and list(error.absolute_path)[-1:] == ["type"]


def _path(error: ValidationError) -> str:
    """The error's place as the API names fields: features[2].properties.kind."""
    parts = list(error.absolute_path)
    if error.validator == "required":
        # the message names the missing property; the path only its parent
        parts.append(str(error.message).split("'")[1])
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "body"


def _reason(error: ValidationError) -> str:
    # jsonschema's messages start with the value: a district's coordinates run to pages
    shown = repr(error.instance)
    if len(shown) > 80 and error.message.startswith(shown):
        return "the value" + error.message[len(shown):]
    return error.message[:300]


def check_reference(collection: Any) -> None:
    """Raise InvalidInput naming the path and the reason if `collection` does not match
    the reference-data schema (the first feature that does not)."""
    error = next(iter(_validator().iter_errors(collection)), None)
    if error is not None:
        cause = _cause(error)
        raise InvalidInput(_reason(cause), field=_path(cause))
