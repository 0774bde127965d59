"""Websocket frames of the handover channels: their pydantic models (declarations).

Parsing and encoding them: dispatch.handover.frames.

Channels and their frames (each a JSON object discriminated by `type`):

    crew -> server      status, position, vitals, ecg, stroke, injuries, treatment,
                        destination_request, activate_team, resume
    hospital -> server  ack, activate_team, arrived, handover_complete, diversion, resume
    server -> client    ack, event, error, snapshot, resync

Close codes follow RFC 6455 section 7.4.1: 1007 for data that does not fit the frame's
type (bad JSON, missing or out-of-range field), 1008 for a frame the client may not send
(unknown type, or a type of another channel), 1009 for a frame too big to process.
The protocol document, /asyncapi.json, is built from these models (handover/asyncapi.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from dispatch.domain import Capability, Team, VehicleStatus
from dispatch.errors import HandoverError
from dispatch.fields import Instant, Number, WholeNumber

__all__ = [
    "CLOSE_INVALID_DATA",
    "CLOSE_POLICY",
    "CLOSE_TOO_BIG",
    "MAX_FRAME_BYTES",
    "AckFrame",
    "ActivateTeamMsg",
    "Avpu",
    "BeFast",
    "BodyRegion",
    "Capability",
    "CrewActivateTeamMsg",
    "CrewMessage",
    "DestinationRequestMsg",
    "DiversionMsg",
    "Dose",
    "DoseUnit",
    "EcgLead",
    "EcgMsg",
    "EcgRhythm",
    "ErrorFrame",
    "EventFrame",
    "CapabilityState",
    "CapacityMsg",
    "CapacityReport",
    "FrameError",
    "HospitalAckMsg",
    "HospitalArrivedMsg",
    "HospitalMessage",
    "HandoverCompleteMsg",
    "Injury",
    "InjuryKind",
    "InjuriesMsg",
    "PositionMsg",
    "ResumeMsg",
    "ResyncFrame",
    "Route",
    "ServerFrame",
    "Side",
    "SnapshotFrame",
    "StatusMsg",
    "StrokeMsg",
    "TreatmentMsg",
    "VitalsMsg",
]

CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009

# A vitals frame is a few hundred bytes; 64 KiB leaves room for long injury lists while
# keeping one malicious frame from costing the server more than a bounded parse.
MAX_FRAME_BYTES = 64 * 1024

_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_strip_whitespace=True)

# Client-generated ids end up in Redis keys and logs: keep them to a safe alphabet.
MsgId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
# PostgreSQL bigserial ("42") or Redis stream id ("1700000000000-0").
EventId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9]+(-[0-9]+)?$")]
HospitalId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class FrameError(HandoverError):
    """A frame that cannot be accepted; `code` is the websocket close code to use."""

    def __init__(
        self, *, code: int, reason: str, field: str | None = None, msg_id: str | None = None
    ) -> None:
        super().__init__(reason, field=field)
        self.code = code
        self.reason = reason
        self.msg_id = msg_id

    def __repr__(self) -> str:
        return f"FrameError(code={self.code}, reason={self.reason!r}, field={self.field!r})"


# ---------------------------------------------------------------------------- vocabularies


class Avpu(StrEnum):
    """AVPU responsiveness scale (Resuscitation Council UK, ALS manual 2021)."""

    A = "A"
    V = "V"
    P = "P"
    U = "U"


class EcgRhythm(StrEnum):
    SINUS = "sinus"
    SINUS_TACHYCARDIA = "sinus_tachycardia"
    SINUS_BRADYCARDIA = "sinus_bradycardia"
    ATRIAL_FIBRILLATION = "atrial_fibrillation"
    ATRIAL_FLUTTER = "atrial_flutter"
    SVT = "svt"
    VT = "vt"
    VF = "vf"
    AV_BLOCK_2 = "av_block_2"
    AV_BLOCK_3 = "av_block_3"
    ASYSTOLE = "asystole"
    PEA = "pea"
    PACED = "paced"
    OTHER = "other"


class EcgLead(StrEnum):
    """Standard 12 leads plus right-sided and posterior leads (ESC ACS guideline, 2023)."""

    I = "I"  # noqa: E741
    II = "II"
    III = "III"
    AVR = "aVR"
    AVL = "aVL"
    AVF = "aVF"
    V1 = "V1"
    V2 = "V2"
    V3 = "V3"
    V4 = "V4"
    V5 = "V5"
    V6 = "V6"
    V3R = "V3R"
    V4R = "V4R"
    V7 = "V7"
    V8 = "V8"
    V9 = "V9"


class BodyRegion(StrEnum):
    HEAD = "head"
    FACE = "face"
    NECK = "neck"
    CHEST = "chest"
    ABDOMEN = "abdomen"
    BACK = "back"
    SPINE = "spine"
    PELVIS = "pelvis"
    UPPER_LIMB = "upper_limb"
    LOWER_LIMB = "lower_limb"
    EXTERNAL = "external"  # skin: burns, widespread abrasions


class InjuryKind(StrEnum):
    LACERATION = "laceration"
    ABRASION = "abrasion"
    CONTUSION = "contusion"
    SUSPECTED_FRACTURE = "suspected_fracture"
    OPEN_FRACTURE = "open_fracture"
    DEFORMITY = "deformity"
    BURN = "burn"
    PENETRATING = "penetrating"
    AMPUTATION = "amputation"
    HAEMORRHAGE = "haemorrhage"
    OTHER = "other"


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"
    MIDLINE = "midline"


class Route(StrEnum):
    """Administration routes; each maps to a SNOMED CT route code in the FHIR export."""

    IV = "iv"
    IO = "io"
    IM = "im"
    SC = "sc"
    PO = "po"
    SL = "sl"
    INHALED = "inhaled"
    INTRANASAL = "intranasal"
    RECTAL = "rectal"
    TOPICAL = "topical"
    ENDOTRACHEAL = "endotracheal"


class DoseUnit(StrEnum):
    """UCUM codes (unitsofmeasure.org), so the FHIR export can use them unchanged."""

    MG = "mg"
    UG = "ug"
    G = "g"
    ML = "mL"
    L = "L"
    L_PER_MIN = "L/min"
    MMOL = "mmol"
    IU = "[iU]"
    PUFF = "{puff}"


# ---------------------------------------------------------------------------- crew -> server


class _CrewBase(BaseModel):
    model_config = _FROZEN
    msg_id: MsgId
    call_id: UUID


class StatusMsg(_CrewBase):
    """The vehicle's status changed (stamps departed / on_scene / ... on the timeline)."""

    type: Literal["status"]
    status: VehicleStatus
    at: Instant


