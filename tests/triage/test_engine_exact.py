"""The engine's exact output where a subset check would pass a wrong answer: the order and
content of `missing`, the wording of assumed reasons, and retriage reading the complaint."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.errors import TriageError
from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage.engine import _band_rules, _Hit, _reason
from dispatch.triage.protocol import load_protocol
from tests.triage.cases import NOW
from tests.triage.test_properties import BOOL_FIELDS, TRISTATE

STROKE = {"conscious": True, "breathing": True, "facial_droop": True}


@pytest.mark.parametrize(("answers", "findings", "missing"), [
    # nothing known: the level-I questions, in the protocol's rule order
    ({}, None, ("breathing", "conscious")),
    # stroke signs at intake: the call-taker can ask when it started
    (STROKE, None, ("breathing_normally", "onset_at")),
    # the same with a crew on scene: last known well and the crew's stroke scales instead
    (STROKE, {}, ("breathing_normally", "last_known_well", "stroke.lams", "stroke.race")),
    # a clean primary survey: nothing left to ask
    ({"conscious": True, "breathing": True, "breathing_normally": True,
      "airway_obstructed": False}, None, ()),
])
def test_missing_is_exact_and_in_question_order(answers, findings, missing) -> None:
    a = Answers.model_validate(answers)
    result = (triage_call(a, complaint="", now=NOW) if findings is None
              else retriage(a, Findings.model_validate(findings), complaint="", now=NOW))
    assert result.missing == missing


def test_assumed_reasons_say_what_they_assumed() -> None:
    empty = triage_call(Answers(), complaint="", now=NOW)
    assert [(r.rule_id, r.text) for r in empty.reasons[:2]] == [
        ("GEN-APNOEA", "Assumed (missing: breathing): Not breathing (无呼吸)"),
        ("GEN-UNRESPONSIVE", "Assumed (missing: conscious): Unresponsive: acute disturbance"
                             " of consciousness (昏迷/意识障碍)"),
    ]
    # an assumed reason cites the same source as the rule it assumes
    rules = {r.id: r for r in load_protocol().rules}
    assert [r.source for r in empty.reasons[:2]] == [
        rules["GEN-APNOEA"].source, rules["GEN-UNRESPONSIVE"].source]
    assert all(r.source for r in empty.reasons[:2])
    stroke = retriage(Answers.model_validate(STROKE), Findings(), complaint="", now=NOW)
    lysis = next(r for r in stroke.reasons if r.rule_id == "ST-LYSIS-WINDOW")
    assert lysis.text.startswith("Assumed (missing: last_known_well): ")
    # an assumption no call-taker question can settle waits for the crew
    chest = triage_call(Answers(conscious=True, breathing=True, chest_pain=True,
                                age_years=60), complaint="", now=NOW)
    stemi = next(r for r in chest.reasons if r.rule_id == "CP-STEMI")
    assert stemi.text.startswith("Assumed (until the crew's findings confirm or rule it out): ")


def test_retriage_reads_the_complaint_text() -> None:
    answers = Answers(conscious=True, breathing=True)
    with_text = retriage(answers, Findings(), complaint="胸痛", now=NOW)
    without = retriage(answers, Findings(), complaint="", now=NOW)
    assert any("胸痛" in r.text for r in with_text.reasons)
    assert not any("胸痛" in r.text for r in without.reasons)
    assert with_text.acuity < without.acuity


def test_tables_without_a_default_band_are_an_error() -> None:
    protocol = load_protocol()
    no_default = replace(protocol, bands=tuple(b for b in protocol.bands if b.when is not None))
    with pytest.raises(TriageError, match="^vitals: no default band$"):
        _band_rules(facts={"age_days": None}, protocol=no_default)


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({f: TRISTATE for f in BOOL_FIELDS}))
def test_missing_follows_the_acuity_of_the_rules_asking(raw: dict[str, bool | None]) -> None:
    # Each question appears once; questions whose rules would raise the level furthest come
    # first, so the call-taker asks what matters most. Answering the first question never
    # adds it back, and it leaves the rest in the same relative order.
    answers = Answers.model_validate(raw)
    result = triage_call(answers, complaint="", now=NOW)
    assert len(set(result.missing)) == len(result.missing)
    if not result.missing or result.missing[0] not in BOOL_FIELDS:
        return  # a date or number to ask for: not drawn here
    first = result.missing[0]
    for value in (True, False):
        answered = Answers.model_validate({**raw, first: value})
        after = triage_call(answered, complaint="", now=NOW)
        assert first not in after.missing
        rest = [m for m in result.missing[1:] if m in after.missing]
        assert [m for m in after.missing if m in rest] == rest


def test_an_assumed_reason_lists_every_missing_input() -> None:
    rule = next(r for r in load_protocol().rules if r.id == "GEN-APNOEA")
    reason = _reason(_Hit(rule, 2, True, ("breathing", "conscious")), load_protocol())
    assert reason.text == "Assumed (missing: breathing, conscious): Not breathing (无呼吸)"
    assert reason.text_zh == "推定（缺少：有呼吸吗、有意识吗）：无呼吸"
    assert (reason.rule_id, reason.source) == ("GEN-APNOEA", rule.source)


def test_every_reason_cites_its_source() -> None:
    result = triage_call(Answers(conscious=True, breathing=True, chest_pain=True, age_years=60,
                                 booking_reason="dialysis"), complaint="", now=NOW)
    fired = {r.id: r for r in load_protocol().rules}
    assert result.reasons
    for reason in result.reasons:
        assert reason.source, reason
        if reason.rule_id in fired:
            assert reason.source == fired[reason.rule_id].source


def test_triage_needs_an_aware_now() -> None:
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(TriageError) as err:
        triage_call(Answers(), complaint="", now=naive)
    assert (err.value.field, err.value.message) == ("now", "now must carry a timezone")


def test_text_reasons_are_worded_and_cited() -> None:
    keyword_source = load_protocol().keyword_source
    # a text/answer conflict: the answer stands
    conflict = triage_call(Answers(conscious=True, breathing=True, chest_pain=False),
                           complaint="胸痛", now=NOW)
    texts = [(r.rule_id, r.source, r.text) for r in conflict.reasons if "complaint" in r.text]
    assert texts == [("XCHECK-KW-CHEST-PAIN", keyword_source,
                      "complaint text '胸痛' suggests chest_pain = True but the answer is "
                      "False: the structured answer stands; confirm with the caller")]
    # an unanswered question filled from the text
    filled = triage_call(Answers(conscious=True, breathing=True), complaint="胸痛", now=NOW)
    texts = [(r.rule_id, r.source, r.text) for r in filled.reasons if "complaint" in r.text]
    assert texts == [("KW-CHEST-PAIN", keyword_source,
                      "complaint text '胸痛' -> chest_pain = True (not answered)")]
    # a vital sign in the text the crew has not measured counts; one it has does not, and
    # skipping it does not stop the text's other vital signs being read (spo2 reads first)
    for measured, read in (({"hr": 80}, ("NUM-SPO2", "'血氧85' -> spo2 = 85")),
                           ({"spo2": 95}, ("NUM-HR", "'心率150' -> hr = 150"))):
        vitals = retriage(Answers(conscious=True, breathing=True),
                          Findings.model_validate(measured), complaint="心率150，血氧85", now=NOW)
        texts = [(r.rule_id, r.source, r.text) for r in vitals.reasons if "complaint" in r.text]
        assert texts == [(read[0], keyword_source,
                          f"complaint text {read[1]} (not measured by a crew)")]


def test_a_booking_names_the_rule_that_kept_or_upgraded_it() -> None:
    clear = {"age_years": 70, "booking_reason": "dialysis", "red_flag_new_symptoms": False,
             "red_flag_breathing": False, "red_flag_chest_pain": False,
             "red_flag_confusion": False, "red_flag_bleeding": False,
             "red_flag_needs_monitoring": False}
    kept = triage_call(Answers.model_validate(clear), complaint="", now=NOW)
    assert "NE-BOOKING" in kept.rule_ids and "NE-UPGRADE" not in kept.rule_ids
    upgraded = triage_call(Answers.model_validate({**clear, "red_flag_chest_pain": True}),
                           complaint="", now=NOW)
    assert "NE-UPGRADE" in upgraded.rule_ids and "NE-BOOKING" not in upgraded.rule_ids


def test_a_missing_age_is_asked_first_once_vitals_are_judged() -> None:
    # vital signs were judged on adult bands: the age comes before every other question
    result = retriage(Answers(), Findings(hr=150), complaint="", now=NOW)
    assert result.missing == ("age_years", "breathing", "conscious")


def test_a_card_vital_sign_counts_until_the_crew_measures_it() -> None:
    protocol = load_protocol()
    card = {"card": "sick_child", "card_answers": {"body_temp": 41.5}}
    read = triage_call(Answers(), complaint="体温39度", now=NOW, **card)
    # the card's reading beats the text's, and is worded in both languages
    assert [(r.rule_id, r.source, r.text, r.text_zh) for r in read.reasons
            if "CARD" in r.rule_id or "complaint" in r.text] == [
        ("CARD-sick_child.body_temp", protocol.cite(protocol.cards["sick_child"].source),
         "card sick_child question body_temp -> temp_c = 41.5 (not measured by a crew)",
         "患儿卡（sick_child）问题“量过体温吗？多少度？” → 体温：41.5（出车组未测量）")]
    measured = retriage(Answers(), Findings(temp_c=36.6), complaint="", now=NOW, **card)
    assert not [r for r in measured.reasons if r.rule_id.startswith("CARD-")]


def test_text_vital_signs_are_worded_in_both_languages() -> None:
    result = triage_call(Answers(), complaint="心率150，血氧85", now=NOW)
    assert [(r.rule_id, r.text_zh) for r in result.reasons if "complaint" in r.text] == [
        ("NUM-SPO2", "主诉文字“血氧85”→ 血氧饱和度：85（出车组未测量）"),
        ("NUM-HR", "主诉文字“心率150”→ 心率：150（出车组未测量）")]


@pytest.mark.parametrize(("card", "card_answers", "message"), [
    (None, {"age": 30}, "card_answers need the card they answer"),
    ("meteor", None, "no chief-complaint card 'meteor'"),
])
def test_a_card_the_tables_lack_is_refused(card: str | None, card_answers: Any,
                                           message: str) -> None:
    with pytest.raises(TriageError) as err:
        triage_call(Answers(), complaint="", now=NOW, card=card, card_answers=card_answers)
    assert (err.value.field, err.value.message) == ("card", message)
    # no answers and no card is a call taken on no card
    assert triage_call(Answers(), complaint="", now=NOW, card_answers={}).card is None


def test_text_fills_and_conflicts_read_in_chinese() -> None:
    def zh(answers: Answers) -> list[tuple[str, str]]:
        result = triage_call(answers, complaint="胸痛", now=NOW)
        return [(r.rule_id, r.text_zh) for r in result.reasons if "complaint" in r.text]

    assert zh(Answers(conscious=True, breathing=True, chest_pain=False)) == [
        ("XCHECK-KW-CHEST-PAIN",
         "主诉文字“胸痛”提示胸痛或胸闷：是，但回答是否：以结构化回答为准，请与呼救者核实")]
    assert zh(Answers(conscious=True, breathing=True)) == [
        ("KW-CHEST-PAIN", "主诉文字“胸痛”→ 胸痛或胸闷：是（未回答）")]
