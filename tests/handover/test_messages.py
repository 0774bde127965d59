"""Frames of the handover channels: every type valid and invalid, with field and close code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import pytest
from pydantic import TypeAdapter

from dispatch.domain import Team, VehicleStatus
from dispatch.errors import HandoverError
from dispatch.handover import frames
from dispatch.handover import messages as m

CALL = "7f0c3c9e-4c1a-4a54-9d0e-2a4b2c1d0e11"
AT = "2025-03-01T10:00:00+08:00"


def crew(kind: str, /, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "msg_id": "tab-1:42", "call_id": CALL, **fields}


def hosp(kind: str, /, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "msg_id": "ed-7", **fields}


def raw(frame: dict[str, Any]) -> bytes:
    return orjson.dumps(frame)


def without(frame: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if k != key}


VITALS_FULL = dict(
    hr=112,
    sbp=94,
    dbp=60,
    spo2=91,
    rr=24,
    temp_c=38.4,
    gcs=14,
    avpu="V",
    glucose_mmol=7.2,
    pain=6,
    at=AT,
)

CREW_VALID: list[tuple[dict[str, Any], type[Any], str, Any]] = [
    (crew("status", status="en_route", at=AT), m.StatusMsg, "status", VehicleStatus.EN_ROUTE),
    (crew("position", lon=118.78, lat=32.04, at=AT), m.PositionMsg, "heading", None),
    (
        crew("position", lon=118.78, lat=32.04, heading=359.9, speed_mps=16.5, at=AT),
        m.PositionMsg,
        "speed_mps",
        16.5,
    ),
    (crew("vitals", hr=0, at=AT), m.VitalsMsg, "hr", 0),  # arrest: 0 is a real reading
    (crew("vitals", **VITALS_FULL), m.VitalsMsg, "avpu", m.Avpu.V),
    (crew("vitals", sbp=120, dbp=120, at=AT), m.VitalsMsg, "dbp", 120),
    (
        crew(
            "ecg",
            rhythm="sinus_tachycardia",
            st_elevation_leads=["II", "III", "aVF"],
            stemi=True,
            image_ref="s3://ecg/1.png",
            at=AT,
        ),
        m.EcgMsg,
        "st_elevation_leads",
        (m.EcgLead.II, m.EcgLead.III, m.EcgLead.AVF),
    ),
    (crew("ecg", rhythm="vf", stemi=False, at=AT), m.EcgMsg, "st_elevation_leads", ()),
    (
        crew(
            "stroke",
            lams=4,
            befast={"face": True, "arm": True},
            last_known_well="2025-03-01T09:10:00+08:00",
            at=AT,
        ),
        m.StrokeMsg,
        "lams",
        4,
    ),
    (crew("stroke", race=9, at=AT), m.StrokeMsg, "race", 9),
    (
        crew(
            "injuries",
            injuries=[{"region": "lower_limb", "kind": "open_fracture", "side": "left"}],
            mechanism="motorcycle vs car",
            at=AT,
        ),
        m.InjuriesMsg,
        "mechanism",
        "motorcycle vs car",
    ),
    (crew("injuries", injuries=[], at=AT), m.InjuriesMsg, "injuries", ()),
    (
        crew(
            "treatment",
            kind="medication",
            code="aspirin",
            name="Aspirin",
            dose={"value": 300, "unit": "mg"},
            route="po",
            at=AT,
        ),
        m.TreatmentMsg,
        "route",
        m.Route.PO,
    ),
    (
        crew("treatment", kind="procedure", name="12-lead ECG", at=AT),
        m.TreatmentMsg,
        "dose",
        None,
    ),
    (crew("destination_request", hospital_id="H-GULOU"), m.DestinationRequestMsg, "reason", None),
    (crew("activate_team", team="cath_lab"), m.CrewActivateTeamMsg, "team", Team.CATH_LAB),
    (
        {"type": "resume", "last_event_id": "1700000000000-3"},
        m.ResumeMsg,
        "last_event_id",
        "1700000000000-3",
    ),
    ({"type": "resume", "last_event_id": "42"}, m.ResumeMsg, "last_event_id", "42"),
]


@pytest.mark.parametrize(("frame", "cls", "attr", "value"), CREW_VALID)
def test_valid_crew_frames(frame: dict[str, Any], cls: type[Any], attr: str, value: Any) -> None:
    msg = frames.parse_crew_frame(raw(frame))
    assert type(msg) is cls
    assert getattr(msg, attr) == value
    if "call_id" in frame:
        assert msg.call_id == UUID(CALL)  # type: ignore[union-attr]


def test_text_frames_are_accepted() -> None:
    msg = frames.parse_crew_frame(raw(crew("status", status="on_scene", at=AT)).decode())
    assert isinstance(msg, m.StatusMsg)
    assert msg.at == datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


CREW_INVALID: list[tuple[str, bytes | str, int, str | None]] = [
    ("not JSON", b"{not json", 1007, None),
    ("not UTF-8", b'{"type": "\xff"}', 1007, None),
    ("not an object", b"[1, 2]", 1007, None),
    ("no type", raw(without(crew("status", status="en_route", at=AT), "type")), 1007, "type"),
    ("unknown type", raw(crew("selfie", at=AT)), 1008, "type"),
    ("hospital type on crew channel", raw(crew("handover_complete")), 1008, "type"),
    ("no msg_id", raw(without(crew("status", status="en_route", at=AT), "msg_id")), 1007, "msg_id"),
    (
        "empty msg_id",
        raw({**crew("status", status="en_route", at=AT), "msg_id": ""}),
        1007,
        "msg_id",
    ),
    (
        "msg_id too long",
        raw({**crew("status", status="en_route", at=AT), "msg_id": "x" * 65}),
        1007,
        "msg_id",
    ),
    (
        "msg_id with spaces",
        raw({**crew("status", status="en_route", at=AT), "msg_id": "a b"}),
        1007,
        "msg_id",
    ),
    (
        "bad call_id",
        raw({**crew("status", status="en_route", at=AT), "call_id": "nope"}),
        1007,
        "call_id",
    ),
    ("unknown status", raw(crew("status", status="flying", at=AT)), 1007, "status"),
    ("extra field", raw(crew("status", status="en_route", at=AT, colour="red")), 1007, "colour"),
    ("naive time", raw(crew("status", status="en_route", at="2025-03-01T10:00:00")), 1007, "at"),
    ("no time", raw(crew("position", lon=118.0, lat=32.0)), 1007, "at"),
    ("lon out of range", raw(crew("position", lon=181, lat=32.0, at=AT)), 1007, "lon"),
    ("lat out of range", raw(crew("position", lon=118, lat=-90.5, at=AT)), 1007, "lat"),
    ("heading 360", raw(crew("position", lon=118, lat=32, heading=360, at=AT)), 1007, "heading"),
    (
        "speed too high",
        raw(crew("position", lon=118, lat=32, speed_mps=101, at=AT)),
        1007,
        "speed_mps",
    ),
    ("hr too high", raw(crew("vitals", hr=351, at=AT)), 1007, "hr"),
    ("hr negative", raw(crew("vitals", hr=-1, at=AT)), 1007, "hr"),
    ("spo2 over 100", raw(crew("vitals", spo2=101, at=AT)), 1007, "spo2"),
    ("gcs 2", raw(crew("vitals", gcs=2, at=AT)), 1007, "gcs"),
    ("gcs 16", raw(crew("vitals", gcs=16, at=AT)), 1007, "gcs"),
    ("pain 11", raw(crew("vitals", pain=11, at=AT)), 1007, "pain"),
    ("temp 46", raw(crew("vitals", temp_c=46, at=AT)), 1007, "temp_c"),
    ("rr too high", raw(crew("vitals", rr=101, at=AT)), 1007, "rr"),
    ("glucose negative", raw(crew("vitals", glucose_mmol=-0.1, at=AT)), 1007, "glucose_mmol"),
    ("unknown avpu", raw(crew("vitals", avpu="X", at=AT)), 1007, "avpu"),
    ("hr as float", raw(crew("vitals", hr=80.5, at=AT)), 1007, "hr"),
    ("no measurement", raw(crew("vitals", at=AT)), 1007, None),
    ("dbp above sbp", raw(crew("vitals", sbp=80, dbp=90, at=AT)), 1007, None),
    ("unknown rhythm", raw(crew("ecg", rhythm="funky", stemi=False, at=AT)), 1007, "rhythm"),
    (
        "unknown lead",
        raw(crew("ecg", rhythm="sinus", st_elevation_leads=["V10"], stemi=True, at=AT)),
        1007,
        "st_elevation_leads.0",
    ),
    (
        "lead twice",
        raw(crew("ecg", rhythm="sinus", st_elevation_leads=["V1", "V1"], stemi=True, at=AT)),
        1007,
        None,
    ),
    ("no stemi flag", raw(crew("ecg", rhythm="sinus", at=AT)), 1007, "stemi"),
    ("lams 6", raw(crew("stroke", lams=6, at=AT)), 1007, "lams"),
    ("race 10", raw(crew("stroke", race=10, at=AT)), 1007, "race"),
    ("empty stroke", raw(crew("stroke", at=AT)), 1007, None),
    ("befast extra item", raw(crew("stroke", befast={"legs": True}, at=AT)), 1007, "befast.legs"),
    (
        "lkw after assessment",
        raw(crew("stroke", lams=2, last_known_well="2025-03-01T11:00:00+08:00", at=AT)),
        1007,
        None,
    ),
    (
        "unknown region",
        raw(crew("injuries", injuries=[{"region": "tail", "kind": "burn"}], at=AT)),
        1007,
        "injuries.0.region",
    ),
    ("injuries not a list", raw(crew("injuries", injuries="leg", at=AT)), 1007, "injuries"),
    (
        "medication without dose",
        raw(crew("treatment", kind="medication", name="Aspirin", route="po", at=AT)),
        1007,
        None,
    ),
    (
        "procedure with route",
        raw(crew("treatment", kind="procedure", name="IV access", route="iv", at=AT)),
        1007,
        None,
    ),
    (
        "zero dose",
        raw(
            crew(
                "treatment",
                kind="medication",
                name="Aspirin",
                route="po",
                dose={"value": 0, "unit": "mg"},
                at=AT,
            )
        ),
        1007,
        "dose.value",
    ),
    (
        "non-UCUM unit",
        raw(
            crew(
                "treatment",
                kind="medication",
                name="Aspirin",
                route="po",
                dose={"value": 300, "unit": "milligrams"},
                at=AT,
            )
        ),
        1007,
        "dose.unit",
    ),
    (
        "unknown treatment kind",
        raw(crew("treatment", kind="prayer", name="x", at=AT)),
        1007,
        "kind",
    ),
    ("empty hospital_id", raw(crew("destination_request", hospital_id="")), 1007, "hospital_id"),
    ("unknown team", raw(crew("activate_team", team="chaplain")), 1007, "team"),
    ("resume without id", raw({"type": "resume"}), 1007, "last_event_id"),
    ("resume bad id", raw({"type": "resume", "last_event_id": "abc"}), 1007, "last_event_id"),
    (
        "too big",
        raw(crew("injuries", injuries=[], mechanism="x" * 200, at=AT, pad="y" * 70_000)),
        1009,
        None,
    ),
    (
        # 22,000 characters, 66,000 bytes of UTF-8: measured in bytes, not characters
        "too big as text",
        raw(crew("injuries", injuries=[], mechanism="x", at=AT, pad="\u4e2d" * 22_000)).decode(),
        1009,
        None,
    ),
]


@pytest.mark.parametrize(("why", "frame", "code", "field"), CREW_INVALID)
def test_invalid_crew_frames(why: str, frame: bytes | str, code: int, field: str | None) -> None:
    with pytest.raises(m.FrameError) as info:
        frames.parse_crew_frame(frame)
    assert info.value.code == code, why
    assert info.value.field == field, why
    assert info.value.reason, why
    assert isinstance(info.value, HandoverError)


def test_error_carries_msg_id_so_the_tablet_can_drop_it() -> None:
    with pytest.raises(m.FrameError) as info:
        frames.parse_crew_frame(raw(crew("vitals", hr=999, at=AT)))
    frame = frames.error_frame(info.value)
    assert frame.msg_id == "tab-1:42"
    assert orjson.loads(frames.encode_frame(frame)) == {
        "type": "error",
        "code": 1007,
        "reason": info.value.reason,
        "field": "hr",
        "msg_id": "tab-1:42",
    }


HOSPITAL_VALID: list[tuple[dict[str, Any], type[Any], str, Any]] = [
    (hosp("ack", call_id=CALL), m.HospitalAckMsg, "call_id", UUID(CALL)),
    (
        hosp("activate_team", call_id=CALL, team="stroke_team"),
        m.ActivateTeamMsg,
        "team",
        Team.STROKE_TEAM,
    ),
    (hosp("arrived", call_id=CALL), m.HospitalArrivedMsg, "call_id", UUID(CALL)),
    (hosp("handover_complete", call_id=CALL), m.HandoverCompleteMsg, "call_id", UUID(CALL)),
    (
        hosp("diversion", capability="pci", on=True, until="2025-03-01T14:00:00+08:00"),
        m.DiversionMsg,
        "capability",
        m.Capability.PCI,
    ),
    (hosp("diversion", capability="trauma", on=False), m.DiversionMsg, "on", False),
    # the whole ED, as destination choice reads it (triage/destination.py)
    (hosp("diversion", capability="ed", on=True), m.DiversionMsg, "capability",
     m.Capability.ED),
    ({"type": "resume", "last_event_id": "7"}, m.ResumeMsg, "last_event_id", "7"),
]


@pytest.mark.parametrize(("frame", "cls", "attr", "value"), HOSPITAL_VALID)
def test_valid_hospital_frames(
    frame: dict[str, Any], cls: type[Any], attr: str, value: Any
) -> None:
    msg = frames.parse_hospital_frame(raw(frame))
    assert type(msg) is cls
    assert getattr(msg, attr) == value


@pytest.mark.parametrize(("parse", "union", "frame"), [
    *((frames.parse_crew_frame, m.CrewMessage, frame) for frame, *_ in CREW_VALID),
    *((frames.parse_hospital_frame, m.HospitalMessage, frame) for frame, *_ in HOSPITAL_VALID),
])
def test_a_valid_frame_reads_the_same_as_its_decoded_object(
        parse: Any, union: Any, frame: dict[str, Any]) -> None:
    # A frame is validated by pydantic's JSON parser; a refused one is decoded first:
    # both must read a valid frame alike.
    via_object = TypeAdapter(union).validate_python(orjson.loads(raw(frame)))
    assert parse(raw(frame)) == via_object
    assert parse(raw(frame).decode()) == via_object


HOSPITAL_INVALID: list[tuple[str, bytes, int, str | None]] = [
    ("crew type on hospital channel", raw(crew("vitals", hr=80, at=AT)), 1008, "type"),
    ("unknown type", raw(hosp("discharge", call_id=CALL)), 1008, "type"),
    ("ack without call", raw(hosp("ack")), 1007, "call_id"),
    ("ack without msg_id", raw({"type": "ack", "call_id": CALL}), 1007, "msg_id"),
    ("unknown team", raw(hosp("activate_team", call_id=CALL, team="choir")), 1007, "team"),
    ("unknown capability", raw(hosp("diversion", capability="spa", on=True)), 1007, "capability"),
    ("diversion on not bool", raw(hosp("diversion", capability="pci", on=[1])), 1007, "on"),
    (
        "until while off",
        raw(hosp("diversion", capability="pci", on=False, until="2025-03-01T14:00:00+08:00")),
        1007,
        None,
    ),
    ("extra field", raw(hosp("arrived", call_id=CALL, bay=3)), 1007, "bay"),
    ("not JSON", b"", 1007, None),
]


@pytest.mark.parametrize(("why", "frame", "code", "field"), HOSPITAL_INVALID)
def test_invalid_hospital_frames(why: str, frame: bytes, code: int, field: str | None) -> None:
    with pytest.raises(m.FrameError) as info:
        frames.parse_hospital_frame(frame)
    assert (info.value.code, info.value.field) == (code, field), why


SERVER_FRAMES: list[Any] = [
    m.AckFrame(msg_id="tab-1:42", event_id="1700000000000-0"),
    m.EventFrame(id="1700000000001-0", kind="vitals", call_id=UUID(CALL), data={"hr": 90}),
    m.EventFrame(id="9", kind="centre_alerted"),
    m.ErrorFrame(code=1008, reason="no", field="type"),
    m.SnapshotFrame(last_event_id="12", calls=[{"call_id": CALL, "phase": "alerted"}]),
    m.ResyncFrame(reason="queue full", last_event_id="12"),
]


@pytest.mark.parametrize("frame", SERVER_FRAMES)
def test_server_frames_round_trip(frame: Any) -> None:
    assert frames.parse_server_frame(frames.encode_frame(frame)) == frame


def test_messages_are_immutable() -> None:
    msg = frames.parse_crew_frame(raw(crew("vitals", hr=80, at=AT)))
    with pytest.raises(ValueError, match="frozen"):
        msg.hr = 90  # type: ignore[union-attr]
