"""Crew ECG, stroke and injury frames as FHIR R5 resources (pure; used by fhir.build_bundle).

The mapping follows IHE PCC mobile Paramedicine Summary of Care (mPSC, ihe.pcc.mpsc,
github.com/IHE/PCC.PCS) where it names the element:
- ECG: an Observation "Type of arrhythmia on EKG" (LOINC 76281-5, profile
  IHE.PCC.Type.Of.Arrhythmia.EKG) valued with the SNOMED CT rhythm; each lead with ST
  elevation is a component "ST elevation" (SNOMED CT 76388001, DICOM CID 3230).
- Stroke scales: an Observation per scale (LAMS, RACE, BE-FAST) with the mPSC stroke
  components "Stroke scale type" (LOINC 67521-5, IHE.PCS.StrokeScaleTypeUSA) and, for a
  screen, "Stroke scale score" positive/negative (LOINC 67520-7, answers LL1846-6).
  LOINC has no code for the LAMS / RACE totals: the Observation code is ours. The mPSC
  draft has type and score as two Observations with no component and no encounter; we
  carry the type as a component so a score never travels apart from its scale, and the
  category is "survey" (an assessment instrument) rather than the draft's "vital-signs",
  which FHIR R5 ties to its vital-signs profile and that profile's codes.
- Last known well: Observation valueDateTime (profile Last.Known.Well; mPSC leaves its
  code open, so it is ours).
- Injuries: one Condition per injury, SNOMED CT injury code and body site (the mPSC exam
  profiles require bodySite 1..1), laterality in the body site's text; the mechanism as a
  "Primary injury cause" Observation (LOINC 69543-7, PCS.Primary.Injury.Cause.Observation)
  with an ICD-10 external cause where one fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dispatch.errors import HandoverError

__all__ = [
    "BEFAST_ITEMS",
    "BODY_SITES",
    "INJURY_CODES",
    "RHYTHM_CODES",
    "STROKE_SCALE_SYSTEM",
    "ecg_observations",
    "injury_resources",
    "stroke_observations",
]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
# Our systems for what LOINC / SNOMED CT do not name: stroke scale totals, ECG leads.
STROKE_SCALE_SYSTEM = "urn:dispatch:stroke-scale"
ECG_LEAD_SYSTEM = "urn:dispatch:ecg-lead"
FINDING_SYSTEM = "urn:dispatch:finding"
INJURY_KIND_SYSTEM = "urn:dispatch:injury-kind"

ECG_RHYTHM = ("76281-5", "Type of arrhythmia on EKG")
ST_ELEVATION = ("76388001", "ST segment elevation")
STROKE_TYPE = ("67521-5", "Stroke scale type")
STROKE_SCORE = ("67520-7", "Stroke scale score")
INJURY_CAUSE = ("69543-7", "Primary injury cause")
_POSITIVE = ("LA6576-8", "Positive")
_NEGATIVE = ("LA6577-6", "Negative")

# messages.EcgRhythm -> SNOMED CT (codes of DICOM CID 3230 "ECG Finding" where it has them).
RHYTHM_CODES: dict[str, tuple[str, str]] = {
    "sinus": ("426783006", "Sinus rhythm"),
    "sinus_tachycardia": ("427084000", "Sinus tachycardia"),
    "sinus_bradycardia": ("426177001", "Sinus bradycardia"),
    "atrial_fibrillation": ("49436004", "Atrial fibrillation"),
    "atrial_flutter": ("5370000", "Atrial flutter"),
    "svt": ("6456007", "Supraventricular tachycardia"),
    "vt": ("25569003", "Ventricular tachycardia"),
    "vf": ("71908006", "Ventricular fibrillation"),
    "av_block_2": ("195042002", "Second degree atrioventricular block"),
    "av_block_3": ("27885002", "Third degree atrioventricular block"),
    "asystole": ("397829000", "Asystole"),
    "pea": ("234172002", "Electromechanical dissociation"),
    "paced": ("10370003", "Rhythm from artificial pacing"),
}

# messages.BodyRegion -> SNOMED CT body structure (head, face, neck as in the mPSC exams).
BODY_SITES: dict[str, tuple[str, str]] = {
    "head": ("69536005", "Head structure"),
    "face": ("89545001", "Face structure"),
    "neck": ("45048000", "Neck structure"),
    "chest": ("51185008", "Thoracic structure"),
    "abdomen": ("113345001", "Abdominal structure"),
    "back": ("77568009", "Back structure, excluding buttocks"),
    "spine": ("421060004", "Structure of vertebral column"),
    "pelvis": ("12921003", "Pelvic structure"),
    "upper_limb": ("53120007", "Upper limb structure"),
    "lower_limb": ("61685007", "Lower limb structure"),
    "external": ("39937001", "Skin structure"),
}
_SIDE_TEXT = {"left": "left", "right": "right", "bilateral": "bilateral", "midline": "midline"}

# messages.InjuryKind -> SNOMED CT disorder. Kinds without a specific concept (deformity,
# penetrating, other) keep the crew's word in the text beside the nearest parent concept.
INJURY_CODES: dict[str, tuple[str, str]] = {
    "laceration": ("312608009", "Laceration - injury"),
    "abrasion": ("399963005", "Abrasion"),
    "contusion": ("125667009", "Contusion"),
    "suspected_fracture": ("125605004", "Fracture of bone"),
    "open_fracture": ("397181002", "Open fracture"),
    "deformity": ("417746004", "Traumatic injury"),
    "burn": ("125666000", "Burn"),
    "penetrating": ("125643001", "Open wound"),
    "amputation": ("262595009", "Traumatic amputation"),
    "haemorrhage": ("131148009", "Bleeding"),
    "other": ("417746004", "Traumatic injury"),
}

# Crew mechanism (findings._MECHANISMS) -> ICD-10 external cause, where one block fits.
_MECHANISM_ICD10: dict[str, tuple[str, str]] = {
    "road_traffic": ("V89.2", "Person injured in unspecified motor-vehicle accident, traffic"),
    "fall": ("W19", "Unspecified fall"),
    "assault": ("Y09", "Assault by unspecified means"),
    "crush": ("W23", "Caught, crushed, jammed or pinched in or between objects"),
}

# BE-FAST items in the frame (messages.BeFast) and what each tests.
BEFAST_ITEMS: dict[str, str] = {
    "balance": "Balance loss",
    "eyes": "Vision loss",
    "face": "Facial droop",
    "arm": "Arm weakness",
    "speech": "Speech difficulty",
}
_SCALES: dict[str, tuple[str, str]] = {
    "lams": ("Los Angeles Motor Scale (LAMS) total score", "LAMS"),
    "race": ("Rapid Arterial oCclusion Evaluation (RACE) total score", "RACE"),
    "befast": ("BE-FAST stroke screen", "BE-FAST"),
}

# (resource type, key) -> stable id; see fhir._Ids.
IdOf = Callable[[str, str], str]


def ecg_observations(
    ecgs: Sequence[Mapping[str, Any]], *, id_of: IdOf, subject: dict[str, str],
    encounter: dict[str, str],
) -> list[dict[str, Any]]:
    """One Observation per ECG the crew read, oldest first (serial ECGs all matter)."""
    out = []
    for i, frame in enumerate(ecgs):
        rhythm = str(frame.get("rhythm") or "other")
        value: dict[str, Any] = {"text": rhythm.replace("_", " ")}
        if rhythm in RHYTHM_CODES:
            value = _concept(SNOMED, *RHYTHM_CODES[rhythm])
        obs = _observation(
            id_of("Observation", f"ecg/{i}"), "procedure", _concept(LOINC, *ECG_RHYTHM),
            at=_iso(frame.get("at"), field=f"ecg[{i}].at"), subject=subject,
            encounter=encounter)
        obs["valueCodeableConcept"] = value
        components = [
            {"code": _concept(SNOMED, *ST_ELEVATION),
             "valueCodeableConcept": {
                 "coding": [{"system": ECG_LEAD_SYSTEM, "code": str(lead)}],
                 "text": str(lead)}}
            for lead in frame.get("st_elevation_leads") or ()
        ]
        if components:
            obs["component"] = components
        if frame.get("stemi"):
            obs["interpretation"] = [{"text": "STEMI"}]
        if frame.get("image_ref"):
            obs["note"] = [{"text": f"ECG image: {frame['image_ref']}"}]
        out.append(obs)
    return out


def stroke_observations(
    strokes: Sequence[Mapping[str, Any]], *, id_of: IdOf, subject: dict[str, str],
    encounter: dict[str, str],
) -> list[dict[str, Any]]:
    """LAMS, RACE and BE-FAST Observations of every stroke frame, and last known well."""
    out: list[dict[str, Any]] = []
    last_known_well = None
    for i, frame in enumerate(strokes):
        at = _iso(frame.get("at"), field=f"stroke[{i}].at")
        for scale in ("lams", "race"):
            if frame.get(scale) is None:
                continue
            obs = _scale(id_of, i, scale, at=at, subject=subject, encounter=encounter)
            obs["valueInteger"] = int(frame[scale])
            out.append(obs)
        befast = frame.get("befast")
        if befast:
            out.append(_befast(id_of, i, befast, at=at, subject=subject, encounter=encounter))
        if frame.get("last_known_well") is not None:
            last_known_well = (i, frame["last_known_well"], at)
    if last_known_well is not None:
        i, value, at = last_known_well
        obs = _observation(
            id_of("Observation", "last_known_well"), "exam",
            {"coding": [{"system": FINDING_SYSTEM, "code": "last_known_well",
                         "display": "Last known well"}], "text": "Last known well"},
            at=at, subject=subject, encounter=encounter)
        obs["valueDateTime"] = _iso(value, field=f"stroke[{i}].last_known_well")
        out.append(obs)
    return out


def injury_resources(
    frame: Mapping[str, Any] | None, *, id_of: IdOf, subject: dict[str, str],
    encounter: dict[str, str],
) -> list[dict[str, Any]]:
    """A Condition per injury of the latest injuries frame (each frame replaces the list),
    and the mechanism as a primary injury cause Observation."""
    if frame is None:
        return []
    at = _iso(frame.get("at"), field="injuries.at")
    out: list[dict[str, Any]] = []
    for i, injury in enumerate(frame.get("injuries") or ()):
        region, kind = str(injury.get("region")), str(injury.get("kind"))
        if region not in BODY_SITES:
            raise HandoverError(f"unknown body region {region!r}",
                                field=f"injuries[{i}].region")
        if kind not in INJURY_CODES:
            raise HandoverError(f"unknown injury kind {kind!r}", field=f"injuries[{i}].kind")
        # SNOMED CT for the receiving system, the crew's own word beside it.
        code = _concept(SNOMED, *INJURY_CODES[kind])
        code["coding"].append({"system": INJURY_KIND_SYSTEM, "code": kind})
        code["text"] = kind.replace("_", " ")
        site = _concept(SNOMED, *BODY_SITES[region])
        side = _SIDE_TEXT.get(str(injury.get("side") or ""))
        site["text"] = " ".join(p for p in (side, region.replace("_", " ")) if p)
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "id": id_of("Condition", f"injury/{i}"),
            "clinicalStatus": _concept(CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": _concept(CONDITION_VER, "provisional", "Provisional"),
            "category": [_concept(CONDITION_CATEGORY, "encounter-diagnosis",
                                  "Encounter Diagnosis")],
            "code": code,
            "bodySite": [site],
            "subject": subject,
            "encounter": encounter,
            "recordedDate": at,
        }
        if injury.get("note"):
            condition["note"] = [{"text": str(injury["note"])}]
        out.append(condition)
    mechanism = str(frame.get("mechanism") or "").strip()
    if mechanism:
        key = mechanism.lower().replace(" ", "_")
        value: dict[str, Any] = {"text": mechanism}
        if key in _MECHANISM_ICD10:
            value = _concept(ICD10, *_MECHANISM_ICD10[key])
            value["text"] = mechanism
        obs = _observation(id_of("Observation", "injury_cause"), "exam",
                           _concept(LOINC, *INJURY_CAUSE), at=at, subject=subject,
                           encounter=encounter)
        obs["valueCodeableConcept"] = value
        out.append(obs)
    return out


# ---------------------------------------------------------------------------- helpers


def _scale(
    id_of: IdOf, index: int, scale: str, *, at: str, subject: dict[str, str],
    encounter: dict[str, str],
) -> dict[str, Any]:
    display, type_text = _SCALES[scale]
    obs = _observation(
        id_of("Observation", f"stroke/{index}/{scale}"), "survey",
        {"coding": [{"system": STROKE_SCALE_SYSTEM, "code": scale, "display": display}],
         "text": display},
        at=at, subject=subject, encounter=encounter)
    obs["component"] = [{"code": _concept(LOINC, *STROKE_TYPE),
                         "valueCodeableConcept": {
                             "coding": [{"system": STROKE_SCALE_SYSTEM, "code": scale,
                                         "display": type_text}],
                             "text": type_text}}]
    return obs


def _befast(
    id_of: IdOf, index: int, befast: Mapping[str, Any], *, at: str,
    subject: dict[str, str], encounter: dict[str, str],
) -> dict[str, Any]:
    obs = _scale(id_of, index, "befast", at=at, subject=subject, encounter=encounter)
    tested = {k: v for k, v in befast.items() if k in BEFAST_ITEMS and v is not None}
    # A screen is positive on any deficit and negative only when every item was tested.
    if any(tested.values()):
        result = _concept(LOINC, *_POSITIVE)
    elif len(tested) == len(BEFAST_ITEMS):
        result = _concept(LOINC, *_NEGATIVE)
    else:
        result = {"text": "Non-conclusive"}
    obs["valueCodeableConcept"] = result
    obs["component"].append({"code": _concept(LOINC, *STROKE_SCORE),
                             "valueCodeableConcept": result})
    for item, label in BEFAST_ITEMS.items():
        if item in tested:
            obs["component"].append({
                "code": {"coding": [{"system": STROKE_SCALE_SYSTEM, "code": f"befast.{item}",
                                     "display": label}], "text": label},
                "valueBoolean": bool(tested[item])})
    return obs


def _observation(
    resource_id: str, category: str, code: dict[str, Any], *, at: str,
    subject: dict[str, str], encounter: dict[str, str],
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": [_concept(OBS_CATEGORY, category, category.capitalize())],
        "code": code,
        "subject": subject,
        "encounter": encounter,
        "effectiveDateTime": at,
    }


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _iso(value: Any, *, field: str) -> str:
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise HandoverError(f"{field} is not a time with a timezone", field=field)
    return at.isoformat()
