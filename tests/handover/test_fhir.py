"""FHIR handover bundle: codes, units, references, and a round trip through fhir.resources."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from fhir.resources.bundle import Bundle
from fhir.resources.condition import Condition
from fhir.resources.encounter import Encounter
from fhir.resources.medicationadministration import MedicationAdministration
from fhir.resources.observation import Observation
from fhir.resources.patient import Patient
from fhir.resources.procedure import Procedure

from dispatch.errors import HandoverError
from dispatch.handover.atmist import build_atmist
from dispatch.handover.fhir import build_bundle

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 1, 9, 40, tzinfo=CST)
NOW = T0 + timedelta(minutes=25)
CALL: dict[str, Any] = {
    "id": "7f0c3c9e-4c1a-4a54-9d0e-2a4b2c1d0e11",
    "complaint": "chest pain",
    "acuity": 2,
    "pathway": "chest_pain",
    "received_at": T0 - timedelta(minutes=10),
    "caller_number": "13800000000",
    "answers": {"age_years": 67, "sex": "male", "onset_at": "2025-03-01T09:10:00+08:00"},
}
VITALS: list[dict[str, Any]] = [
    {
        "type": "vitals",
        "at": T0,
        "hr": 112,
        "sbp": 94,
        "dbp": 60,
        "spo2": 91,
        "rr": 24,
        "temp_c": 36.8,
        "gcs": 15,
        "glucose_mmol": 6.1,
        "pain": 8,
        "avpu": "A",
    },
    {"type": "vitals", "at": (T0 + timedelta(minutes=10)).isoformat(), "hr": 96, "sbp": 108},
]
TREATMENTS: list[dict[str, Any]] = [
    {
        "type": "treatment",
        "at": T0 + timedelta(minutes=5),
        "kind": "medication",
        "code": "aspirin",
        "name": "Aspirin",
        "dose": {"value": 300, "unit": "mg"},
        "route": "po",
    },
    {
        "type": "treatment",
        "at": T0 + timedelta(minutes=6),
        "kind": "procedure",
        "name": "IV access",
    },
]


def bundle(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "call": CALL,
        "vitals": VITALS,
        "conditions": ["stemi"],
        "treatments": TREATMENTS,
        "hospital_id": "H-GULOU",
    }
    args.update(overrides)
    atmist = build_atmist(call=args["call"], findings=[*VITALS, *TREATMENTS], now=NOW)
    return build_bundle(atmist=atmist, **args)


def resources(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind]


def codes(resource: dict[str, Any]) -> tuple[str, str]:
    coding = resource["code"]["coding"][0]
    return coding["system"], coding["code"]


def test_a_fhir_client_can_parse_it() -> None:
    data = bundle()
    parsed = Bundle.model_validate_json(orjson.dumps(data))
    assert parsed.type == "collection"
    types = {type(entry.resource) for entry in parsed.entry or []}
    assert types == {
        Patient,
        Encounter,
        Observation,
        Condition,
        MedicationAdministration,
        Procedure,
    }
    # And the JSON survives a second trip unchanged.
    assert orjson.loads(parsed.model_dump_json()) == data


def test_export_is_stable_for_the_same_call() -> None:
    assert bundle() == bundle()


def test_every_reference_resolves_inside_the_bundle() -> None:
    data = bundle()
    urls = {e["fullUrl"] for e in data["entry"]}
    assert all(url.startswith("urn:uuid:") for url in urls)
    refs = [
        ref
        for e in data["entry"]
        for key in ("subject", "encounter")
        if (ref := e["resource"].get(key))
    ]
    assert refs and all(ref["reference"] in urls for ref in refs)


def test_patient_carries_no_identity() -> None:
    [patient] = resources(bundle(), "Patient")
    assert patient["gender"] == "male"
    assert set(patient) == {"resourceType", "id", "gender"}
    assert "13800000000" not in orjson.dumps(bundle()).decode()


# (LOINC code, value in the first vitals frame, UCUM code)
VITAL_ROWS: list[tuple[str, float, str]] = [
    ("8867-4", 112, "/min"),
    ("59408-5", 91, "%"),
    ("9279-1", 24, "/min"),
    ("8310-5", 36.8, "Cel"),
    ("9269-2", 15, "{score}"),
    ("15074-8", 6.1, "mmol/L"),
    ("72514-3", 8, "{score}"),
]


@pytest.mark.parametrize(("loinc", "value", "unit"), VITAL_ROWS)
def test_vital_sign_observations(loinc: str, value: float, unit: str) -> None:
    observations = [
        o for o in resources(bundle(), "Observation") if codes(o) == ("http://loinc.org", loinc)
    ]
    first = observations[0]
    assert first["category"][0]["coding"][0]["code"] == "vital-signs"
    assert first["valueQuantity"] == {
        "value": value,
        "unit": unit,
        "system": "http://unitsofmeasure.org",
        "code": unit,
    }
    assert first["effectiveDateTime"] == T0.isoformat()
    assert first["status"] == "final"


def test_blood_pressure_is_a_panel_with_components() -> None:
    panels = [
        o for o in resources(bundle(), "Observation") if codes(o) == ("http://loinc.org", "85354-9")
    ]
    assert len(panels) == 2
    first = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in panels[0]["component"]}
    assert first["8480-6"]["value"] == 94 and first["8480-6"]["code"] == "mm[Hg]"
    assert first["8462-4"]["value"] == 60
    second = [c["code"]["coding"][0]["code"] for c in panels[1]["component"]]
    assert second == ["8480-6"]  # only the systolic was measured


def test_age_is_an_observation() -> None:
    [age] = [
        o for o in resources(bundle(), "Observation") if codes(o) == ("http://loinc.org", "30525-0")
    ]
    assert age["valueQuantity"]["value"] == 67
    assert age["valueQuantity"]["code"] == "a"


CONDITION_ROWS: list[tuple[str | None, list[str], list[str]]] = [
    ("chest_pain", ["stemi"], ["29857009", "401303003"]),
    ("chest_pain", ["chest_pain"], ["29857009"]),  # not twice
    ("stroke", [], ["230690007"]),
    ("trauma", [], ["417746004"]),
    ("maternal", [], ["77386006"]),
    ("paediatric", [], []),
    (None, ["cardiac_arrest"], ["410429000"]),
]


@pytest.mark.parametrize(("pathway", "extra", "snomed"), CONDITION_ROWS)
def test_conditions(pathway: str | None, extra: list[str], snomed: list[str]) -> None:
    data = bundle(call={**CALL, "pathway": pathway}, conditions=extra)
    conditions = resources(data, "Condition")
    assert [codes(c) for c in conditions] == [("http://snomed.info/sct", s) for s in snomed]
    for condition in conditions:
        assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
        assert condition["onsetDateTime"] == "2025-03-01T09:10:00+08:00"


def test_treatments() -> None:
    data = bundle()
    [medication] = resources(data, "MedicationAdministration")
    assert medication["medication"]["concept"]["text"] == "Aspirin"
    assert medication["dosage"]["route"]["coding"][0]["code"] == "26643006"
    assert medication["dosage"]["dose"]["value"] == 300
    assert medication["dosage"]["dose"]["code"] == "mg"
    assert medication["occurenceDateTime"] == (T0 + timedelta(minutes=5)).isoformat()
    [procedure] = resources(data, "Procedure")
    assert procedure["code"] == {"text": "IV access"}
    assert procedure["status"] == "completed"


def test_encounter() -> None:
    [encounter] = resources(bundle(), "Encounter")
    assert encounter["admission"]["destination"]["identifier"]["value"] == "H-GULOU"
    assert encounter["priority"]["coding"][0]["code"] == "EM"
    assert encounter["class"][0]["coding"][0]["code"] == "EMER"
    assert encounter["actualPeriod"]["start"] == "2025-03-01T09:30:00+08:00"
    assert "ATMIST" in encounter["text"]["div"]
    # the narrative's times are the centre's, the zone named
    assert "(Asia/Shanghai, UTC+08:00)" in encounter["text"]["div"]
    [london] = resources(bundle(time_zone="Europe/London"), "Encounter")
    assert "(Europe/London, UTC+00:00)" in london["text"]["div"]


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown condition", {"conditions": ["hangnail"]}, "conditions"),
    ("call without id", {"call": {**CALL, "id": None}}, "call.id"),
    (
        "naive vitals time",
        {"vitals": [{"type": "vitals", "at": "2025-03-01T09:40:00", "hr": 80}]},
        "vitals[0].at",
    ),
    (
        "treatment of unknown kind",
        {"treatments": [{**TREATMENTS[1], "kind": "prayer"}]},
        "treatments[0].kind",
    ),
    ("unknown route", {"treatments": [{**TREATMENTS[0], "route": "ear"}]}, "treatments[0].route"),
]


@pytest.mark.parametrize(("why", "overrides", "field"), BAD)
def test_bad_input(why: str, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(HandoverError) as info:
        bundle(**overrides)
    assert info.value.field == field, why
