"""Properties: a danger sign never lowers the level; answer order never matters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.triage import Answers, Findings, Injury, Mechanism, retriage, triage_call
from tests.triage.cases import NOW

TRISTATE = st.sampled_from([None, True, False])
BOOL_FIELDS = [
    "conscious",
    "breathing",
    "breathing_normally",
    "airway_obstructed",
    "chest_pain",
    "facial_droop",
    "arm_weakness",
    "speech_difficulty",
    "balance_loss",
    "vision_loss",
    "pregnant",
    "vaginal_bleeding",
    "in_labour",
    "cord_or_limb_presenting",
    "seizure",
    "seizure_ongoing",
    "major_bleeding",
    "high_risk_crash",
    "anticoagulated",
    "severe_pain",
    "red_flag_new_symptoms",
    "red_flag_breathing",
    "red_flag_chest_pain",
    "red_flag_confusion",
    "red_flag_bleeding",
    "red_flag_needs_monitoring",
]

# each of these, on its own, fires a rule at level III or above
DANGER_SIGNS: list[tuple[str, Any]] = [
    ("conscious", False),
    ("breathing", False),
    ("breathing_normally", False),
    ("airway_obstructed", True),
    ("chest_pain", True),
    ("facial_droop", True),
    ("arm_weakness", True),
    ("speech_difficulty", True),
    ("balance_loss", True),
    ("vision_loss", True),
    ("seizure", True),
    ("major_bleeding", True),
    ("severe_pain", True),
    ("red_flag_chest_pain", True),
    ("red_flag_breathing", True),
    ("red_flag_confusion", True),
    ("red_flag_new_symptoms", True),
    ("red_flag_needs_monitoring", True),
    ("seizure_duration_min", 10.0),
]

_extras = st.fixed_dictionaries(
    {},
    optional={
        "age_years": st.one_of(
            st.none(), st.floats(0, 100), st.sampled_from([0.01, 0.5, 3, 9, 70])
        ),
        "onset_hours": st.one_of(st.none(), st.floats(0, 30)),
        "gestation_weeks": st.one_of(st.none(), st.floats(0, 42)),
        "mechanism": st.one_of(st.none(), st.sampled_from(list(Mechanism))),
        "fall_height_m": st.one_of(st.none(), st.floats(0, 20)),
        "injuries": st.one_of(st.none(), st.frozensets(st.sampled_from(list(Injury)), max_size=3)),
        "booking_reason": st.one_of(st.none(), st.sampled_from(["transfer", "dialysis"])),
        "seizure_duration_min": st.one_of(st.none(), st.floats(0, 30)),
    },
)
# sparse cards (a few answers given) so a single danger sign is often the only one
_primary = st.sampled_from(
    [
        {},
        {"conscious": True, "breathing": True},
        {"conscious": True, "breathing": True, "breathing_normally": True},
    ]
)
answers_st = st.builds(
    lambda primary, bools, extras: {**primary, **bools, **extras},
    _primary,
    st.dictionaries(st.sampled_from(BOOL_FIELDS), TRISTATE, max_size=4),
    _extras,
)
findings_st = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "hr": st.integers(0, 250),
            "sbp": st.integers(40, 250),
            "dbp": st.integers(20, 150),
            "spo2": st.integers(50, 100),
            "rr": st.integers(0, 70),
            "temp_c": st.floats(30, 43),
            "gcs": st.integers(3, 15),
            "avpu": st.sampled_from(["alert", "voice", "pain", "unresponsive"]),
            "glucose_mmol": st.floats(1, 40),
            "pain": st.integers(0, 10),
            "stroke": st.fixed_dictionaries(
                {}, optional={"lams": st.integers(0, 5), "race": st.integers(0, 9)}
            ),
            "ecg": st.fixed_dictionaries({}, optional={"stemi": st.booleans()}),
        },
    ),
)


def _answers(raw: dict[str, Any]) -> Answers:
    data = dict(raw)
    hours = data.pop("onset_hours", None)
    if hours is not None:
        data["onset_at"] = NOW - timedelta(hours=hours)
    return Answers.model_validate(data)


def _run(raw: dict[str, Any], findings: dict[str, Any] | None, complaint: str = "") -> Any:
    answers = _answers(raw)
    if findings is None:
        return triage_call(answers, complaint=complaint, now=NOW)
    return retriage(answers, Findings.model_validate(findings), complaint=complaint, now=NOW)


@settings(max_examples=400, deadline=None)
@given(raw=answers_st, findings=findings_st, sign=st.sampled_from(DANGER_SIGNS))
def test_adding_a_danger_sign_never_lowers_the_level(
    raw: dict[str, Any], findings: dict[str, Any] | None, sign: tuple[str, Any]
) -> None:
    before = _run(raw, findings)
    field, value = sign
    after = _run({**raw, field: value}, findings)
    assert after.acuity <= before.acuity, (sign, before.rule_ids, after.rule_ids)
    assert int(after.acuity) <= 3, after.rule_ids


@settings(max_examples=200, deadline=None)
@given(raw=answers_st, findings=findings_st, data=st.data())
def test_result_does_not_depend_on_answer_order(
    raw: dict[str, Any], findings: dict[str, Any] | None, data: st.DataObject
) -> None:
    keys = data.draw(st.permutations(list(raw)))
    shuffled = {k: raw[k] for k in keys}
    if shuffled.get("injuries"):
        shuffled["injuries"] = data.draw(st.permutations(sorted(shuffled["injuries"])))
    assert _run(raw, findings).to_dict() == _run(shuffled, findings).to_dict()


@settings(max_examples=200, deadline=None)
@given(
    raw=answers_st,
    findings=findings_st,
    words=st.lists(
        st.sampled_from(
            ["胸痛", "车祸", "抽搐", "口角歪斜", "没有呼吸", "昏迷", "阴道出血", "孕妇", "腹痛"]
        ),
        max_size=4,
    ),
)
def test_text_only_fills_unanswered_questions(
    raw: dict[str, Any], findings: dict[str, Any] | None, words: list[str]
) -> None:
    """Complaint text only fills unanswered questions with danger, so it never lowers the level."""
    complaint = "，".join(words)
    with_text = _run(raw, findings, complaint)
    # the text can only add danger: never a lower level than without it
    assert with_text.acuity <= _run(raw, findings).acuity
