"""Issue 16 section 3: the clinical gaps, each against the source the table cites."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dispatch.domain import Pathway
from dispatch.errors import TriageError
from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage.facts import (
    KNOWN_FACTS,
    build_facts,
    input_name,
    qsofa,
    sbp_floor,
    shock_index,
    stemi_from_leads,
)
from dispatch.triage.inputs import Avpu
from dispatch.triage.protocol import load_protocol
from dispatch.triage.result import TriageResult
from tests.triage.cases import NOW, OK

ADULT = {**OK, "age_years": 60, "chest_pain": False}


def crew(answers: dict[str, Any], findings: dict[str, Any]) -> TriageResult:
    return retriage(Answers.model_validate(answers), Findings.model_validate(findings),
                    complaint="", now=NOW)


def intake(answers: dict[str, Any]) -> TriageResult:
    return triage_call(Answers.model_validate(answers), complaint="", now=NOW)


def cited(rule_id: str, key: str) -> None:
    """The rule's reason carries the citation of `key` from the sources table."""
    p = load_protocol()
    every = (*p.rules, *p.vitals_all_ages, *(r for b in p.bands for r in b.rules))
    rules = {r.id: r for r in every}
    assert p.sources[key] in rules[rule_id].source


# --- shock index and qSOFA (non-trauma adult)

def test_shock_index_one_raises_a_non_trauma_adult_to_level_ii() -> None:
    r = crew(ADULT, {"sbp": 88, "hr": 130})  # SI 1.48; the bands alone give III
    assert int(r.acuity) == 2 and "GEN-SHOCK-INDEX" in r.rule_ids
    cited("GEN-SHOCK-INDEX", "SHOCK_INDEX")


@pytest.mark.parametrize(("hr", "sbp", "fires"), [(100, 100, True), (99, 100, False)])
def test_shock_index_boundary(hr: int, sbp: int, fires: bool) -> None:
    assert ("GEN-SHOCK-INDEX" in crew(ADULT, {"sbp": sbp, "hr": hr}).rule_ids) is fires


def test_shock_index_is_not_applied_to_trauma_or_children() -> None:
    # trauma has its own HR > SBP criterion (TR-RED-PHYSIOLOGY); children their PALS bands
    trauma = {**ADULT, "mechanism": "assault", "injuries": ["minor"]}
    assert "GEN-SHOCK-INDEX" not in crew(trauma, {"sbp": 95, "hr": 95}).rule_ids
    child = {**OK, "age_years": 8, "chest_pain": False}
    assert "GEN-SHOCK-INDEX" not in crew(child, {"sbp": 100, "hr": 110}).rule_ids


def test_qsofa_three_is_level_ii() -> None:
    # febrile, confused, breathing fast, SBP 98: each vital alone is level III at most
    r = crew(ADULT, {"rr": 24, "sbp": 98, "hr": 96, "gcs": 14, "temp_c": 39.3})
    assert int(r.acuity) == 2 and "GEN-QSOFA" in r.rule_ids
    cited("GEN-QSOFA", "QSOFA_2016")


@pytest.mark.parametrize(
    ("findings", "fires"),
    [
        ({"rr": 22, "sbp": 100}, True),  # two criteria, mentation unknown: already 2
        ({"rr": 22, "avpu": "voice"}, True),
        ({"rr": 21, "sbp": 100, "gcs": 15}, False),  # one point
        ({"rr": 22}, False),  # one point, the rest unknown: not assumed
    ],
)
def test_qsofa_points(findings: dict[str, Any], fires: bool) -> None:
    assert ("GEN-QSOFA" in crew(ADULT, findings).rule_ids) is fires


# --- severe pain

def test_severe_pain_is_level_ii() -> None:
    assert int(intake({**ADULT, "severe_pain": True}).acuity) == 2
    r = crew(ADULT, {"pain": 7})
    assert int(r.acuity) == 2 and "VS-PAIN-II" in r.rule_ids
    cited("VS-PAIN-II", "CONSENSUS_2018_T1")


# --- field triage: unable to follow commands