class PositionMsg(_CrewBase):
    """A GNSS position from the tablet: WGS-84, as every handset GNSS reports it."""

    type: Literal["position"]
    lon: Number = Field(ge=-180, le=180)
    lat: Number = Field(ge=-90, le=90)
    heading: Number | None = Field(default=None, ge=0, lt=360)  # degrees from true north
    # 100 m/s = 360 km/h: above any road ambulance; larger is a GNSS glitch.
    speed_mps: Number | None = Field(default=None, ge=0, le=100)
    at: Instant


# Plausibility bounds, not clinical thresholds: they refuse typing errors and sensor
# glitches, and accept every value a living (or resuscitated) patient can show.
_VITAL_FIELDS = ("hr", "sbp", "dbp", "spo2", "rr", "temp_c", "gcs", "avpu", "glucose_mmol", "pain")


class VitalsMsg(_CrewBase):
    """One set of vital signs; absent fields were not measured this time."""

    type: Literal["vitals"]
    hr: WholeNumber | None = Field(default=None, ge=0, le=350)  # /min
    sbp: WholeNumber | None = Field(default=None, ge=0, le=300)  # mm[Hg]
    dbp: WholeNumber | None = Field(default=None, ge=0, le=250)  # mm[Hg]
    spo2: WholeNumber | None = Field(default=None, ge=0, le=100)  # %
    rr: WholeNumber | None = Field(default=None, ge=0, le=100)  # /min; neonates breathe up to ~60
    # Accidental hypothermia survivors have been rewarmed from below 14 Cel
    # (Gilbert et al., Lancet 2000); above 45 Cel is not compatible with a reading.
    temp_c: Number | None = Field(default=None, ge=10, le=45)
    gcs: WholeNumber | None = Field(default=None, ge=3, le=15)  # Teasdale & Jennett, Lancet 1974
    avpu: Avpu | None = None
    glucose_mmol: Number | None = Field(default=None, ge=0, le=150)  # mmol/L
    pain: WholeNumber | None = Field(default=None, ge=0, le=10)  # 0-10 numeric rating scale
    at: Instant

    @model_validator(mode="after")
    def _check(self) -> VitalsMsg:
        if all(getattr(self, name) is None for name in _VITAL_FIELDS):
            raise ValueError("a vitals frame needs at least one measurement")
        if self.sbp is not None and self.dbp is not None and self.dbp > self.sbp:
            raise ValueError("dbp is higher than sbp")
        return self


