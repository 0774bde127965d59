"""Every reason triage gives reads in zh-CN (shown first) and English: the tables' rules,
the card answers' and the complaint text's fills, cross-checks and assumed rules."""

from __future__ import annotations

import copy
import re
from enum import Enum
from typing import Any

import pytest

from dispatch.errors import TriageError
from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage import protocol as tables
from dispatch.triage.engine import _Hit, _reason
from dispatch.triage.protocol import CARD_FILE, load_protocol
from dispatch.triage.result import Reason, TriageResult
from dispatch.triage.wording import input_zh, question_zh, value_zh

PROTOCOL = load_protocol()
NOW = PROTOCOL.card_table.evaluated_at
CJK = re.compile(r"[\u4e00-\u9fff]")
EVERY_RULE = (
    *PROTOCOL.rules, *PROTOCOL.vitals_all_ages, *(r for b in PROTOCOL.bands for r in b.rules),
    *(r for rules in PROTOCOL.card_rules.values() for r in rules),
    PROTOCOL.default_rule, PROTOCOL.booking_rule, PROTOCOL.upgrade_rule,
    PROTOCOL.vehicle_rule, PROTOCOL.sbp_floor_rule,
)


def _bilingual(reason: Reason) -> None:
    assert CJK.search(reason.text_zh), (reason.rule_id, reason.text_zh)
    assert reason.text.strip() and reason.to_dict()["text_en"] == reason.text, reason.rule_id


def _all_bilingual(result: TriageResult) -> None:
    assert result.reasons
    for reason in result.reasons:
        _bilingual(reason)


@pytest.mark.parametrize("rule", EVERY_RULE, ids=lambda r: r.id)
def test_every_rule_fired_or_assumed_reads_in_both_languages(rule: Any) -> None:
    _bilingual(_reason(_Hit(rule, rule.acuity, False, ()), PROTOCOL))
    for missing in ((), ("breathing", "card.x")):
        assumed = _reason(_Hit(rule, rule.acuity, True, missing), PROTOCOL)
        _bilingual(assumed)
        assert assumed.text_zh.startswith("推定（") and assumed.text_zh.endswith(rule.text_zh)


def test_the_assumed_stemi_waits_for_the_crew_in_chinese() -> None:
    rule = next(r for r in PROTOCOL.rules if r.id == "CP-STEMI")
    reason = _reason(_Hit(rule, rule.acuity, True, ()), PROTOCOL)
    assert reason.text_zh == f"推定（待出车组的检查结果确认或排除）：{rule.text_zh}"
    assert reason.text.startswith("Assumed (until the crew's findings confirm or rule it out)")


def test_a_card_questions_missing_answer_is_named_by_its_zh_wording() -> None:
    card, rule, question = next(
        (PROTOCOL.cards[c], r, q) for c, rules in PROTOCOL.card_rules.items() for r in rules
        for q in PROTOCOL.cards[c].questions if q.card_only)
    reason = _reason(_Hit(rule, rule.acuity, True, (f"card.{question.id}",)), PROTOCOL)
    assert f"缺少：{question.text_zh}" in reason.text_zh


def _answers_of(card: Any) -> list[dict[str, Any]]:
    """Sample answers touching every question of a card: its determinants' answers, and
    each yes-no and choice question answered every way on its own."""
    samples = [dict(d.answers) for d in card.determinants]
    for q in card.questions:
        if q.type == "bool":
            samples += [{q.id: True}, {q.id: False}]
        elif q.type == "choice":
            samples += [{q.id: c.value} for c in q.choices or ()]
    return samples


@pytest.mark.parametrize("card", list(PROTOCOL.cards.values()), ids=lambda c: c.id)
def test_every_card_fill_reads_in_both_languages(card: Any) -> None:
    for answers in _answers_of(card):
        result = triage_call(Answers(), complaint="", now=NOW, card=card.id,
                             card_answers=answers)
        _all_bilingual(result)
        for reason in result.reasons:
            if reason.rule_id.startswith(f"CARD-{card.id}."):
                question = card.question(reason.rule_id.split(".", 1)[1])
                assert question is not None and question.text_zh in reason.text_zh
                assert card.title_zh in reason.text_zh


def test_a_card_answer_against_the_structured_answer_is_checked_in_chinese() -> None:
    card = next(c for c in PROTOCOL.cards.values()
                if any(q.field == "conscious" for q in c.questions))
    question = next(q for q in card.questions if q.field == "conscious")
    result = triage_call(Answers(conscious=True), complaint="", now=NOW, card=card.id,
                         card_answers={question.id: False})
    check = next(r for r in result.reasons if r.rule_id == f"XCHECK-CARD-{card.id}.{question.id}")
    assert "以结构化回答为准" in check.text_zh and question.text_zh in check.text_zh
    _all_bilingual(result)