@pytest.mark.parametrize(
    ("findings", "red"),
    [({"gcs": 9}, True), ({"gcs": 13}, True), ({"gcs": 14}, False),
     ({"avpu": "pain"}, True), ({"avpu": "voice"}, False)],
)
def test_field_triage_reads_total_gcs_and_avpu(findings: dict[str, Any], red: bool) -> None:
    crash = {**OK, "age_years": 30, "mechanism": "road_traffic", "high_risk_crash": False}
    r = crew(crash, findings)
    assert ("TR-RED-PHYSIOLOGY" in r.rule_ids) is red
    if red:
        assert "trauma_1" in r.needs and r.pathway is Pathway.TRAUMA
    cited("TR-RED-PHYSIOLOGY", "FIELD_TRIAGE_2011")


# --- entrapment and penetrating injury

def test_entrapment_is_level_ii_on_the_trauma_pathway() -> None:
    r = intake({**OK, "age_years": 40, "mechanism": "road_traffic", "entrapped": True})
    assert int(r.acuity) == 2 and r.pathway is Pathway.TRAUMA
    assert "TR-ENTRAPMENT" in r.rule_ids and "trauma_2" in r.needs


def test_stabbing_with_site_unknown_is_assumed_red() -> None:
    r = intake({**OK, "age_years": 25, "mechanism": "stab_or_gunshot"})
    assert int(r.acuity) == 2 and r.pathway is Pathway.TRAUMA and "trauma_1" in r.needs
    assert "injuries" in r.missing
    # told it is a minor cut of the hand: no longer assumed
    minor = intake({**OK, "age_years": 25, "mechanism": "stab_or_gunshot",
                    "injuries": ["minor"]})
    assert int(minor.acuity) == 4


def test_penetrating_proximal_limb_is_red() -> None:
    r = intake({**OK, "age_years": 25, "mechanism": "stab_or_gunshot",
                "injuries": ["penetrating_proximal_extremity"]})
    assert int(r.acuity) == 2 and "TR-RED-INJURY" in r.rule_ids
    assert r.teams == ("trauma_team",)


# --- STEMI from the leads

@pytest.mark.parametrize(
    ("leads", "stemi"),
    [({"II", "III", "aVF"}, True), ({"v2", "v3"}, True), ({"I", "aVL"}, True),
     ({"V1", "V4"}, False), ({"II", "V2"}, False), ({"aVR"}, False), (set(), False)],
)
def test_stemi_from_contiguous_leads(leads: set[str], stemi: bool) -> None:
    cp = {**OK, "age_years": 58, "chest_pain": True}
    r = crew(cp, {"ecg": {"rhythm": "sinus", "st_elevation_leads": sorted(leads)}})
    assert ("pci" in r.needs) is stemi
    assert (r.teams == ("cath_lab",)) is stemi


def test_an_explicit_stemi_answer_stands_over_the_leads() -> None:
    cp = {**OK, "age_years": 58, "chest_pain": True}
    r = crew(cp, {"ecg": {"stemi": False, "st_elevation_leads": ["V2", "V3"]}})
    assert "pci" not in r.needs


# --- maternal pathway

def test_pregnant_with_major_bleeding_goes_maternal_without_vaginal_answer() -> None:
    r = intake({**OK, "age_years": 29, "pregnant": True, "major_bleeding": True})
    assert r.pathway is Pathway.MATERNAL and "MA-HAEMORRHAGE" in r.rule_ids
    assert "maternal" in r.needs and r.teams == ("obstetric",)


def test_in_labour_without_the_pregnant_answer_goes_maternal() -> None:
    r = intake({**OK, "age_years": 29, "in_labour": True, "gestation_weeks": 39,
                "cord_or_limb_presenting": False})
    assert r.pathway is Pathway.MATERNAL and "MA-LABOUR" in r.rule_ids
    preterm = intake({**OK, "age_years": 29, "in_labour": True, "gestation_weeks": 32})
    assert int(preterm.acuity) == 2 and "neonatal" in preterm.needs


# --- child heart-rate bands (PALS normal ranges)

def test_fifteen_month_old_with_hr_150_is_not_level_ii() -> None:
    toddler = {**OK, "age_years": 1.25, "chest_pain": False}
    r = crew(toddler, {"hr": 150})
    assert int(r.acuity) == 3 and "VS-YC-HR-III" in r.rule_ids
    assert r.pathway is None


# --- adult SBP cut-offs re-checked against the CN consensus table