class EcgMsg(_CrewBase):
    """A 12-lead ECG interpretation by the crew (the image itself is stored elsewhere)."""

    type: Literal["ecg"]
    rhythm: EcgRhythm
    st_elevation_leads: tuple[EcgLead, ...] = Field(default=(), max_length=17)
    stemi: bool
    image_ref: str | None = Field(default=None, min_length=1, max_length=256)
    at: Instant

    @model_validator(mode="after")
    def _check(self) -> EcgMsg:
        if len(set(self.st_elevation_leads)) != len(self.st_elevation_leads):
            raise ValueError("st_elevation_leads lists a lead twice")
        return self


class BeFast(BaseModel):
    """BE-FAST items (Aroor et al., Stroke 2017): True = deficit present, None = not tested."""

    model_config = _FROZEN
    balance: bool | None = None
    eyes: bool | None = None
    face: bool | None = None
    arm: bool | None = None
    speech: bool | None = None


class StrokeMsg(_CrewBase):
    """Prehospital stroke assessment and the last-known-well time."""

    type: Literal["stroke"]
    # Llanes et al., Prehosp Emerg Care 2004
    lams: WholeNumber | None = Field(default=None, ge=0, le=5)
    # Perez de la Ossa et al., Stroke 2014
    race: WholeNumber | None = Field(default=None, ge=0, le=9)
    befast: BeFast | None = None
    last_known_well: Instant | None = None
    at: Instant

    @model_validator(mode="after")
    def _check(self) -> StrokeMsg:
        if self.lams is None and self.race is None and self.befast is None:
            raise ValueError("a stroke frame needs lams, race or befast")
        if self.last_known_well is not None and self.last_known_well > self.at:
            raise ValueError("last_known_well is after the assessment time")
        return self


class Injury(BaseModel):
    model_config = _FROZEN
    region: BodyRegion
    kind: InjuryKind
    side: Side | None = None
    note: str | None = Field(default=None, min_length=1, max_length=200)


class InjuriesMsg(_CrewBase):
    """Injuries found and the mechanism; each frame replaces the previous list."""

    type: Literal["injuries"]
    injuries: tuple[Injury, ...] = Field(max_length=50)
    mechanism: ShortText | None = None
    at: Instant


class Dose(BaseModel):
    model_config = _FROZEN
    value: Number = Field(gt=0, le=100_000)
    unit: DoseUnit


