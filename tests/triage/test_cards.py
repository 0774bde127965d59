"""Chief-complaint cards (issue 16 section 1): the table is well-formed, every card's
determinants give their level, class and pathway through the engine, card answers rank
below structured answers and above the text. The HTTP side: tests/service/test_card_api.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from dispatch.errors import TriageError
from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage.cards import CardTable, Question
from dispatch.triage.conditions import facts_named
from dispatch.triage.facts import VITALS
from dispatch.triage.protocol import load_protocol

PROTOCOL = load_protocol()
NOW = PROTOCOL.card_table.evaluated_at
DETERMINANTS = [(card.id, d) for card in PROTOCOL.cards.values() for d in card.determinants]


def _card(card: str, answers: dict[str, Any], *, complaint: str = "",
          structured: Answers | None = None) -> Any:
    return triage_call(structured or Answers(), complaint=complaint, now=NOW, card=card,
                       card_answers=answers)


# ------------------------------------------------------------------ the table


def test_the_cards_cover_what_a_120_centre_receives() -> None:
    wanted = {
        "cardiac_arrest", "chest_pain", "breathing_problem", "stroke", "unconscious_fainting",
        "seizure", "traffic_collision", "fall", "assault", "stab_gunshot", "burns",
        "haemorrhage", "pregnancy_childbirth", "sick_child", "neonate", "allergic_reaction",
        "poisoning_overdose", "diabetic", "abdominal_pain", "back_pain", "headache",
        "psychiatric_suicidal", "alcohol_intoxication", "heat_cold", "drowning",
        "electrocution", "sick_person", "unknown_problem", "interfacility_transfer",
        "booked_transport",
    }
    assert wanted <= set(PROTOCOL.cards)
    assert len(PROTOCOL.cards) >= 30


def test_every_question_maps_to_answers_fields_or_the_cards_rules() -> None:
    for card in PROTOCOL.cards.values():
        assert set(card.sets) <= set(Answers.model_fields), card.id
        read_by_rules = set().union(*(
            facts_named(r.when, definitions=PROTOCOL.definitions)
            for r in PROTOCOL.card_rules[card.id]))
        for q in card.questions:
            mapped: set[str] = set()
            if q.field is not None:
                mapped.add(q.field)
            for sets in (q.if_yes, q.if_no, *(c.sets for c in q.choices or ())):
                mapped |= set(sets or {})
            assert mapped <= set(Answers.model_fields), (card.id, q.id)
            if q.vital is not None:
                assert q.vital in VITALS and q.vital in Findings.model_fields, (card.id, q.id)
            if q.card_only:
                assert f"card.{q.id}" in read_by_rules, f"{card.id}.{q.id} is read by nothing"
            assert q.text_zh and q.text_en


def test_every_source_id_exists() -> None:
    sources = PROTOCOL.sources
    for card in PROTOCOL.cards.values():
        cited = [card.source, *(d.source for d in card.determinants),
                 *(r["source"] for r in card.rules)]
        for keys in cited:
            for key in keys.split(";"):
                assert key.strip() in sources, (card.id, key)
        assert card.determinants, card.id


def test_a_question_naming_no_answers_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="not an Answers field"):
        Question(id="x", text_zh="问", text_en="ask", type="bool", field="no_such_field")
    with pytest.raises(ValidationError, match="is not a measured finding"):
        Question(id="x", text_zh="问", text_en="ask", type="number", vital="no_such_vital")
    with pytest.raises(ValidationError):
        Question(id="x", text_zh="问", text_en="ask", type="bool",
                 if_yes={"conscious": "maybe"})
    raw = PROTOCOL.card_table.model_dump(mode="json")
    raw["cards"][0]["questions"] = ["no_such_common_question"]
    with pytest.raises(ValidationError, match="no common question"):
        CardTable.model_validate(raw)


# ------------------------------------------------------------- determinants


@pytest.mark.parametrize(("card", "determinant"), DETERMINANTS,
                         ids=[d.id for _, d in DETERMINANTS])
def test_determinant(card: str, determinant: Any) -> None:
    result = _card(card, determinant.answers)
    got = (int(result.acuity), result.transport_class.value,
           result.pathway.value if result.pathway else None)
    assert got == (determinant.level, determinant.transport_class, determinant.pathway), [
        r.rule_id for r in result.reasons]
    assert result.card == card


# ------------------------------------------------------------- precedence


def test_structured_answers_win_and_the_conflict_is_reported() -> None:
    result = _card("chest_pain", {"conscious": False, "breathing": True, "age": 60},
                   structured=Answers(conscious=True, breathing=True, breathing_normally=True))
    assert int(result.acuity) == 2  # not I: the structured "conscious" stands
    ids = result.rule_ids
    assert "XCHECK-CARD-chest_pain.conscious" in ids and "GEN-UNRESPONSIVE" not in ids
    assert "CARD-chest_pain.age" in ids and "CP-ACS" in ids


def test_card_fills_and_conflicts_are_worded_exactly() -> None:
    # the card's own fact ("the card"), a question's set and a number: filled when
    # unanswered, cross-checked (the structured answer stands) when answered otherwise
    fall = PROTOCOL.cards["fall"]
    source = PROTOCOL.cite(fall.source)
    said = {"head_strike": True, "age": 80}
    filled = [(r.rule_id, r.source, r.text, r.text_zh) for r in _card("fall", said).reasons
              if r.rule_id.startswith("CARD-")]
    assert filled == [
        ("CARD-fall", source, "card fall (Fall) the card -> mechanism = fall (not answered)",
         "跌倒/坠落卡（fall）本卡 → 受伤机制：fall（未回答）"),
        ("CARD-fall.head_strike", source,
         "card fall (Fall) question head_strike -> injuries = ['head_strike'] (not answered)",
         "跌倒/坠落卡（fall）问题“头部撞到了吗？” → 伤情：head_strike（未回答）"),
        ("CARD-fall.age", source,
         "card fall (Fall) question age -> age_years = 80.0 (not answered)",
         "跌倒/坠落卡（fall）问题“病人多大年龄？” → 年龄（岁，新生儿用小数）：80.0（未回答）"),
    ]
    answered = Answers(mechanism="assault", injuries=["minor"], age_years=80)
    checked = [(r.rule_id, r.source, r.text, r.text_zh)
               for r in _card("fall", said, structured=answered).reasons
               if "CARD-" in r.rule_id]
    assert checked == [
        ("XCHECK-CARD-fall", source,
         "card fall the card suggests mechanism = fall but the answer is assault: the "
         "structured answer stands; confirm with the caller",
         "跌倒/坠落卡（fall）本卡提示受伤机制：fall，但回答是assault：以结构化回答为准，"
         "请与呼救者核实"),
        ("XCHECK-CARD-fall.head_strike", source,
         "card fall question head_strike suggests injuries = ['head_strike'] but the answer "
         "is ['minor']: the structured answer stands; confirm with the caller",
         "跌倒/坠落卡（fall）问题“头部撞到了吗？”提示伤情：head_strike，但回答是minor："
         "以结构化回答为准，请与呼救者核实"),
    ]


def test_card_answers_win_over_the_text() -> None:
    # the text says not breathing; the card's answer says breathing: the card stands
    result = _card("unconscious_fainting", {"conscious": True, "breathing": True,
                                            "breathing_normally": True,
                                            "fainted_recovered": True},
                   complaint="人没气了")
    assert int(result.acuity) == 3
    assert any(r.startswith("XCHECK-") for r in result.rule_ids)
    assert "GEN-ARREST" not in result.rule_ids


def test_a_later_question_beats_an_earlier_one_and_the_cards_own_sets() -> None:
    # breathing_problem sets breathing_normally = false; the answer "normal" beats it
    result = _card("breathing_problem", {"conscious": True, "breathing": True,
                                         "breathing_normally": True, "chest_pain": False})
    assert int(result.acuity) == 3 and "GEN-DYSPNOEA" not in result.rule_ids
    # agonal gasps (asked after "breathing?") make it not breathing
    arrest = _card("cardiac_arrest", {"conscious": False, "breathing": True, "agonal": True})
    assert "GEN-ARREST" in arrest.rule_ids


def test_a_crews_measurement_beats_the_callers_reading() -> None:
    card = {"conscious": True, "breathing": True, "breathing_normally": True,
            "new_confusion": False, "glucose": 2.5}
    crew = retriage(Answers(), Findings(glucose_mmol=6.0), complaint="", now=NOW,
                    card="diabetic", card_answers=card)
    assert "VS-GLUCOSE-II" not in crew.rule_ids
    assert int(_card("diabetic", card).acuity) == 2


def test_card_rules_count_only_on_their_card() -> None:
    answers = {"conscious": True, "breathing": True, "breathing_normally": True}
    pesticide = _card("poisoning_overdose", {**answers, "substance": "pesticide"})
    assert "CC-POISON-LETHAL" in pesticide.rule_ids
    # the same primary survey on another card, after the first filled the outcome cache
    other = _card("sick_person", answers)
    assert not any(r.startswith("CC-POISON") for r in other.rule_ids)
    plain = triage_call(Answers(conscious=True, breathing=True, breathing_normally=True),
                        complaint="", now=NOW)
    assert not any(r.startswith("CC-") for r in plain.rule_ids)


def test_the_card_settles_what_the_text_alone_could_not() -> None:
    # caller vignettes xfailed for want of these facts (docs/triage.md section 3)
    burn = _card("burns", {"conscious": True, "breathing": True, "breathing_normally": True,
                           "burn_size": "large", "airway_burn": False},
                 complaint="大面积烧伤，人清醒")
    assert int(burn.acuity) == 2
    poison = _card("poisoning_overdose", {"conscious": True, "breathing": True,
                                          "breathing_normally": True,
                                          "substance": "pesticide"},
                   complaint="喝农药了，人还清醒")
    assert int(poison.acuity) == 2


def test_the_result_keeps_the_card_and_its_answers() -> None:
    result = _card("stroke", {"conscious": True, "arm_weakness": True,
                              "onset": datetime(2026, 1, 1, 3, 0, tzinfo=UTC).isoformat()})
    body = result.to_dict()
    assert body["card"] == "stroke"
    assert body["card_answers"]["arm_weakness"] is True
    assert triage_call(Answers(), complaint="", now=NOW).to_dict()["card"] is None
    # answers kept in the order given, a time as ISO 8601 text
    onset = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    kept = _card("stroke", {"conscious": True, "arm_weakness": True, "onset": onset})
    assert kept.card_answers == (("conscious", True), ("arm_weakness", True),
                                 ("onset", "2026-01-01T03:00:00+00:00"))


# ------------------------------------------------------------- refusals


@pytest.mark.parametrize(("card", "answers", "field"), [
    ("no_such_card", {}, "card"),
    (None, {"conscious": True}, "card"),
    ("chest_pain", {"substance": "pesticide"}, "card_answers.substance"),
    ("chest_pain", {"conscious": "yes"}, "card_answers.conscious"),
    ("chest_pain", {"age": 200}, "card_answers.age"),
    ("chest_pain", {"onset": "yesterday"}, "card_answers.onset"),
    ("poisoning_overdose", {"substance": "whisky"}, "card_answers.substance"),
    ("diabetic", {"glucose": 500}, "card_answers.glucose"),
    ("fall", {"fall_height": True}, "card_answers.fall_height"),
])
def test_bad_card_input_names_the_field(card: str | None, answers: dict[str, Any],
                                        field: str) -> None:
    with pytest.raises(TriageError) as caught:
        triage_call(Answers(), complaint="", now=NOW, card=card, card_answers=answers)
    assert caught.value.field == field


@pytest.mark.parametrize(("card", "answers", "field", "message"), [
    ("chest_pain", {"substance": "pesticide"}, "card_answers.substance",
     "not a question of card 'chest_pain'"),
    ("chest_pain", {"conscious": "yes"}, "card_answers.conscious", "answer true or false"),
    ("chest_pain", {"age": 200}, "card_answers.age", "Input should be less than or equal to 130"),
    ("chest_pain", {"onset": 123}, "card_answers.onset",
     "answer an ISO 8601 time with its time zone"),
    ("chest_pain", {"onset": "2025-01-01T10:00"}, "card_answers.onset",
     "Input should have timezone info"),
    ("poisoning_overdose", {"substance": "whisky"}, "card_answers.substance",
     "answer one of ['pesticide', 'carbon_monoxide', 'medication', 'household_chemical', "
     "'unknown']"),
    ("fall", {"fall_height": True}, "card_answers.fall_height", "answer a finite number"),
    ("fall", {"fall_height": float("nan")}, "card_answers.fall_height",
     "answer a finite number"),
])
def test_bad_card_input_says_why(card: str, answers: dict[str, Any], field: str,
                                 message: str) -> None:
    with pytest.raises(TriageError) as caught:
        triage_call(Answers(), complaint="", now=NOW, card=card, card_answers=answers)
    assert (caught.value.field, caught.value.message) == (field, message)
    assert triage_call(Answers(), complaint="", now=NOW, card="chest_pain",
                       card_answers={"onset": "2025-01-01T10:00+08:00"}).card == "chest_pain"


@pytest.mark.parametrize(("card", "answers", "asked", "not_asked"), [
    # a burn's size and an airway burn decide the level: asked until answered
    ("burns", {"conscious": True, "breathing": True, "breathing_normally": True},
     {"card.burn_size", "card.airway_burn"}, set()),
    ("burns", {"conscious": True, "breathing": True, "breathing_normally": True,
               "burn_size": "small", "airway_burn": False},
     set(), {"card.burn_size", "card.airway_burn"}),
    ("headache", {}, {"card.sudden_worst"}, set()),
    ("poisoning_overdose", {"conscious": True}, {"card.substance"}, set()),
    # another card's questions are never asked
    ("chest_pain", {}, set(), {"card.burn_size", "card.sudden_worst"}),
])
def test_a_card_only_question_its_rules_lack_is_missing(
    card: str, answers: dict[str, Any], asked: set[str], not_asked: set[str]
) -> None:
    missing = set(_card(card, answers).missing)
    assert asked <= missing
    assert not (not_asked & missing)