@pytest.mark.parametrize("keyword", PROTOCOL.keywords, ids=lambda k: k.id)
def test_every_lexicon_group_reads_in_both_languages(keyword: Any) -> None:
    phrase = keyword.phrases[0]
    result = triage_call(Answers(), complaint=phrase, now=NOW)
    _all_bilingual(result)
    for reason in result.reasons:
        if reason.rule_id == keyword.id:
            assert phrase in reason.text_zh and reason.text_zh.startswith("主诉文字")
    if keyword.facts:
        # the opposite structured answer stands; the text's reading is a cross-check
        against = {}
        for fact, value in keyword.facts:
            if isinstance(value, bool):
                against[fact] = not value
        if against:
            crossed = triage_call(Answers(**against), complaint=phrase, now=NOW)
            _all_bilingual(crossed)


def test_text_vitals_and_crew_findings_read_in_both_languages() -> None:
    _all_bilingual(triage_call(Answers(), complaint="心率150，血压80/50，血氧85", now=NOW))
    _all_bilingual(retriage(Answers(conscious=True, breathing=True), Findings(hr=190, sbp=65),
                            complaint="", now=NOW))


def test_a_card_rule_without_zh_text_fails_the_table_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tables._read(CARD_FILE)
    broken = copy.deepcopy(raw)
    card = next(c for c in broken["cards"] if c.get("rules"))
    rule = card["rules"][0]
    for value in (None, "  "):
        if value is None:
            del rule["text_zh"]
        else:
            rule["text_zh"] = value
        monkeypatch.setattr(tables, "_read", lambda _name: copy.deepcopy(broken))
        ctx = {"sources": PROTOCOL.sources, "constants": PROTOCOL.constants,
               "definitions": PROTOCOL.definitions}
        with pytest.raises(TriageError) as err:
            tables._cards(ctx)
        assert rule["id"] in str(err.value) and "text_zh" in str(err.value)


# --- the zh-CN names and values a reason shows (dispatch.triage.wording)

BURNS = PROTOCOL.cards["burns"]


class _Level(Enum):
    HIGH = 3


@pytest.mark.parametrize(
    ("name", "card", "label"),
    [
        ("age_years", None, "年龄（岁，新生儿用小数）"),
        ("hr", None, "心率"),  # a crew finding
        ("mechanism", BURNS, "受伤机制"),
        ("card.burn_size", BURNS, "烧伤面积多大？"),
        # no card, or a question the card does not ask: the name itself
        ("card.burn_size", None, "card.burn_size"),
        ("card.meteor", BURNS, "card.meteor"),
        ("meteor", None, "meteor"),
        ("", None, ""),
    ],
)
def test_an_input_is_named_by_its_zh_label(name: str, card: Any, label: str) -> None:
    assert input_zh(name, card=card) == label


def test_a_card_question_is_named_by_its_zh_wording() -> None:
    assert question_zh(BURNS, "burn_size") == "烧伤面积多大？"
    assert question_zh(BURNS, "meteor") == "card.meteor"


@pytest.mark.parametrize(
    ("value", "question", "shown"),
    [
        (True, None, "是"),
        (False, None, "否"),
        (True, "airway_burn", "是"),
        # a choice by its label, on its card only
        ("large", "burn_size", "一整条胳膊以上，或大片胸背部"),
        ("small", "burn_size", "几块，合起来不到病人一个手掌大"),
        ("huge", "burn_size", "huge"),
        ("large", "meteor", "large"),
        ("large", None, "large"),
        # lists sorted and joined, each member shown as a value
        (["b", "a", True], None, "是、a、b"),  # sorted as text: "True" < "a"
        (frozenset({"pelvic_fracture", "flail"}), None, "flail、pelvic_fracture"),
        ((), None, ""),
        (_Level.HIGH, None, "3"),
        (12.5, None, "12.5"),
        (None, None, "None"),
    ],
)
def test_a_value_is_shown_in_zh(value: Any, question: str | None, shown: str) -> None:
    assert value_zh(value, card=BURNS, question=question) == shown


def test_a_choice_needs_its_card_and_question() -> None:
    assert value_zh("large", question="burn_size") == "large"
    assert value_zh("large", card=BURNS) == "large"
