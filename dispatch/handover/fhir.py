"""The handover record as a FHIR R5 Bundle (fhir.resources 8), for the receiving hospital.

A `collection` Bundle holding the Patient (sex; age as an Observation, never a name),
the Encounter (with the ATMIST text as its narrative and the destination hospital),
vital-sign Observations with LOINC codes and UCUM units, provisional Conditions, the
crew's ECGs, stroke scales and injuries (dispatch.handover.fhir_findings, mapped as IHE
Paramedicine Summary of Care (mPSC) names them), and a Procedure or
MedicationAdministration per treatment.

Resource ids are UUIDv5s derived from the call id, so exporting the same call twice
gives the same ids and a receiving system can upsert instead of duplicating. Every
resource is validated by fhir.resources before it goes out.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import orjson
from fhir.resources.bundle import Bundle
from pydantic import ValidationError

from dispatch.domain import Acuity, Pathway
from dispatch.errors import HandoverError
from dispatch.handover.atmist import CENTRE_TIME_ZONE, Atmist
from dispatch.handover.fhir_findings import (
    ecg_observations,
    injury_resources,
    stroke_observations,
)

__all__ = [
    "CALL_SYSTEM",
    "CONDITIONS",
    "HOSPITAL_SYSTEM",
    "PATHWAY_CONDITION",
    "ROUTE_CODES",
    "TREATMENT_SYSTEM",
    "VITAL_CODES",
    "build_bundle",
]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
# Our own identifier systems: call ids, hospital ids, crew treatment codes.
CALL_SYSTEM = "urn:dispatch:call"
HOSPITAL_SYSTEM = "urn:dispatch:hospital"
TREATMENT_SYSTEM = "urn:dispatch:treatment"

# vital code -> (LOINC code, LOINC display, UCUM code). LOINC 2.77; the first five are
# the FHIR R5 vital-signs profile codes.
VITAL_CODES: dict[str, tuple[str, str, str]] = {
    "hr": ("8867-4", "Heart rate", "/min"),
    "sbp": ("8480-6", "Systolic blood pressure", "mm[Hg]"),
    "dbp": ("8462-4", "Diastolic blood pressure", "mm[Hg]"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "rr": ("9279-1", "Respiratory rate", "/min"),
    "temp_c": ("8310-5", "Body temperature", "Cel"),
    "gcs": ("9269-2", "Glasgow coma score total", "{score}"),
    "glucose_mmol": ("15074-8", "Glucose [Moles/volume] in Blood", "mmol/L"),
    "pain": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported", "{score}"),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
AGE = ("30525-0", "Age")

# condition key -> SNOMED CT (code, display). All exported as provisional: a prehospital
# working diagnosis for the receiving team to confirm.
CONDITIONS: dict[str, tuple[str, str]] = {
    "chest_pain": ("29857009", "Chest pain"),
    "stemi": ("401303003", "Acute ST segment elevation myocardial infarction"),
    "cardiac_arrest": ("410429000", "Cardiac arrest"),
    "suspected_stroke": ("230690007", "Cerebrovascular accident"),
    "major_trauma": ("417746004", "Traumatic injury"),
    "pregnancy": ("77386006", "Pregnancy"),
}
# The five centres' pathways (domain.Pathway) -> the condition that explains the choice.
# The paediatric pathway is about the patient's age, which the Patient already carries.
PATHWAY_CONDITION: dict[Pathway, str] = {
    Pathway.CHEST_PAIN: "chest_pain",
    Pathway.STROKE: "suspected_stroke",
    Pathway.TRAUMA: "major_trauma",
    Pathway.MATERNAL: "pregnancy",
}

# messages.Route -> SNOMED CT route of administration (FHIR "SNOMED CT Route Codes").
ROUTE_CODES: dict[str, tuple[str, str]] = {
    "iv": ("47625008", "Intravenous route"),
    "io": ("60213007", "Intraosseous route"),
    "im": ("78421000", "Intramuscular route"),
    "sc": ("34206005", "Subcutaneous route"),
    "po": ("26643006", "Oral route"),
    "sl": ("37839007", "Sublingual route"),
    "inhaled": ("447694001", "Respiratory tract route"),
    "intranasal": ("46713006", "Nasal route"),
    "rectal": ("37161004", "Rectal route"),
    "topical": ("6064005", "Topical route"),
    "endotracheal": ("404820008", "Endotracheal route"),
}

# China's four levels -> HL7 v3 ActPriority: levels I-II emergency, III urgent, IV routine.
_PRIORITY: dict[Acuity, tuple[str, str]] = {
    Acuity.I: ("EM", "emergency"),
    Acuity.II: ("EM", "emergency"),
    Acuity.III: ("UR", "urgent"),
    Acuity.IV: ("R", "routine"),
}
_GENDER = {"male": "male", "female": "female"}


def build_bundle(
    *,
    call: Mapping[str, Any],
    atmist: Atmist,
    vitals: Sequence[Mapping[str, Any]],
    conditions: Sequence[str],
    treatments: Sequence[Mapping[str, Any]],
    hospital_id: str,
    ecgs: Sequence[Mapping[str, Any]] = (),
    strokes: Sequence[Mapping[str, Any]] = (),
    injuries: Mapping[str, Any] | None = None,
    time_zone: str = CENTRE_TIME_ZONE,
) -> dict[str, Any]:
    """Build the FHIR R5 handover Bundle of one call as a JSON-ready dict (the narrative's
    clock times in `time_zone`, the centre's).

    `ecgs` and `strokes` are every crew frame of that type, oldest first; `injuries` the
    latest injuries frame (each one replaces the crew's previous list).
    """
    call_id = _call_id(call)
    ids = _Ids(call_id)
    patient_ref = {"reference": ids.url("Patient")}
    encounter_ref = {"reference": ids.url("Encounter")}
    resources: list[dict[str, Any]] = [
        _patient(ids, atmist),
        _encounter(ids, call, atmist, hospital_id=hospital_id, patient_ref=patient_ref,
                   time_zone=time_zone),
    ]
    if atmist.age_years is not None:
        resources.append(_age(ids, atmist, patient_ref=patient_ref, encounter_ref=encounter_ref))
    for i, frame in enumerate(vitals):
        resources.extend(
            _vital_observations(
                ids, frame, index=i, patient_ref=patient_ref, encounter_ref=encounter_ref
            )
        )
    for key in _condition_keys(call, conditions):
        resources.append(
            _condition(ids, key, atmist, patient_ref=patient_ref, encounter_ref=encounter_ref)
        )
    for finding in (ecg_observations(ecgs, id_of=ids.id, subject=patient_ref,
                                     encounter=encounter_ref),
                    stroke_observations(strokes, id_of=ids.id, subject=patient_ref,
                                        encounter=encounter_ref),
                    injury_resources(injuries, id_of=ids.id, subject=patient_ref,
                                     encounter=encounter_ref)):
        resources.extend(finding)
    for i, treatment in enumerate(treatments):
        resources.append(
            _treatment(
                ids, treatment, index=i, patient_ref=patient_ref, encounter_ref=encounter_ref
            )
        )
    bundle = {
        "resourceType": "Bundle",
        "id": ids.id("Bundle"),
        "identifier": {"system": CALL_SYSTEM, "value": str(call_id)},
        "type": "collection",
        "timestamp": atmist.generated_at.isoformat(),
        "entry": [
            {"fullUrl": ids.url(r["resourceType"], r["id"]), "resource": r} for r in resources
        ],
    }
    try:
        model = Bundle.model_validate(bundle)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise HandoverError(f"FHIR bundle does not validate at {where}: {err['msg']}") from None
    result: dict[str, Any] = orjson.loads(model.model_dump_json())
    return result


# ---------------------------------------------------------------------------- resources


class _Ids:
    """Stable ids: UUIDv5 of the call id and a resource key."""

    def __init__(self, call_id: UUID) -> None:
        self.call_id = call_id

    def id(self, resource_type: str, key: str = "") -> str:
        return str(uuid5(self.call_id, f"{resource_type}/{key}"))

    def url(self, resource_type: str, resource_id: str | None = None) -> str:
        return f"urn:uuid:{resource_id or self.id(resource_type)}"


def _patient(ids: _Ids, atmist: Atmist) -> dict[str, Any]:
    # No name, no phone, no id number: the receiving centre needs the clinical picture,
    # and R8 (patient privacy) says send no more than that.
    return {
        "resourceType": "Patient",
        "id": ids.id("Patient"),
        "gender": _GENDER.get(atmist.sex or "", "unknown"),
    }


def _encounter(
    ids: _Ids,
    call: Mapping[str, Any],
    atmist: Atmist,
    *,
    hospital_id: str,
    patient_ref: dict[str, str],
    time_zone: str,
) -> dict[str, Any]:
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": ids.id("Encounter"),
        "identifier": [{"system": CALL_SYSTEM, "value": str(ids.call_id)}],
        "status": "in-progress",
        "class": [{"coding": [{"system": ACT_CODE, "code": "EMER", "display": "emergency"}]}],
        "subject": patient_ref,
        "admission": {
            "destination": {"identifier": {"system": HOSPITAL_SYSTEM, "value": hospital_id}}
        },
        # The printable ATMIST is the encounter's human-readable narrative.
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><pre>'
            + html.escape(atmist.to_text(time_zone=time_zone))
            + "</pre></div>",
        },
    }
    if call.get("acuity") is not None:
        code, display = _PRIORITY[Acuity(int(call["acuity"]))]
        encounter["priority"] = {
            "coding": [{"system": ACT_PRIORITY, "code": code, "display": display}]
        }
    if call.get("received_at") is not None:
        encounter["actualPeriod"] = {"start": _iso(call["received_at"], field="received_at")}
    return encounter


def _age(
    ids: _Ids, atmist: Atmist, *, patient_ref: dict[str, str], encounter_ref: dict[str, str]
) -> dict[str, Any]:
    # FHIR's Patient has a birth date but no age; an Age observation (LOINC 30525-0) keeps
    # what the caller told us without inventing a birth date.
    return {
        "resourceType": "Observation",
        "id": ids.id("Observation", "age"),
        "status": "final",
        "code": _concept(LOINC, *AGE),
        "subject": patient_ref,
        "encounter": encounter_ref,
        "effectiveDateTime": atmist.generated_at.isoformat(),
        "valueQuantity": {
            "value": round(atmist.age_years or 0.0, 2),
            "unit": "a",
            "system": UCUM,
            "code": "a",
        },
    }


def _vital_observations(
    ids: _Ids,
    frame: Mapping[str, Any],
    *,
    index: int,
    patient_ref: dict[str, str],
    encounter_ref: dict[str, str],
) -> list[dict[str, Any]]:
    at = _iso(frame.get("at"), field=f"vitals[{index}].at")

    def base(key: str, code: tuple[str, str]) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": ids.id("Observation", f"{index}/{key}"),
            "status": "final",
            "category": [_concept(OBS_CATEGORY, "vital-signs", "Vital Signs")],
            "code": _concept(LOINC, *code),
            "subject": patient_ref,
            "encounter": encounter_ref,
            "effectiveDateTime": at,
        }

    out = []
    for key, (loinc, display, unit) in VITAL_CODES.items():
        if key in ("sbp", "dbp") or frame.get(key) is None:
            continue
        obs = base(key, (loinc, display))
        obs["valueQuantity"] = _quantity(frame[key], unit)
        out.append(obs)
    # FHIR vital-signs profile: blood pressure is one panel with SBP/DBP components.
    components = [
        {
            "code": _concept(LOINC, VITAL_CODES[key][0], VITAL_CODES[key][1]),
            "valueQuantity": _quantity(frame[key], "mm[Hg]"),
        }
        for key in ("sbp", "dbp")
        if frame.get(key) is not None
    ]
    if components:
        panel = base("bp", BP_PANEL)
        panel["component"] = components
        out.append(panel)
    return out


def _condition_keys(call: Mapping[str, Any], conditions: Sequence[str]) -> list[str]:
    """The pathway's condition first, then the requested ones, each once."""
    keys: list[str] = []
    pathway = call.get("pathway")
    if pathway and (key := PATHWAY_CONDITION.get(Pathway(pathway))):
        keys.append(key)
    for key in conditions:
        if key not in CONDITIONS:
            raise HandoverError(f"unknown condition {key!r}", field="conditions")
        if key not in keys:
            keys.append(key)
    return keys


def _condition(
    ids: _Ids,
    key: str,
    atmist: Atmist,
    *,
    patient_ref: dict[str, str],
    encounter_ref: dict[str, str],
) -> dict[str, Any]:
    code, display = CONDITIONS[key]
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "id": ids.id("Condition", key),
        "clinicalStatus": _concept(CONDITION_CLINICAL, "active", "Active"),
        "verificationStatus": _concept(CONDITION_VER, "provisional", "Provisional"),
        "category": [_concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
        "code": _concept(SNOMED, code, display),
        "subject": patient_ref,
        "encounter": encounter_ref,
        "recordedDate": atmist.generated_at.isoformat(),
    }
    if atmist.onset_at is not None:
        condition["onsetDateTime"] = atmist.onset_at.isoformat()
    return condition


def _treatment(
    ids: _Ids,
    treatment: Mapping[str, Any],
    *,
    index: int,
    patient_ref: dict[str, str],
    encounter_ref: dict[str, str],
) -> dict[str, Any]:
    name = str(treatment.get("name") or "")
    if not name:
        raise HandoverError(f"treatment {index} has no name", field=f"treatments[{index}].name")
    concept: dict[str, Any] = {"text": name}
    if treatment.get("code"):
        concept["coding"] = [{"system": TREATMENT_SYSTEM, "code": str(treatment["code"])}]
    at = _iso(treatment.get("at"), field=f"treatments[{index}].at")
    if treatment.get("kind") == "procedure":
        return {
            "resourceType": "Procedure",
            "id": ids.id("Procedure", str(index)),
            "status": "completed",
            "code": concept,
            "subject": patient_ref,
            "encounter": encounter_ref,
            "occurrenceDateTime": at,
        }
    if treatment.get("kind") != "medication":
        raise HandoverError(
            f"treatment {index} is neither procedure nor medication",
            field=f"treatments[{index}].kind",
        )
    dosage: dict[str, Any] = {}
    route = treatment.get("route")
    if route is not None:
        if str(route) not in ROUTE_CODES:
            raise HandoverError(f"unknown route {route!r}", field=f"treatments[{index}].route")
        dosage["route"] = _concept(SNOMED, *ROUTE_CODES[str(route)])
    dose = treatment.get("dose")
    if dose:
        dosage["dose"] = _quantity(dose["value"], str(dose["unit"]))
    administration: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": ids.id("MedicationAdministration", str(index)),
        "status": "completed",
        "medication": {"concept": concept},
        "subject": patient_ref,
        "encounter": encounter_ref,
        # sic: R5 spells the element "occurence".
        "occurenceDateTime": at,
    }
    if dosage:
        administration["dosage"] = dosage
    return administration


# ---------------------------------------------------------------------------- helpers


def _call_id(call: Mapping[str, Any]) -> UUID:
    try:
        return UUID(str(call["id"]))
    except (KeyError, ValueError):
        raise HandoverError("call has no valid id", field="call.id") from None


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _quantity(value: Any, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _iso(value: Any, *, field: str) -> str:
    """A tz-aware ISO 8601 text from a datetime or text (FHIR dateTime needs the zone)."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise HandoverError(f"{field} is not a time with a timezone", field=field)
    return at.isoformat()
