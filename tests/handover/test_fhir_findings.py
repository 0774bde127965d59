"""Crew ECG, stroke scales and injuries in the FHIR handover Bundle (issue 20, item 3).

Validated twice: by fhir.resources (the R5 model) and by a JSON Schema of the required
elements of the IHE PCC mPSC profiles these findings map to (mpsc_findings.schema.json).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import orjson
from fhir.resources.bundle import Bundle

from dispatch.domain import Role
from dispatch.handover.atmist import build_atmist
from dispatch.handover.fhir import build_bundle
from tests.handover.wsclient import ack, cluster, recv, send, until

SCHEMA = json.loads((Path(__file__).parent / "mpsc_findings.schema.json").read_text())
LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"


def _validate(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Both validations; the Bundle's resources."""
    Bundle.model_validate_json(orjson.dumps(data))
    jsonschema.validate(data, SCHEMA, format_checker=jsonschema.FormatChecker())
    return [e["resource"] for e in data["entry"]]


def _has(concept: dict[str, Any], system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code
               for c in concept.get("coding") or [])


def _by_code(resources: list[dict[str, Any]], system: str, code: str) -> list[dict[str, Any]]:
    return [r for r in resources if "code" in r and _has(r["code"], system, code)]


def _frames(t0: datetime) -> list[dict[str, Any]]:
    return [
        {"type": "ecg", "rhythm": "atrial_fibrillation", "st_elevation_leads": ["V2", "V3"],
         "stemi": True, "image_ref": "ecg/123.png", "at": t0},
        {"type": "stroke", "lams": 4, "race": 6,
         "befast": {"balance": False, "eyes": False, "face": True, "arm": True,
                    "speech": None},
         "last_known_well": t0 - timedelta(minutes=50), "at": t0 + timedelta(minutes=1)},
        {"type": "injuries", "mechanism": "fall",
         "injuries": [{"region": "upper_limb", "kind": "open_fracture", "side": "left"},
                      {"region": "head", "kind": "laceration", "note": "scalp 4 cm"}],
         "at": t0 + timedelta(minutes=2)},
    ]


def _check_findings(resources: list[dict[str, Any]]) -> None:
    [ecg] = _by_code(resources, LOINC, "76281-5")
    assert _has(ecg["valueCodeableConcept"], SNOMED, "49436004")  # atrial fibrillation
    st = [c for c in ecg["component"] if _has(c["code"], SNOMED, "76388001")]
    assert [c["valueCodeableConcept"]["text"] for c in st] == ["V2", "V3"]
    assert ecg["interpretation"] == [{"text": "STEMI"}]

    scales = {r["code"]["coding"][0]["code"]: r for r in resources
              if r["resourceType"] == "Observation"
              and r["code"]["coding"][0]["system"] == "urn:dispatch:stroke-scale"}
    assert scales["lams"]["valueInteger"] == 4
    assert scales["race"]["valueInteger"] == 6
    for scale in scales.values():
        assert any(_has(c["code"], LOINC, "67521-5") for c in scale["component"])
    befast = scales["befast"]
    assert _has(befast["valueCodeableConcept"], LOINC, "LA6576-8")  # positive screen
    items = {c["code"]["coding"][0]["code"]: c["valueBoolean"] for c in befast["component"]
             if "valueBoolean" in c}
    assert items == {"befast.balance": False, "befast.eyes": False, "befast.face": True,
                     "befast.arm": True}  # speech was not tested: no component
    [lkw] = [r for r in resources if _has(r.get("code", {}), "urn:dispatch:finding",
                                          "last_known_well")]
    assert lkw["valueDateTime"]

    injuries = [r for r in resources if r["resourceType"] == "Condition" and "bodySite" in r]
    got = {(r["code"]["coding"][0]["code"], r["bodySite"][0]["coding"][0]["code"],
            r["bodySite"][0]["text"]) for r in injuries}
    assert got == {("397181002", "53120007", "left upper limb"),  # open fracture, arm
                   ("312608009", "69536005", "head")}  # laceration, head
    [cause] = _by_code(resources, LOINC, "69543-7")
    assert _has(cause["valueCodeableConcept"], "http://hl7.org/fhir/sid/icd-10", "W19")


def test_crew_ecg_stroke_and_injuries_are_in_the_fhir_bundle() -> None:
    """Pure: the frames as the service passes them to build_bundle."""
    t0 = datetime(2025, 3, 1, 9, 40, tzinfo=UTC)
    ecg, stroke, injuries = _frames(t0)
    call = {"id": "7f0c3c9e-4c1a-4a54-9d0e-2a4b2c1d0e11", "complaint": "fall",
            "acuity": 2, "pathway": "trauma", "received_at": t0 - timedelta(minutes=20),
            "answers": {"age_years": 70, "sex": "female"}}
    atmist = build_atmist(call=call, findings=[ecg, stroke, injuries],
                          now=t0 + timedelta(minutes=5))
    data = build_bundle(call=call, atmist=atmist, vitals=[], conditions=[], treatments=[],
                        hospital_id="H1", ecgs=[ecg], strokes=[stroke], injuries=injuries)
    _check_findings(_validate(data))


def test_schema_refuses_an_injury_without_body_site() -> None:
    """The schema is not a rubber stamp: drop a required element and it says no."""
    t0 = datetime(2025, 3, 1, 9, 40, tzinfo=UTC)
    _, _, injuries = _frames(t0)
    call = {"id": "7f0c3c9e-4c1a-4a54-9d0e-2a4b2c1d0e11", "received_at": t0}
    atmist = build_atmist(call=call, findings=[injuries], now=t0)
    data = build_bundle(call=call, atmist=atmist, vitals=[], conditions=[], treatments=[],
                        hospital_id="H1", injuries=injuries)
    for entry in data["entry"]:
        entry["resource"].pop("bodySite", None)
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as exc:
        assert "bodySite" in exc.message
    else:
        raise AssertionError("an injury without a body site passed the mPSC schema")


async def test_findings_a_crew_sends_reach_the_fhir_record() -> None:
    """Through the API: a crew sends ECG, stroke scales and injuries over its websocket,
    the hospital's GET /v1/incidents/{id}/handover?format=fhir holds each with its codes."""
    async with cluster(1) as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        t0 = datetime.now(UTC) - timedelta(minutes=10)
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)
            for i, frame in enumerate(_frames(t0)):
                body = {**frame, "msg_id": f"f{i}", "call_id": call_id,
                        "at": frame["at"].isoformat()}
                if "last_known_well" in body:
                    body["last_known_well"] = body["last_known_well"].isoformat()
                await send(crew, body)
                got, _ = await until(crew, ack(f"f{i}"))
                assert got["type"] == "ack", got
        r = await c.http.get(f"{c.urls[0]}/v1/incidents/{call_id}/handover",
                             params={"format": "fhir"},
                             headers=c.auth(Role.HOSPITAL, hospital_id="H1"))
        assert r.status_code == 200, r.text
        _check_findings(_validate(r.json()))