class TreatmentMsg(_CrewBase):
    """A procedure done or a medication given."""

    type: Literal["treatment"]
    kind: Literal["procedure", "medication"]
    code: str | None = Field(default=None, min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    dose: Dose | None = None
    route: Route | None = None
    at: Instant

    @model_validator(mode="after")
    def _check(self) -> TreatmentMsg:
        # A medication record without dose and route cannot be continued safely by the
        # receiving team (WHO Medication Without Harm, 2017: transitions of care).
        if self.kind == "medication" and (self.dose is None or self.route is None):
            raise ValueError("a medication needs dose and route")
        if self.kind == "procedure" and (self.dose is not None or self.route is not None):
            raise ValueError("a procedure has no dose or route")
        return self


class DestinationRequestMsg(_CrewBase):
    """The crew asks to take the patient to another hospital (checked against its needs)."""

    type: Literal["destination_request"]
    hospital_id: HospitalId
    reason: ShortText | None = None


class CrewActivateTeamMsg(_CrewBase):
    """The crew asks the destination to activate a team ahead (R7: straight to cath lab)."""

    type: Literal["activate_team"]
    team: Team


class ResumeMsg(BaseModel):
    """Any channel: replay everything after this event id."""

    model_config = _FROZEN
    type: Literal["resume"]
    last_event_id: EventId


# ---------------------------------------------------------------------------- hospital -> server


class _HospitalBase(BaseModel):
    model_config = _FROZEN
    # Screens reconnect too: the id lets the server acknowledge and ignore a resend.
    msg_id: MsgId


class HospitalAckMsg(_HospitalBase):
    """The centre has seen the pre-arrival alert."""

    type: Literal["ack"]
    call_id: UUID


class ActivateTeamMsg(_HospitalBase):
    """The centre activates a team for an inbound patient (cath lab, stroke team, ...)."""

    type: Literal["activate_team"]
    call_id: UUID
    team: Team


class HospitalArrivedMsg(_HospitalBase):
    """The patient has arrived at the centre."""

    type: Literal["arrived"]
    call_id: UUID


class HandoverCompleteMsg(_HospitalBase):
    """The centre's team has taken the patient over from the crew."""

    type: Literal["handover_complete"]
    call_id: UUID


class DiversionMsg(_HospitalBase):
    """The centre starts or stops diverting patients who need `capability`."""

    type: Literal["diversion"]
    capability: Capability
    on: bool
    until: Instant | None = None

    @model_validator(mode="after")
    def _check(self) -> DiversionMsg:
        if not self.on and self.until is not None:
            raise ValueError("until only applies when diversion is on")
        return self


class CapabilityState(BaseModel):
    """One capability's availability as a centre reports it (cath lab busy, CT down)."""

    model_config = _FROZEN
    available: bool
    reason: ShortText | None = None  # shown to dispatchers and crews: "导管室占用", "CT故障"

    @model_validator(mode="after")
    def _check(self) -> CapabilityState:
        if self.available and self.reason is not None:
            raise ValueError("reason only applies when unavailable")
        return self


class CapacityReport(BaseModel):
    """A centre's capacity beside diversion. Fields left out keep their last reported value;
    capabilities left out keep theirs (dispatch.handover.capacity)."""

    model_config = _FROZEN
    ed_beds_available: WholeNumber | None = Field(default=None, ge=0, le=10_000)
    ed_at_capacity: bool | None = None
    capabilities: dict[Capability, CapabilityState] = Field(default_factory=dict, min_length=1)

    @model_validator(mode="after")
    def _check(self) -> CapacityReport:
        if not self.model_fields_set & {"ed_beds_available", "ed_at_capacity", "capabilities"}:
            raise ValueError("report ed_beds_available, ed_at_capacity or capabilities")
        if Capability.ED in self.capabilities:
            raise ValueError("the ED's own state is ed_beds_available / ed_at_capacity, or "
                             "a diversion of ed")
        return self


class CapacityMsg(_HospitalBase, CapacityReport):
    """The centre reports its capacity (CapacityReport)."""

    type: Literal["capacity"]


# ---------------------------------------------------------------------------- server -> client


class AckFrame(BaseModel):
    """The client's message `msg_id` is committed as event `event_id`."""

    model_config = _FROZEN
    type: Literal["ack"] = "ack"
    msg_id: MsgId
    event_id: EventId


class EventFrame(BaseModel):
    """Something happened (`kind`: an event of the timeline or a crew frame's type); `id`
    is its stream id, to resume after."""

    model_config = _FROZEN
    type: Literal["event"] = "event"
    id: EventId
    kind: str = Field(min_length=1, max_length=64)  # an EventKind or a crew frame type
    call_id: UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class ErrorFrame(BaseModel):
    """The frame `msg_id` was refused: `code` (a close code, see /asyncapi.json
    x-close-codes) and `reason`, `field` naming what is wrong."""

    model_config = _FROZEN
    type: Literal["error"] = "error"
    code: int
    reason: str
    field: str | None = None
    msg_id: str | None = None


class SnapshotFrame(BaseModel):
    """The client's view as of `last_event_id`; events after it follow."""

    model_config = _FROZEN
    type: Literal["snapshot"] = "snapshot"
    last_event_id: EventId | None = None
    calls: list[dict[str, Any]] = Field(default_factory=list)


class ResyncFrame(BaseModel):
    """The client fell too far behind; it must resume from `last_event_id`."""

    model_config = _FROZEN
    type: Literal["resync"] = "resync"
    reason: str
    last_event_id: EventId | None = None


CrewMessage = Annotated[
    StatusMsg
    | PositionMsg
    | VitalsMsg
    | EcgMsg
    | StrokeMsg
    | InjuriesMsg
    | TreatmentMsg
    | DestinationRequestMsg
    | CrewActivateTeamMsg
    | ResumeMsg,
    Field(discriminator="type"),
]
HospitalMessage = Annotated[
    HospitalAckMsg
    | ActivateTeamMsg
    | HospitalArrivedMsg
    | HandoverCompleteMsg
    | DiversionMsg
    | CapacityMsg
    | ResumeMsg,
    Field(discriminator="type"),
]
ServerFrame = Annotated[
    AckFrame | EventFrame | ErrorFrame | SnapshotFrame | ResyncFrame,
    Field(discriminator="type"),
]
