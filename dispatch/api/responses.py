"""What each endpoint answers on success, for /openapi.json (dispatch.api.openapi).

Not used to build answers, only to describe them: the endpoints return `JSON` responses
directly. Each model names the fields every answer holds, with their types; parts that
vary by role, rule table or format stay open (`extra="allow"`, `dict[str, Any]`). The
schemathesis fuzz test (tests/fuzz) checks real answers against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel

from dispatch.domain import CallStatus, VehicleKind, VehicleStatus


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Status(_Open):
    status: str


# ---------------------------------------------------------------------------- calls


class CallView(_Open):
    """A call as the API shows it (dispatch.views.render_call)."""

    id: UUID
    status: CallStatus
    received_at: datetime | None = None
    assignments: list[dict[str, Any]] | None = None
    out_of_area: bool = Field(default=False, description=(
        "located outside every district of the centre (out_of_area_reason says what to do)"))
    recommendations: list[dict[str, Any]] | None = Field(
        default=None, description="ranked vehicles (answers to intake, fixes and dispatch)")


class CallList(_Open):
    calls: list[dict[str, Any]]
    next_cursor: str | None = Field(default=None, description="with from/to: the next page")


class Recommendation(_Open):
    vehicle_id: str
    kind: VehicleKind
    eta_s: float = Field(description="expected travel time to the call, seconds")
    distance_m: float = Field(description="straight-line distance, metres")
    reasons: list[str]
    stale: bool = Field(description="the vehicle's position is old")


class Recommendations(_Open):
    """The best available vehicles for a call, by ETA."""

    call_id: UUID
    vehicles: list[Recommendation]


class DestinationChange(_Open):
    """The call's receiving hospital after the change."""

    call_id: UUID
    destination_id: str
    previous: str | None
    changed: bool
    warnings: list[str] = Field(description="zh + en: what the centre cannot meet")


class AmlReceipt(_Open):
    """An AML report stored: attached to the caller's live call, or held for it."""

    aml_id: int
    call_id: UUID | None
    held: bool
    warnings: list[str]


# ---------------------------------------------------------------------------- fleet


class VehicleView(_Open):
    """A vehicle, its status and its latest position."""

    id: str
    call_sign: str | None = None
    kind: VehicleKind
    station_id: str | None
    home_station_id: str | None = None
    capabilities: list[str]
    crew_count: int
    status: VehicleStatus
    call_id: UUID | None
    lon: float | None
    lat: float | None
    position_at: datetime | None
    status_at: datetime | None


class VehicleList(_Open):
    vehicles: list[VehicleView]


class StatusReport(_Open):
    """The status the vehicle now has, and the mission it is about."""

    vehicle_id: str
    status: VehicleStatus
    call_id: UUID | None


class MilestoneReport(_Open):
    vehicle_id: str
    kind: Literal["patient_contact", "handover"]
    call_id: UUID | None


class NearbyVehicle(BaseModel):
    vehicle_id: str
    kind: VehicleKind
    lon: float
    lat: float
    distance_m: float


class NearbyVehicles(BaseModel):
    vehicles: list[NearbyVehicle]


# ---------------------------------------------------------------------------- reference


class ReferenceCounts(BaseModel):
    districts: int
    stations: int
    vehicles: int
    hospitals: int


class StationView(_Open):
    id: str
    name: str
    district_id: str | None
    lon: float
    lat: float


class StationList(_Open):
    stations: list[StationView]


class HospitalView(_Open):
    """A receiving hospital, its capabilities, diversions and reported capacity."""

    id: str
    name: str
    district_id: str | None
    lon: float
    lat: float
    capabilities: list[str]
    trauma_level: int | None
    diversion: list[str] = Field(description="capabilities diverted now ('ed': the whole ED)")
    ed_beds_available: int | None
    ed_at_capacity: bool
    unavailable: dict[str, str | None] = Field(description="capability -> reason")
    capacity_at: datetime | None


class HospitalList(_Open):
    hospitals: list[HospitalView]


class DistrictProperties(_Open):
    id: str
    name: str
    area_type: str


class DistrictFeature(_Open):
    type: Literal["Feature"]
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, WGS-84")
    properties: DistrictProperties