def test_adult_sbp_bands_follow_the_cn_consensus_table() -> None:
    assert int(crew(ADULT, {"sbp": 210}).acuity) == 2
    assert int(crew(ADULT, {"sbp": 185}).acuity) == 3
    cited("VS-A-SBP-II", "CONSENSUS_2018_T1")


def test_field_triage_hypotension_with_age_not_yet_known() -> None:
    # the vital-sign bands read an unknown age as adult; the red criteria now do too
    crash = {**OK, "mechanism": "road_traffic", "high_risk_crash": False}
    r = crew(crash, {"sbp": 80, "hr": 130})
    assert "TR-RED-PHYSIOLOGY" in r.rule_ids and "trauma_1" in r.needs
    assert "TR-RED-PHYSIOLOGY" not in crew(crash, {"sbp": 95, "hr": 90}).rule_ids


# --- the derived facts, read directly (dispatch.triage.facts)

FLOOR = load_protocol().sbp_floor_bands


@pytest.mark.parametrize(("age", "floor"), [
    (None, None), (0, 70), (3.7, 76), (9.9, 88), (10, 90), (64.9, 90), (65, 110), (100, 110),
])
def test_the_systolic_floor_by_age(age: float | None, floor: float | None) -> None:
    # 70 + 2 x whole years below 10, 90 below 65, 110 from 65 (protocol.json)
    assert sbp_floor(age_years=age, bands=FLOOR) == floor
    # an age past every band's limit has no floor
    assert sbp_floor(age_years=70, bands=((10.0, 70.0, 2.0),)) is None


@pytest.mark.parametrize(("facts", "points"), [
    ({}, None),
    ({"rr": 22, "sbp": 100, "gcs": 14}, 3),
    ({"rr": 21, "sbp": 101, "gcs": 15}, 0),
    ({"rr": 22}, None),  # one met, two unknown: could still reach 2
    ({"rr": 22, "sbp": 100}, 2),  # the alert is reached whatever mentation is
    ({"rr": 21, "sbp": 101}, 0),  # two not met: 2 is out of reach
    ({"rr": 21, "gcs": 15}, 0),  # one unknown cannot reach 2
    ({"rr": 21, "gcs": 14}, None),  # one met and one unknown can
    ({"rr": 22, "sbp": 101, "avpu": Avpu.ALERT}, 1),
    ({"rr": 22, "sbp": 101, "avpu": Avpu.VOICE}, 2),
    ({"rr": 22, "sbp": 101, "avpu": "voice"}, 2),
    ({"rr": 22, "sbp": 101, "conscious": False}, 2),
    ({"rr": 22, "sbp": 101, "conscious": True}, None),
    ({"rr": 22, "sbp": 101, "gcs": 15, "avpu": Avpu.PAIN, "conscious": False}, 1),
    ({"sbp": 101, "avpu": Avpu.ALERT, "conscious": False}, 0),
])
def test_qsofa_points_or_none_while_the_alert_is_open(facts: dict[str, Any],
                                                      points: int | None) -> None:
    assert qsofa(facts, alert=2) == points


def test_qsofa_at_another_alert() -> None:
    assert qsofa({"rr": 22}, alert=1) == 1
    assert qsofa({"rr": 22, "sbp": 100}, alert=3) is None


@pytest.mark.parametrize(("hr", "sbp", "index"), [
    (120, 80, 1.5), (None, 80, None), (120, None, None), (120, 0, None), (0, 80, 0.0)])
def test_the_shock_index(hr: float | None, sbp: float | None, index: float | None) -> None:
    assert shock_index(hr, sbp) == index


def test_stemi_leads_are_matched_case_and_space_blind() -> None:
    groups = load_protocol().lead_groups
    assert stemi_from_leads([" II", "avf"], groups=groups) is True
    assert stemi_from_leads(["II"], groups=groups) is False
    assert stemi_from_leads(["II", "V1"], groups=groups) is False


