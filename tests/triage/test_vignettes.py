"""Written clinical vignettes: inputs -> level, class, pathway, destination needs, rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from dispatch.domain import Acuity, Pathway, TransportClass, VehicleKind
from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage.protocol import load_protocol
from dispatch.triage.result import TriageResult
from tests.triage.cases import NOW, OK, SCREEN_CLEAR, days, hours_ago

E, NE = TransportClass.EMERGENCY, TransportClass.NON_EMERGENCY
CP, ST, TR, MA, PA = (
    Pathway.CHEST_PAIN,
    Pathway.STROKE,
    Pathway.TRAUMA,
    Pathway.MATERNAL,
    Pathway.PAEDIATRIC,
)


@dataclass(frozen=True)
class V:
    name: str
    answers: dict[str, Any]
    level: int
    klass: TransportClass
    pathway: Pathway | None
    needs: set[str]
    rules: set[str]
    findings: dict[str, Any] | None = None
    complaint: str = ""
    teams: tuple[str, ...] | None = None
    missing: set[str] = field(default_factory=set)


VIGNETTES = [
    # --- level I presentations
    V(
        "arrest",
        {"age_years": 60, "conscious": False, "breathing": False},
        1,
        E,
        None,
        {"ed"},
        {"GEN-ARREST", "GEN-APNOEA", "GEN-UNRESPONSIVE"},
    ),
    V(
        "arrest told in text only",
        {},
        1,
        E,
        None,
        {"ed"},
        {"GEN-ARREST", "KW-NOT-BREATHING", "KW-UNCONSCIOUS"},
        complaint="老人昏迷，没有呼吸",
    ),
    V(
        "arrest in English text",
        {},
        1,
        E,
        None,
        {"ed"},
        {"GEN-ARREST"},
        complaint="Husband collapsed, unresponsive and not breathing",
    ),
    V("choking adult", {**OK, "airway_obstructed": True}, 1, E, None, {"ed"}, {"GEN-AIRWAY"}),
    V(
        "status epilepticus at 5 min",
        {**OK, "age_years": 30, "seizure": True, "seizure_duration_min": 5},
        1,
        E,
        None,
        {"ed"},
        {"GEN-STATUS-EPILEPTICUS"},
    ),
    V(
        "unresponsive, breathing",
        {"age_years": 45, "conscious": False, "breathing": True},
        1,
        E,
        None,
        {"ed"},
        {"GEN-UNRESPONSIVE"},
    ),
    # --- level II-IV general
    V(
        "seizure still going at 2 min",
        {
            **OK,
            "age_years": 30,
            "seizure": True,
            "seizure_ongoing": True,
            "seizure_duration_min": 2,
        },
        2,
        E,
        None,
        {"ed"},
        {"GEN-SEIZURE-ONGOING"},
    ),
    V(
        "seizure over at 4.9 min",
        {
            **OK,
            "age_years": 30,
            "seizure": True,
            "seizure_ongoing": False,
            "seizure_duration_min": 4.9,
        },
        3,
        E,
        None,
        {"ed"},
        {"GEN-SEIZURE"},
    ),
    V(
        "short of breath",
        {**OK, "age_years": 70, "breathing_normally": False},
        2,
        E,
        None,
        {"ed"},
        {"GEN-DYSPNOEA"},
    ),
    V(
        "dyspnoea from text",
        {"conscious": True, "breathing": True, "age_years": 70},
        2,
        E,
        None,
        {"ed"},
        {"GEN-DYSPNOEA", "KW-DYSPNOEA"},
        complaint="突然呼吸困难",
    ),
    V(
        "major bleeding",
        {**OK, "age_years": 35, "major_bleeding": True},
        2,
        E,
        None,
        {"ed"},
        {"GEN-MAJOR-BLEEDING"},
    ),
    V(
        "severe pain",  # level II since 2025.2 (CN grading: any severe pain 7-10)
        {**OK, "age_years": 35, "severe_pain": True},
        2,
        E,
        None,
        {"ed"},
        {"GEN-SEVERE-PAIN"},
    ),
    V(
        "presentation unknown",
        {**OK, "age_years": 35},
        3,
        E,
        None,
        {"ed"},
        {"GEN-PRESENTATION-UNKNOWN"},
    ),
    V(
        "nothing serious",
        {**OK, "age_years": 35, "chest_pain": False, "severe_pain": False},
        4,
        E,
        None,
        {"ed"},
        {"GEN-DEFAULT-IV"},
    ),
    V(
        "nothing known at all",
        {},
        2,
        E,
        None,
        {"ed"},
        {"GEN-APNOEA", "GEN-UNRESPONSIVE"},
        missing={"conscious", "breathing"},
    ),
    # --- chest pain
    V(
        "adult chest pain at intake",
        {**OK, "age_years": 55, "chest_pain": True},
        2,
        E,
        CP,
        {"ed", "pci"},
        {"CP-ACS", "CP-STEMI"},
        teams=(),
    ),
    V(
        "chest pain from text",
        {**OK, "age_years": 62},
        2,
        E,
        CP,
        {"ed", "pci"},
        {"CP-ACS", "KW-CHEST-PAIN"},
        complaint="胸闷两小时，出冷汗",
    ),
    V(
        "STEMI on the 12-lead",
        {**OK, "age_years": 55, "chest_pain": True},
        2,
        E,
        CP,
        {"ed", "pci"},
        {"CP-ACS", "CP-STEMI"},
        findings={"ecg": {"stemi": True}},
        teams=("cath_lab",),
    ),
    V(
        "chest pain, ECG without STEMI",
        {**OK, "age_years": 55, "chest_pain": True},
        2,
        E,
        CP,
        {"ed"},
        {"CP-ACS"},
        findings={
            "ecg": {"stemi": False, "rhythm": "sinus"},
            "hr": 80,
            "sbp": 130,
            "spo2": 97,
            "rr": 16,
        },
        teams=(),
    ),
    V(
        "chest pain, age unknown",
        {**OK, "chest_pain": True},
        2,
        E,
        CP,
        {"ed", "pci"},
        {"CP-ACS"},
        missing={"age_years"},
    ),
    V(
        "chest pain at 16",
        {**OK, "age_years": 16, "chest_pain": True},
        3,
        E,
        CP,
        {"ed"},
        {"CP-CHILD"},
    ),
    V(
        "text says chest pain, answer says no",
        {**OK, "age_years": 50, "chest_pain": False},
        4,
        E,
        None,
        {"ed"},
        {"XCHECK-KW-CHEST-PAIN", "GEN-DEFAULT-IV"},
        complaint="胸痛",
    ),
    V(
        "negated chest pain in text",
        {**OK, "age_years": 50, "severe_pain": False},
        4,
        E,
        None,
        {"ed"},
        {"GEN-DEFAULT-IV"},
        complaint="腹部不适，没有胸痛",
    ),
    V(
        "VF on the monitor",
        {"age_years": 66},
        1,
        E,
        None,
        {"ed"},
        {"GEN-ARREST-RHYTHM"},
        findings={"ecg": {"rhythm": "vf"}},
    ),
    V(
        "VT on the monitor",
        {**OK, "age_years": 66, "chest_pain": False},
        2,
        E,
        None,
        {"ed"},
        {"GEN-UNSTABLE-RHYTHM"},
        findings={"ecg": {"rhythm": "vt"}, "hr": 140},
    ),
    # --- stroke
    V(
        "facial droop 1 h ago",
        {**OK, "age_years": 70, "facial_droop": True, "onset_at": hours_ago(1)},
        2,
        E,
        ST,
        {"ed", "thrombolysis"},
        {"ST-SIGNS", "ST-LYSIS-WINDOW"},
        teams=("stroke_team",),
    ),
    V(
        "stroke at exactly 4.5 h",
        {**OK, "age_years": 70, "arm_weakness": True, "onset_at": hours_ago(4.5)},
        2,
        E,
        ST,
        {"ed", "thrombolysis"},
        {"ST-LYSIS-WINDOW"},
    ),
    V(
        "stroke at 5 h",
        {**OK, "age_years": 70, "speech_difficulty": True, "onset_at": hours_ago(5)},
        3,
        E,
        ST,
        {"ed", "thrombolysis"},
        {"ST-SIGNS"},
        teams=(),
    ),
    V(
        "stroke, onset unknown",
        {**OK, "age_years": 70, "facial_droop": True},
        2,
        E,
        ST,
        {"ed", "thrombolysis"},
        {"ST-LYSIS-WINDOW"},
        teams=(),
        missing={"onset_at"},
    ),
    V(
        "中风120 from text",
        {**OK, "age_years": 68},
        2,
        E,
        ST,
        {"ed", "thrombolysis"},
        {"KW-FACIAL-DROOP", "KW-SPEECH", "ST-SIGNS"},
        complaint="突然口角歪斜，言语不清",
    ),
    V(
        "LVO by LAMS 4 at 6 h",
        {**OK, "age_years": 75, "arm_weakness": True, "onset_at": hours_ago(6)},
        2,
        E,
        ST,
        {"ed", "thrombolysis", "thrombectomy"},
        {"ST-LVO-WINDOW"},
        findings={"stroke": {"lams": 4, "arm_weakness": True}},
        teams=("stroke_team",),
    ),
    V(
        "LAMS 3 RACE 4 at 2 h: no LVO",
        {**OK, "age_years": 75, "facial_droop": True, "onset_at": hours_ago(2)},
        2,
        E,
        ST,
        {"ed", "thrombolysis"},
        {"ST-LYSIS-WINDOW"},
        findings={"stroke": {"lams": 3, "race": 4}},
    ),
    V(
        "RACE 5 at 25 h",
        {**OK, "age_years": 75, "onset_at": hours_ago(25)},
        3,
        E,
        ST,
        {"ed", "thrombolysis"},
        {"ST-SIGNS"},
        findings={"stroke": {"race": 5, "facial_droop": True}},
    ),
    V(
        "LVO with unknown last known well",
        {**OK, "age_years": 75, "arm_weakness": True},
        2,
        E,
        ST,
        {"ed", "thrombolysis", "thrombectomy"},
        {"ST-LVO-WINDOW", "ST-LYSIS-WINDOW"},
        findings={"stroke": {"lams": 5}},
        teams=(),
        missing={"last_known_well"},
    ),
    # --- trauma
    V(
        "pedestrian thrown",
        {**OK, "age_years": 30, "mechanism": "pedestrian_struck", "high_risk_crash": True},
        3,
        E,
        TR,
        {"ed", "trauma_2"},
        {"TR-YELLOW-CRASH"},
    ),
    V(
        "crash, risk unknown",
        {**OK, "age_years": 30, "mechanism": "road_traffic"},
        3,
        E,
        TR,
        {"ed", "trauma_2"},
        {"TR-YELLOW-CRASH"},
        missing={"high_risk_crash"},
    ),
    V(
        "minor crash",
        {
            **OK,
            "age_years": 30,
            "mechanism": "road_traffic",
            "high_risk_crash": False,
            "injuries": ["minor"],
        },
        4,
        E,
        None,
        {"ed"},
        {"GEN-DEFAULT-IV"},
    ),
    V(
        "fall from 3.0 m",
        {
            **OK,
            "age_years": 30,
            "mechanism": "fall",
            "fall_height_m": 3.0,
            "injuries": ["single_fracture"],
        },
        4,
        E,
        None,
        {"ed"},
        {"GEN-DEFAULT-IV"},
    ),
    V(
        "fall from 3.1 m",
        {**OK, "age_years": 30, "mechanism": "fall", "fall_height_m": 3.1},
        3,
        E,
        TR,
        {"ed", "trauma_2"},
        {"TR-YELLOW-FALL"},
    ),
    V(
        "pelvic fracture",
        {**OK, "age_years": 40, "mechanism": "crush", "injuries": ["pelvic_fracture"]},
        2,
        E,
        TR,
        {"ed", "trauma_1"},
        {"TR-RED-INJURY"},
        teams=("trauma_team",),
    ),
    V(
        "hypotensive after crash",
        {**OK, "age_years": 40, "mechanism": "road_traffic", "high_risk_crash": True},
        2,
        E,
        TR,
        {"ed", "trauma_1"},
        {"TR-RED-PHYSIOLOGY", "TR-YELLOW-CRASH", "VS-A-SBP-III"},
        findings={"sbp": 89, "hr": 80},
    ),
    V(
        "older faller, SBP 105",
        {**OK, "age_years": 70, "mechanism": "fall", "fall_height_m": 1},
        2,
        E,
        TR,
        {"ed", "trauma_1"},
        {"TR-RED-PHYSIOLOGY"},
        findings={"sbp": 105, "hr": 80},
    ),
    V(
        "5-year-old hypotensive after fall",
        {**OK, "age_years": 5, "mechanism": "fall", "fall_height_m": 2},
        2,
        E,
        TR,
        {"ed", "trauma_1"},
        {"TR-RED-PHYSIOLOGY", "VS-CH-SBP-II"},
        findings={"sbp": 79, "hr": 110},
    ),
    V(
        "HR above SBP after assault",
        {**OK, "age_years": 30, "mechanism": "assault"},
        2,
        E,
        TR,
        {"ed", "trauma_1"},
        {"TR-RED-PHYSIOLOGY"},
        findings={"sbp": 100, "hr": 110},
    ),
    V(
        "fast breathing after fall",
        {**OK, "age_years": 30, "mechanism": "fall", "fall_height_m": 1},
        2,
        E,
        TR,
        {"ed", "trauma_1"},
        {"TR-RED-PHYSIOLOGY", "VS-A-RR-II"},
        findings={"rr": 30},
    ),
    V(
        "anticoagulated faller",
        {**OK, "age_years": 80, "mechanism": "fall", "fall_height_m": 0.5, "anticoagulated": True},
        3,
        E,
        TR,
        {"ed", "trauma_2"},
        {"TR-YELLOW-ANTICOAGULANT"},
    ),
    V(
        "low fall with head strike at 3",
        {
            **OK,
            "age_years": 3,
            "mechanism": "fall",
            "fall_height_m": 1,
            "injuries": ["head_strike"],
        },
        3,
        E,
        TR,
        {"ed", "trauma_2"},
        {"TR-YELLOW-LOW-FALL-HEAD"},
    ),
    V(
        "pregnant 24 w in a crash",
        {
            **OK,
            "age_years": 29,
            "mechanism": "road_traffic",
            "high_risk_crash": False,
            "pregnant": True,
            "gestation_weeks": 24,
            "vaginal_bleeding": False,
        },
        3,
        E,
        TR,
        {"ed", "trauma_2"},
        {"TR-YELLOW-PREGNANCY"},
    ),
    V(
        "burns and trauma",
        {**OK, "age_years": 40, "mechanism": "burn", "injuries": ["burn_with_trauma"]},
        3,
        E,
        TR,
        {"ed", "trauma_2"},
        {"TR-YELLOW-BURN"},
    ),
    V(
        "车祸 from text",
        {**OK, "age_years": 40},
        3,
        E,
        TR,
        {"ed", "trauma_2"},
        {"KW-ROAD-TRAFFIC", "TR-YELLOW-CRASH"},
        complaint="路口发生车祸",
        missing={"high_risk_crash"},
    ),
    V(
        "stab to the chest",
        {
            **OK,
            "age_years": 22,
            "mechanism": "stab_or_gunshot",
            "injuries": ["penetrating_head_neck_torso"],
        },
        2,
        E,
        TR,
        {"ed", "trauma_1"},
        {"TR-RED-INJURY"},
    ),
    # --- maternal
    V(
        "bleeding at 30 weeks",
        {**OK, "age_years": 28, "pregnant": True, "gestation_weeks": 30, "vaginal_bleeding": True},
        2,
        E,
        MA,
        {"ed", "maternal"},
        {"MA-HAEMORRHAGE"},
        teams=("obstetric",),
    ),
    V(
        "seizure in pregnancy",
        {
            "age_years": 28,
            "conscious": True,
            "breathing": True,
            "pregnant": True,
            "gestation_weeks": 34,
            "seizure": True,
            "seizure_ongoing": False,
        },
        2,
        E,
        MA,
        {"ed", "maternal"},
        {"MA-ECLAMPSIA", "GEN-SEIZURE"},
    ),
    V(
        "severe hypertension at 32 w",
        {**OK, "age_years": 33, "pregnant": True, "gestation_weeks": 32, "vaginal_bleeding": False},
        2,
        E,
        MA,
        {"ed", "maternal"},
        {"MA-SEVERE-HYPERTENSION"},
        findings={"sbp": 160, "dbp": 100},
    ),
    V(
        "preterm labour at 34 w",
        {**OK, "age_years": 26, "pregnant": True, "gestation_weeks": 34, "in_labour": True},
        2,
        E,
        MA,
        {"ed", "maternal", "neonatal"},
        {"MA-PRETERM-LABOUR"},
        teams=("obstetric", "neonatal"),
    ),
    V(
        "labour at term",
        {
            **OK,
            "age_years": 26,
            "pregnant": True,
            "gestation_weeks": 39,
            "in_labour": True,
            "vaginal_bleeding": False,
            "cord_or_limb_presenting": False,
        },
        3,
        E,
        MA,
        {"ed", "maternal"},
        {"MA-LABOUR"},
    ),
    V(
        "labour, weeks unknown",
        {**OK, "age_years": 26, "pregnant": True, "in_labour": True},
        2,
        E,
        MA,
        {"ed", "maternal", "neonatal"},
        {"MA-PRETERM-LABOUR"},
        teams=(),
        missing={"gestation_weeks"},
    ),
    V(
        "cord presenting",
        {
            **OK,
            "age_years": 31,
            "pregnant": True,
            "gestation_weeks": 38,
            "in_labour": True,
            "cord_or_limb_presenting": True,
        },
        2,
        E,
        MA,
        {"ed", "maternal", "neonatal"},
        {"MA-CORD-OR-LIMB"},
    ),
    V(
        "孕妇阴道出血 from text",
        {**OK, "age_years": 30},
        2,
        E,
        MA,
        {"ed", "maternal"},
        {"KW-PREGNANT", "KW-VAGINAL-BLEEDING", "MA-HAEMORRHAGE"},
        complaint="孕妇，阴道出血",
    ),
    # --- paediatric and neonatal
    V(
        "neonate breathing badly",
        {**OK, "age_years": days(10), "breathing_normally": False},
        2,
        E,
        PA,
        {"ed", "neonatal"},
        {"PA-NEONATE-CRITICAL", "GEN-DYSPNOEA"},
        teams=("neonatal",),
    ),
    V(
        "well-looking neonate",
        {**OK, "age_years": days(20), "chest_pain": False},
        3,
        E,
        PA,
        {"ed", "neonatal"},
        {"PA-NEONATE"},
        teams=(),
    ),
    V(
        "infant seizing",
        {
            "age_years": 0.5,
            "conscious": False,
            "breathing": True,
            "seizure": True,
            "seizure_ongoing": True,
        },
        1,
        E,
        PA,
        {"ed", "paediatric"},
        {"PA-CHILD-CRITICAL", "GEN-UNRESPONSIVE"},
    ),
    V(
        "infant HR 59",
        {**OK, "age_years": 0.5},
        1,
        E,
        PA,
        {"ed", "paediatric"},
        {"VS-INF-HR-I"},
        findings={"hr": 59},
    ),
    V(
        "neonate 38.0 C",
        {**OK, "age_years": days(14)},
        2,
        E,
        PA,
        {"ed", "neonatal"},
        {"VS-NEO-TEMP-II"},
        findings={"temp_c": 38.0},
        teams=("neonatal",),
    ),
    V(
        "8-year-old HR 161",
        {**OK, "age_years": 8, "chest_pain": False},
        2,
        E,
        PA,
        {"ed", "paediatric"},
        {"VS-CH-HR-II"},
        findings={"hr": 161},
    ),
    V(
        "2-year-old RR 40",
        {**OK, "age_years": 2, "chest_pain": False},
        3,
        E,
        None,
        {"ed"},
        {"VS-YC-RR-III"},
        findings={"rr": 40},
    ),
    V(
        "8-week-old 38.0 C",
        {**OK, "age_years": days(56)},
        2,
        E,
        PA,
        {"ed", "paediatric"},
        {"VS-INF-TEMP-II"},
        findings={"temp_c": 38.0},
    ),
    V(
        "child choking",
        {**OK, "age_years": 4, "airway_obstructed": True},
        1,
        E,
        PA,
        {"ed", "paediatric"},
        {"GEN-AIRWAY", "PA-CHILD-CRITICAL"},
    ),
    # --- non-emergency transport
    V(
        "dialysis, clear screen",
        {"age_years": 70, "booking_reason": "dialysis", **SCREEN_CLEAR},
        4,
        NE,
        None,
        set(),
        {"NE-BOOKING"},
    ),
    V(
        "discharge, screen not done",
        {"age_years": 82, "booking_reason": "discharge"},
        3,
        E,
        None,
        {"ed"},
        {"NE-UPGRADE", "NE-SCREEN-INCOMPLETE"},
        missing={
            "red_flag_new_symptoms",
            "red_flag_breathing",
            "red_flag_chest_pain",
            "red_flag_confusion",
            "red_flag_bleeding",
            "red_flag_needs_monitoring",
        },
    ),
    V(
        "transfer with chest pain",
        {
            "age_years": 60,
            "booking_reason": "transfer",
            **SCREEN_CLEAR,
            "red_flag_chest_pain": True,
        },
        2,
        E,
        CP,
        {"ed"},
        {"NE-RF-CHEST-PAIN", "NE-UPGRADE"},
    ),
    V(
        "transfer needing monitoring",
        {
            "age_years": 60,
            "booking_reason": "transfer",
            **SCREEN_CLEAR,
            "red_flag_needs_monitoring": True,
        },
        3,
        E,
        None,
        {"ed"},
        {"NE-RF-MONITORING"},
    ),
    V(
        "booking but patient unresponsive",
        {"age_years": 75, "booking_reason": "outpatient", **SCREEN_CLEAR, "conscious": False},
        1,
        E,
        None,
        {"ed"},
        {"GEN-UNRESPONSIVE", "NE-UPGRADE"},
    ),
    V(
        "mobility booking, caller mentions chest pain",
        {"age_years": 70, "booking_reason": "mobility", **SCREEN_CLEAR},
        2,
        E,
        CP,
        {"ed", "pci"},
        {"KW-CHEST-PAIN", "CP-ACS", "NE-UPGRADE"},
        complaint="去门诊，今天有点胸痛",
    ),
    # --- re-triage on adult vitals
    V(
        "AVPU V",
        {**OK, "age_years": 50, "chest_pain": False},
        2,
        E,
        None,
        {"ed"},
        {"VS-AVPU-II"},
        findings={"avpu": "voice"},
    ),
    V("GCS 8", {"age_years": 50}, 1, E, None, {"ed"}, {"VS-GCS-I"}, findings={"gcs": 8}),
    V(
        "glucose 2.9",
        {**OK, "age_years": 50, "chest_pain": False},
        2,
        E,
        None,
        {"ed"},
        {"VS-GLUCOSE-II"},
        findings={"glucose_mmol": 2.9},
    ),
    V(
        "vitals with age unknown",
        {**OK, "chest_pain": False},
        3,
        E,
        None,
        {"ed"},
        {"VS-A-HR-III"},
        findings={"hr": 120},
        missing={"age_years"},
    ),
]


@pytest.mark.parametrize("v", VIGNETTES, ids=[v.name for v in VIGNETTES])
def test_vignette(v: V) -> None:
    answers = Answers.model_validate(v.answers)
    if v.findings is None:
        result = triage_call(answers, complaint=v.complaint, now=NOW)
    else:
        findings = Findings.model_validate(v.findings)
        result = retriage(answers, findings, complaint=v.complaint, now=NOW)
    assert result.acuity == Acuity(v.level), result.to_dict()
    assert result.transport_class == v.klass
    assert result.pathway == v.pathway
    assert result.needs == frozenset(v.needs)
    assert v.rules <= set(result.rule_ids), result.rule_ids
    assert v.missing <= set(result.missing), result.missing
    if v.teams is not None:
        assert result.teams == v.teams
    # protocol.json "vehicle_kinds": I-II prefer ALS, III-IV prefer BLS; a critical-care
    # transfer (NE-RF-MONITORING) needs ALS only
    expected_kinds = (
        (VehicleKind.NET,)
        if v.klass is NE
        else (VehicleKind.ALS,)
        if "NE-RF-MONITORING" in v.rules
        else (VehicleKind.ALS, VehicleKind.BLS)
        if v.level <= 2
        else (VehicleKind.BLS, VehicleKind.ALS)
    )
    assert result.vehicle_kinds == expected_kinds


def test_at_least_sixty_vignettes_covering_every_level_pathway_and_class() -> None:
    assert len(VIGNETTES) >= 60
    assert {v.level for v in VIGNETTES} == {1, 2, 3, 4}
    assert {v.pathway for v in VIGNETTES} >= set(Pathway)
    assert {v.klass for v in VIGNETTES} == set(TransportClass)


def _fired_rule_order(result: TriageResult) -> list[tuple[int, bool, int]]:
    """(acuity, assumed, protocol position) of each protocol rule among the reasons."""
    p = load_protocol()
    ordered = [*p.rules, *p.vitals_all_ages, *(r for b in p.bands for r in b.rules)]
    position = {r.id: (i, r) for i, r in enumerate(ordered)}
    keys = []
    for reason in result.reasons:
        if reason.rule_id not in position:
            continue  # default, booking, keyword and cross-check reasons
        i, rule = position[reason.rule_id]
        assumed = reason.text.startswith("Assumed (")
        acuity = rule.unknown_acuity if assumed else rule.acuity
        assert acuity is not None
        keys.append((acuity, assumed, i))
    return keys


@pytest.mark.parametrize("v", VIGNETTES, ids=[v.name for v in VIGNETTES])
def test_reasons_most_acute_first_and_missing_once(v: V) -> None:
    # The dispatcher reads the deciding rule first: acuity, then fired before assumed, then
    # the protocol's own order; each missing question is asked once.
    answers = Answers.model_validate(v.answers)
    if v.findings is None:
        result = triage_call(answers, complaint=v.complaint, now=NOW)
    else:
        result = retriage(answers, Findings.model_validate(v.findings), complaint=v.complaint,
                          now=NOW)
    keys = _fired_rule_order(result)
    assert keys == sorted(keys), result.rule_ids
    assert len(set(result.missing)) == len(result.missing), result.missing


def test_some_vignettes_fire_several_rules() -> None:
    # the ordering test above only bites when several rules fire, some at different acuity
    several = 0
    for v in VIGNETTES:
        answers = Answers.model_validate(v.answers)
        result = (triage_call(answers, complaint=v.complaint, now=NOW) if v.findings is None
                  else retriage(answers, Findings.model_validate(v.findings),
                                complaint=v.complaint, now=NOW))
        keys = _fired_rule_order(result)
        several += len({k[0] for k in keys}) > 1
    assert several >= 5
