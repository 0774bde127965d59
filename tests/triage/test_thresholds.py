"""Every threshold at its boundary: hand-written for the key values, and a sweep that checks
each vital-sign leaf in the tables fires exactly on its side of the line."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage.protocol import load_protocol
from tests.triage.cases import NOW, OK, days, hours_ago

ADULT = {**OK, "age_years": 40, "chest_pain": False}

# (answers, findings, expected acuity, rule that must / must not fire)
BOUNDARIES: list[tuple[str, dict[str, Any], dict[str, Any], int, str | None]] = [
    ("hr 181", ADULT, {"hr": 181}, 1, "VS-A-HR-I"),
    ("hr 180", ADULT, {"hr": 180}, 2, "VS-A-HR-II"),
    ("hr 150", ADULT, {"hr": 150}, 2, "VS-A-HR-II"),
    ("hr 149", ADULT, {"hr": 149}, 3, "VS-A-HR-III"),
    ("hr 100", ADULT, {"hr": 100}, 3, "VS-A-HR-III"),
    ("hr 99", ADULT, {"hr": 99}, 4, None),
    ("hr 56", ADULT, {"hr": 56}, 4, None),
    ("hr 55", ADULT, {"hr": 55}, 3, "VS-A-HR-III"),
    ("hr 50", ADULT, {"hr": 50}, 2, "VS-A-HR-II"),
    ("hr 40", ADULT, {"hr": 40}, 2, "VS-A-HR-II"),
    ("hr 39", ADULT, {"hr": 39}, 1, "VS-A-HR-I"),
    ("sbp 69", ADULT, {"sbp": 69}, 1, "VS-A-SBP-I"),
    ("sbp 70", ADULT, {"sbp": 70}, 2, "VS-A-SBP-II"),
    ("sbp 80", ADULT, {"sbp": 80}, 2, "VS-A-SBP-II"),
    ("sbp 81", ADULT, {"sbp": 81}, 3, "VS-A-SBP-III"),
    ("sbp 90", ADULT, {"sbp": 90}, 3, "VS-A-SBP-III"),
    ("sbp 91", ADULT, {"sbp": 91}, 4, None),
    # 急诊预检分诊专家共识 2018 table 1: III from 180, II above 200 (was 200 / 220)
    ("sbp 179", ADULT, {"sbp": 179}, 4, None),
    ("sbp 180", ADULT, {"sbp": 180}, 3, "VS-A-SBP-III"),
    ("sbp 200", ADULT, {"sbp": 200}, 3, "VS-A-SBP-III"),
    ("sbp 201", ADULT, {"sbp": 201}, 2, "VS-A-SBP-II"),
    ("spo2 79", ADULT, {"spo2": 79}, 1, "VS-A-SPO2-I"),
    ("spo2 80", ADULT, {"spo2": 80}, 2, "VS-A-SPO2-II"),
    ("spo2 90", ADULT, {"spo2": 90}, 2, "VS-A-SPO2-II"),
    ("spo2 91", ADULT, {"spo2": 91}, 3, "VS-A-SPO2-III"),
    ("spo2 94", ADULT, {"spo2": 94}, 3, "VS-A-SPO2-III"),
    ("spo2 95", ADULT, {"spo2": 95}, 4, None),
    ("rr 8", ADULT, {"rr": 8}, 2, "VS-A-RR-II"),
    ("rr 9", ADULT, {"rr": 9}, 4, None),
    ("rr 20", ADULT, {"rr": 20}, 4, None),
    ("rr 21", ADULT, {"rr": 21}, 3, "VS-A-RR-III"),
    ("rr 24", ADULT, {"rr": 24}, 3, "VS-A-RR-III"),
    ("rr 25", ADULT, {"rr": 25}, 2, "VS-A-RR-II"),
    ("temp 41.0", ADULT, {"temp_c": 41.0}, 3, "VS-A-TEMP-III"),
    ("temp 41.1", ADULT, {"temp_c": 41.1}, 1, "VS-A-TEMP-I"),
    ("temp 39.0", ADULT, {"temp_c": 39.0}, 4, None),
    ("temp 39.1", ADULT, {"temp_c": 39.1}, 3, "VS-A-TEMP-III"),
    ("temp 35.0", ADULT, {"temp_c": 35.0}, 2, "VS-A-TEMP-II"),
    ("temp 35.1", ADULT, {"temp_c": 35.1}, 4, None),
    ("gcs 9", ADULT, {"gcs": 9}, 2, "VS-GCS-II"),
    ("gcs 12", ADULT, {"gcs": 12}, 2, "VS-GCS-II"),
    ("gcs 13", ADULT, {"gcs": 13}, 3, "VS-GCS-III"),
    ("gcs 14", ADULT, {"gcs": 14}, 3, "VS-GCS-III"),
    ("gcs 15", ADULT, {"gcs": 15}, 4, None),
    ("avpu alert", ADULT, {"avpu": "alert"}, 4, None),
    ("avpu pain", ADULT, {"avpu": "pain"}, 1, "VS-AVPU-I"),
    ("avpu unresponsive", ADULT, {"avpu": "unresponsive"}, 1, "VS-AVPU-I"),
    ("glucose 3.0", ADULT, {"glucose_mmol": 3.0}, 3, "VS-GLUCOSE-III"),
    ("glucose 3.9", ADULT, {"glucose_mmol": 3.9}, 4, None),
    ("glucose 33.3", ADULT, {"glucose_mmol": 33.3}, 4, None),
    ("glucose 33.4", ADULT, {"glucose_mmol": 33.4}, 2, "VS-GLUCOSE-II"),
    ("pain 6", ADULT, {"pain": 6}, 4, None),
    ("pain 7", ADULT, {"pain": 7}, 2, "VS-PAIN-II"),  # severe pain is level II (was III)
    # age bands: the same HR means different things by age
    ("neonate hr 100", {**OK, "age_years": days(5)}, {"hr": 100}, 3, "PA-NEONATE"),
    ("neonate hr 99", {**OK, "age_years": days(5)}, {"hr": 99}, 2, "VS-NEO-HR-II"),
    ("neonate hr 205", {**OK, "age_years": days(5)}, {"hr": 205}, 3, None),
    ("neonate hr 206", {**OK, "age_years": days(5)}, {"hr": 206}, 2, "VS-NEO-HR-II"),
    ("neonate hr 59", {**OK, "age_years": days(5)}, {"hr": 59}, 1, "VS-NEO-HR-I"),
    (
        "day 28 is an infant",
        {**OK, "age_years": days(28), "chest_pain": False},
        {"hr": 99},
        3,
        "VS-INF-HR-III",
    ),
    ("neonate temp 35.9", {**OK, "age_years": days(5)}, {"temp_c": 35.9}, 2, "VS-NEO-TEMP-II"),
    ("neonate temp 37.9", {**OK, "age_years": days(5)}, {"temp_c": 37.9}, 3, None),
    (
        "89 days 38.0",
        {**OK, "age_years": days(89), "chest_pain": False},
        {"temp_c": 38.0},
        2,
        "VS-INF-TEMP-II",
    ),
    ("90 days 38.0", {**OK, "age_years": days(90), "chest_pain": False}, {"temp_c": 38.0}, 4, None),
    (
        "infant hr 221",
        {**OK, "age_years": 0.5, "chest_pain": False},
        {"hr": 221},
        2,
        "VS-INF-HR-II",
    ),
    (
        "infant hr 181",
        {**OK, "age_years": 0.5, "chest_pain": False},
        {"hr": 181},
        3,
        "VS-INF-HR-III",
    ),
    ("infant hr 180", {**OK, "age_years": 0.5, "chest_pain": False}, {"hr": 180}, 4, None),
    (
        "infant sbp 69",
        {**OK, "age_years": 0.5, "chest_pain": False},
        {"sbp": 69},
        2,
        "VS-INF-SBP-II",
    ),
    ("infant sbp 70", {**OK, "age_years": 0.5, "chest_pain": False}, {"sbp": 70}, 4, None),
    ("3 y sbp 75", {**OK, "age_years": 3, "chest_pain": False}, {"sbp": 75}, 2, "VS-YC-SBP-II"),
    ("3 y sbp 76", {**OK, "age_years": 3, "chest_pain": False}, {"sbp": 76}, 4, None),
    ("3 y hr 180", {**OK, "age_years": 3, "chest_pain": False}, {"hr": 180}, 3, "VS-YC-HR-III"),
    ("3 y hr 181", {**OK, "age_years": 3, "chest_pain": False}, {"hr": 181}, 2, "VS-YC-HR-II"),
    ("12 y sbp 89", {**OK, "age_years": 12, "chest_pain": False}, {"sbp": 89}, 2, "VS-CH-SBP-II"),
    ("12 y sbp 90", {**OK, "age_years": 12, "chest_pain": False}, {"sbp": 90}, 4, None),
    (
        "14 y is on adult bands",
        {**OK, "age_years": 14, "chest_pain": False},
        {"hr": 161},
        2,
        "VS-A-HR-II",
    ),
    # maternal and seizure constants
    (
        "sbp 159 at 32 w",
        {
            **OK,
            "age_years": 30,
            "pregnant": True,
            "gestation_weeks": 32,
            "vaginal_bleeding": False,
            "severe_pain": False,
        },
        {"sbp": 159, "dbp": 109},
        4,
        None,
    ),
    (
        "dbp 110 at 32 w",
        {
            **OK,
            "age_years": 30,
            "pregnant": True,
            "gestation_weeks": 32,
            "vaginal_bleeding": False,
            "severe_pain": False,
        },
        {"sbp": 150, "dbp": 110},
        2,
        "MA-SEVERE-HYPERTENSION",
    ),
    (
        "sbp 160 at 19 w",
        {
            **OK,
            "age_years": 30,
            "pregnant": True,
            "gestation_weeks": 19,
            "vaginal_bleeding": False,
            "severe_pain": False,
        },
        {"sbp": 160},
        4,
        None,
    ),
    (
        "LAMS 3",
        {**OK, "age_years": 70, "arm_weakness": True, "onset_at": hours_ago(6)},
        {"stroke": {"lams": 3}},
        3,
        "ST-SIGNS",
    ),
    (
        "LAMS 4",
        {**OK, "age_years": 70, "arm_weakness": True, "onset_at": hours_ago(6)},
        {"stroke": {"lams": 4}},
        2,
        "ST-LVO-WINDOW",
    ),
    (
        "RACE 4",
        {**OK, "age_years": 70, "arm_weakness": True, "onset_at": hours_ago(6)},
        {"stroke": {"race": 4}},
        3,
        "ST-SIGNS",
    ),
    (
        "RACE 5",
        {**OK, "age_years": 70, "arm_weakness": True, "onset_at": hours_ago(6)},
        {"stroke": {"race": 5}},
        2,
        "ST-LVO-WINDOW",
    ),
    (
        "LVO at 24 h",
        {**OK, "age_years": 70, "arm_weakness": True, "onset_at": hours_ago(24)},
        {"stroke": {"lams": 5}},
        2,
        "ST-LVO-WINDOW",
    ),
    (
        "LVO at 24 h + 1 min",
        {**OK, "age_years": 70, "arm_weakness": True, "onset_at": hours_ago(24 + 1 / 60)},
        {"stroke": {"lams": 5}},
        3,
        "ST-SIGNS",
    ),
    (
        "trauma rr 10",
        {**OK, "age_years": 30, "mechanism": "assault", "injuries": ["minor"]},
        {"rr": 10},
        4,
        None,
    ),
    (
        "trauma rr 9",
        {**OK, "age_years": 30, "mechanism": "assault", "injuries": ["minor"]},
        {"rr": 9},
        2,
        "TR-RED-PHYSIOLOGY",
    ),
    (
        "trauma spo2 90",
        {**OK, "age_years": 30, "mechanism": "assault", "injuries": ["minor"]},
        {"spo2": 90},
        2,
        "VS-A-SPO2-II",
    ),
    (
        "trauma spo2 89",
        {**OK, "age_years": 30, "mechanism": "assault", "injuries": ["minor"]},
        {"spo2": 89},
        2,
        "TR-RED-PHYSIOLOGY",
    ),
    (
        "trauma gcs motor 6",
        {**OK, "age_years": 30, "mechanism": "assault", "injuries": ["minor"]},
        {"gcs_motor": 6},
        4,
        None,
    ),
    (
        "trauma gcs motor 5",
        {**OK, "age_years": 30, "mechanism": "assault", "injuries": ["minor"]},
        {"gcs_motor": 5},
        2,
        "TR-RED-PHYSIOLOGY",
    ),
    (
        "65 y sbp 109",
        {**OK, "age_years": 65, "mechanism": "assault", "injuries": ["minor"]},
        {"sbp": 109, "hr": 70},
        2,
        "TR-RED-PHYSIOLOGY",
    ),
    (
        "64 y sbp 109",
        {**OK, "age_years": 64, "mechanism": "assault", "injuries": ["minor"]},
        {"sbp": 109, "hr": 70},
        4,
        None,
    ),
    (
        "HR = SBP is not HR > SBP",
        {**OK, "age_years": 30, "mechanism": "assault", "injuries": ["minor"]},
        {"sbp": 95, "hr": 95},
        4,
        None,
    ),
    (
        "9 y HR > SBP does not count",
        {**OK, "age_years": 9, "mechanism": "assault", "injuries": ["minor"]},
        {"sbp": 100, "hr": 110},
        4,
        None,
    ),
]


@pytest.mark.parametrize(
    ("answers", "findings", "level", "rule"),
    [b[1:] for b in BOUNDARIES],
    ids=[b[0] for b in BOUNDARIES],
)
def test_boundary(
    answers: dict[str, Any], findings: dict[str, Any], level: int, rule: str | None
) -> None:
    result = retriage(
        Answers.model_validate(answers), Findings.model_validate(findings), complaint="", now=NOW
    )
    assert int(result.acuity) == level, result.rule_ids
    if rule is not None:
        assert rule in result.rule_ids


@pytest.mark.parametrize(("minutes", "level"), [(0, 2), (270, 2), (271, 3), (60 * 24, 3)])
def test_thrombolysis_window_edge(minutes: int, level: int) -> None:
    answers = Answers(**OK, age_years=70, facial_droop=True, onset_at=hours_ago(minutes / 60))
    assert int(triage_call(answers, complaint="", now=NOW).acuity) == level


@pytest.mark.parametrize(("height", "level"), [(2.9, 4), (3.0, 4), (3.01, 3)])
def test_fall_height_edge(height: float, level: int) -> None:
    answers = Answers(
        **OK, age_years=30, mechanism="fall", fall_height_m=height, injuries=["minor"]
    )
    assert int(triage_call(answers, complaint="", now=NOW).acuity) == level


@pytest.mark.parametrize(("weeks", "preterm"), [(36.9, True), (37, False)])
def test_preterm_edge(weeks: float, preterm: bool) -> None:
    answers = Answers(**OK, age_years=30, pregnant=True, in_labour=True, gestation_weeks=weeks)
    result = triage_call(answers, complaint="", now=NOW)
    assert ("MA-PRETERM-LABOUR" in result.rule_ids) is preterm
    assert ("neonatal" in result.needs) is preterm


def _leaves(cond: dict[str, Any]) -> list[dict[str, Any]]:
    """Numeric literal leaves of a condition."""
    for key in ("all", "any"):
        if key in cond:
            return [leaf for c in cond[key] for leaf in _leaves(c)]
    ops = [op for op in ("lt", "le", "gt", "ge") if isinstance(cond.get(op), int | float)]
    return [cond] if ops and not isinstance(cond.get(ops[0]), bool) else []


SWEEP = [
    (rule.id, leaf)
    for band in load_protocol().bands
    for rule in band.rules
    for leaf in _leaves(rule.when)
    if leaf["fact"] != "age_days"
]


@pytest.mark.parametrize(("rule_id", "leaf"), SWEEP, ids=[f"{r}:{lf}" for r, lf in SWEEP])
def test_every_band_threshold_fires_on_its_side(rule_id: str, leaf: dict[str, Any]) -> None:
    (op,) = (k for k in ("lt", "le", "gt", "ge") if k in leaf)
    limit = leaf[op]
    step = 1 if leaf["fact"] in {"hr", "sbp", "spo2", "rr"} else 0.1
    inside = {"lt": limit - step, "le": limit, "gt": limit + step, "ge": limit}[op]
    outside = {"lt": limit, "le": limit + step, "gt": limit, "ge": limit - step}[op]
    band = next(b for b in load_protocol().bands if any(r.id == rule_id for r in b.rules))
    age = {"neonate": days(7), "infant": days(60), "young_child": 3, "child": 9, "adult": 40}[
        band.id
    ]
    answers = Answers(**OK, age_years=age)

    def fired(value: float) -> bool:
        cast = int(round(value)) if step == 1 else round(value, 1)
        findings = Findings.model_validate({leaf["fact"]: cast})
        return rule_id in retriage(answers, findings, complaint="", now=NOW).rule_ids

    assert fired(inside)
    # the other side may still fire through a second leaf of the same rule (e.g. "hr < 80 or
    # hr > 220"), never through this one: check only rules with one leaf on this fact
    rule = next(r for b in load_protocol().bands for r in b.rules if r.id == rule_id)
    if len([lf for lf in _leaves(rule.when) if lf["fact"] == leaf["fact"]]) == 1:
        assert not fired(outside)