@pytest.mark.parametrize(("fact", "with_findings", "asked"), [
    ("age_days", False, "age_years"), ("sbp_floor_age", True, "age_years"),
    ("shock_index", True, None), ("qsofa", True, None),
    ("hours_since_lkw", True, "last_known_well"), ("hours_since_lkw", False, "onset_at"),
    ("lams", True, "stroke.lams"), ("lams", False, None), ("hr", True, "hr"),
    ("stemi", True, "ecg.stemi"), ("chest_pain", False, "chest_pain"),
])
def test_the_input_asked_for_a_fact(fact: str, with_findings: bool, asked: str | None) -> None:
    assert input_name(fact, with_findings=with_findings) == asked


def _facts(answers: dict[str, Any], findings: dict[str, Any] | None = None,
           **kwargs: Any) -> dict[str, Any]:
    return build_facts(answers=Answers.model_validate(answers),
                       findings=None if findings is None else Findings.model_validate(findings),
                       now=NOW, floor_bands=FLOOR, future_tolerance_s=300,
                       lead_groups=load_protocol().lead_groups, **kwargs)


def test_findings_override_answers_and_text_fills_only_the_unmeasured() -> None:
    facts = _facts({"age_years": 1 / 365.25, "facial_droop": True, "mechanism": "fall"},
                   {"hr": 120, "sbp": 80, "mechanism": "assault", "injuries": ["minor"],
                    "stroke": {"facial_droop": False, "lams": 4, "race": 6},
                    "ecg": {"rhythm": "vf", "st_elevation_leads": [" II", "avf"]}},
                   text_vitals={"hr": 50, "rr": 30})
    assert {k: v for k, v in facts.items() if v is not None} == {
        "age_years": 1 / 365.25, "facial_droop": False, "mechanism": "assault",
        "injuries": frozenset({"minor"}), "hr": 120, "sbp": 80, "rr": 30, "stemi": True,
        "ecg_rhythm": "vf", "lams": 4, "race": 6, "shock_index": 1.5, "qsofa": 2,
        "age_days": 1.0, "sbp_floor_age": 70}
    assert set(facts) >= set(KNOWN_FACTS) - {"card", "cards"}
    # an explicit STEMI answer stands over the leads; a finding left out keeps the answer
    kept = _facts({"facial_droop": True}, {"ecg": {"stemi": False, "st_elevation_leads":
                                                   ["II", "III"]}, "stroke": {"lams": 2}})
    assert (kept["stemi"], kept["facial_droop"], kept["lams"]) == (False, True, 2)
    assert _facts({}, {"ecg": {"rhythm": "vf"}})["stemi"] is None
    assert _facts({}, {}, qsofa_alert=1, text_vitals={"rr": 22})["qsofa"] == 1


@pytest.mark.parametrize(("onset_s", "hours"), [
    (0, 0.0), (-300, 0.0), (5400, 1.5)])
def test_hours_since_onset(onset_s: float, hours: float) -> None:
    onset = NOW - timedelta(seconds=onset_s)
    assert _facts({"onset_at": onset})["hours_since_lkw"] == hours
    assert _facts({}, {"last_known_well": onset})["hours_since_lkw"] == hours
    # the crew's last known well beats the call-taker's onset
    later = {"onset_at": NOW - timedelta(hours=9)}
    assert _facts(later, {"last_known_well": onset})["hours_since_lkw"] == hours
    assert _facts(later, {})["hours_since_lkw"] == 9.0


@pytest.mark.parametrize(("answers", "findings", "field"), [
    ({"onset_at": NOW + timedelta(seconds=301)}, None, "onset_at"),
    ({}, {"last_known_well": NOW + timedelta(seconds=301)}, "last_known_well"),
])
def test_an_onset_past_the_tolerance_is_refused(answers: dict[str, Any],
                                                findings: dict[str, Any] | None,
                                                field: str) -> None:
    with pytest.raises(TriageError) as err:
        _facts(answers, findings)
    assert (err.value.field, err.value.message) == (
        field, "onset / last known well is in the future")


def test_every_fact_is_present_and_age_days_keeps_fractions() -> None:
    facts = _facts({"age_years": 1.5 / 365.25})
    assert set(facts) == set(KNOWN_FACTS) - {"card", "cards"}
    assert facts["age_days"] == 1.5
    # to a millionth of a day, which keeps n / 365.25 years at n days exactly
    assert _facts({"age_years": 1.2345678 / 365.25})["age_days"] == 1.234568
    assert facts["stemi"] is facts["lams"] is facts["ecg_rhythm"] is None