class DistrictCollection(_Open):
    """The districts as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"]
    features: list[DistrictFeature]


class JsonSchemaDocument(_Open):
    """A JSON Schema (draft 2020-12) document."""

    schema_: str = Field(alias="$schema")
    title: str
    type: str
    properties: dict[str, Any]
    defs: dict[str, Any] = Field(alias="$defs")


# ---------------------------------------------------------------------------- triage


class TriageProtocol(_Open):
    """The triage rule tables and the chief-complaint cards, with their versions."""

    version: str
    tables: dict[str, Any]
    card_version: str
    cards: list[dict[str, Any]]


class TriageResult(_Open):
    """Acuity, transport class, pathway and needs, each rule that fired with its source."""

    acuity: int = Field(ge=1, le=4)
    transport_class: str
    pathway: str | None
    vehicle_kinds: list[VehicleKind]
    needs: list[str]
    teams: list[str]
    missing: list[str]
    reasons: list[dict[str, Any]]
    protocol_version: str


# ---------------------------------------------------------------------------- hospitals


class HospitalCapacity(_Open):
    """A centre's capacity as last reported (null: never reported)."""

    hospital_id: str
    ed_beds_available: int | None
    ed_at_capacity: bool
    ed_full: bool
    unavailable: dict[str, str | None] = Field(description="capability -> reason")
    reported_at: datetime | None
    reported_by: str | None
    event_id: int | None = Field(default=None, description="the report's timeline event")


class HospitalTimeline(_Open):
    """The centre's capacity now and its diversions and capacity reports, newest first."""

    hospital_id: str
    capacity: HospitalCapacity
    events: list[dict[str, Any]]


class HandoverRecord(_Open):
    """The ATMIST summary, its printable text, the handover state and its timeline."""

    call_id: UUID
    destination_id: str | None
    acuity: int | None
    pathway: str | None
    atmist: dict[str, Any]
    text: str
    handover: list[dict[str, Any]]
    timeline: list[dict[str, Any]]


class FhirBundle(_Open):
    """A FHIR R5 Bundle (type collection) of the handover."""

    resourceType: Literal["Bundle"]  # noqa: N815 - FHIR's own name
    type: str
    entry: list[dict[str, Any]]


# ---------------------------------------------------------------------------- coverage, ETA


class CoverageView(_Open):
    """Share of expected demand reached within each target, overall and per district."""

    at: datetime
    vehicles: int
    demand: dict[str, Any]
    targets: list[dict[str, Any]]


class CoverageCells(_Open):
    """format=geojson: the demand cells, covered or not, as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


class CoverageAnswer(RootModel[CoverageView | CoverageCells]):
    """The coverage figures, or (format=geojson) the cells."""


class MovePlan(_Open):
    """Move-up recommendations for one target."""

    at: datetime
    target_s: float
    coverage_share: float
    vehicles: int
    stations: int
    moves: list[dict[str, Any]]


class MoveAccepted(_Open):
    """The move recorded: the vehicle now posted at `to_station_id`."""

    kind: Literal["move_up"]
    vehicle_id: str
    event_id: int
    at: datetime
    from_station_id: str | None
    to_station_id: str
    home_station_id: str | None
    by: str


class EtaModelView(_Open):
    """The travel-time model: speed profiles by area type and hour, calibrated scales."""

    local_tz: str
    profiles: dict[str, Any]
    scales: list[Any]


class EtaCalibration(EtaModelView):
    """The model refitted from completed trips."""

    trips: int
    since: datetime
    min_samples: int


# ---------------------------------------------------------------------------- indicators, audit


class Indicators(_Open):
    """The period's indicators, overall and by the requested groups."""

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    by: list[str]
    config: dict[str, Any]
    total: dict[str, Any]
    rows: list[dict[str, Any]]


class AuditPage(_Open):
    entries: list[dict[str, Any]] = Field(description="id, at, actor, role, action, call_id, "
                                          "vehicle_id, hospital_id, detail")
    next_cursor: str | None = Field(default=None, description="the next page, if any")


class SignedIn(_Open):
    """A bearer token for the user, when it expires, and the screens' settings."""

    token: str
    token_type: Literal["bearer"]
    name: str
    role: str
    vehicle_id: str | None
    hospital_id: str | None
    expires_at: datetime
    timezone: str
    map: dict[str, Any]
