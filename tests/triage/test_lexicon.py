"""Issue 16 section 2: the free text a 120 call-taker types, in Chinese and English."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dispatch.domain import Pathway
from dispatch.errors import TriageError
from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage.keywords import Reading, find_matches
from dispatch.triage.protocol import _keyword, expand, load_protocol
from dispatch.triage.textnums import _num, _p, _Pattern, _temp, cn_number, read_numbers
from tests.triage.cases import NOW, OK


def facts(text: str) -> dict[str, Any]:
    """What the text fills (lexicon phrases, then numbers), first reading per fact."""
    found: dict[str, Any] = {}
    for r in read_numbers(text):
        found.setdefault(r.fact, r.value)
    for m in find_matches(text=text, lexicon=load_protocol().lexicon):
        for fact, value in m.keyword.facts:
            found.setdefault(fact, value)
    return found


def intake(text: str, **answers: Any) -> Any:
    return triage_call(Answers.model_validate(answers), complaint=text, now=NOW)


def test_lexicon_size() -> None:
    phrases = [p for k in load_protocol().keywords for p in k.phrases]
    assert len([p for p in phrases if not p.isascii()]) >= 500
    assert len([p for p in phrases if p.isascii()]) >= 300


# --- the phrases issue 16 found missed, each to the fact (and level / pathway) it means

@pytest.mark.parametrize(
    ("text", "level", "pathway"),
    [
        ("心脏骤停", 1, None),
        ("呼吸心跳停止", 1, None),
        ("人没气了", 1, None),
        ("胸口压着痛，出冷汗", 2, Pathway.CHEST_PAIN),
        ("心梗", 2, Pathway.CHEST_PAIN),
        ("中风", 2, Pathway.STROKE),
        ("脑梗", 2, Pathway.STROKE),
        ("右边手没力气", 2, Pathway.STROKE),
        ("从三楼摔下来", 2, Pathway.TRAUMA),
        ("被刀捅伤", 2, Pathway.TRAUMA),
        ("孕妇大出血", 2, Pathway.MATERNAL),
        ("小儿高热抽搐", 2, Pathway.PAEDIATRIC),
        ("pressure in the chest", 2, Pathway.CHEST_PAIN),
        ("weak right side", 2, Pathway.STROKE),
    ],
)
def test_issue_phrases_at_intake(text: str, level: int, pathway: Pathway | None) -> None:
    r = intake(text)
    assert (int(r.acuity), r.pathway) == (level, pathway), r.rule_ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("上不来气", {"breathing_normally": False}),
        ("流血不止", {"major_bleeding": True}),
        ("fell", {"mechanism": "fall"}),
        ("twisted ankle", {"injuries": ["minor"]}),
        ("从三楼摔下来", {"mechanism": "fall", "fall_height_m": 7.0}),
        ("小儿高热抽搐", {"age_years": 3, "seizure": True}),
        ("气促 SpO2 85", {"breathing_normally": False, "spo2": 85}),
        ("房颤病人吃华法林，摔倒磕到头", {"anticoagulated": True, "mechanism": "fall",
                                  "injuries": ["head_strike"]}),
        ("慢阻肺急性加重", {"breathing_normally": False}),
        ("COPD exacerbation", {"breathing_normally": False}),
        ("胸闷气短", {"chest_pain": True, "breathing_normally": False}),
        ("被困在车里，需要破拆", {"entrapped": True}),
        ("肚子被捅了", {"mechanism": "stab_or_gunshot",
                    "injuries": ["penetrating_head_neck_torso"]}),
        ("老人在家摔倒", {"age_years": 75, "mechanism": "fall"}),
        ("羊水破了，看到脐带", {"in_labour": True, "cord_or_limb_presenting": True}),
        ("还在抽", {"seizure": True, "seizure_ongoing": True}),
    ],
)
def test_phrases_to_facts(text: str, expected: dict[str, Any]) -> None:
    assert expected.items() <= facts(text).items(), facts(text)


def test_twisted_ankle_with_a_clear_primary_survey_is_level_iv() -> None:
    r = intake("twisted ankle", **OK, age_years=30)
    assert int(r.acuity) == 4 and "GEN-PRESENTATION-UNKNOWN" not in r.rule_ids


# --- negation at phrase and clause level

@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("没有胸痛，但是呼吸困难", {"breathing_normally"}, {"chest_pain"}),
        ("否认胸痛、胸闷，无呼吸困难", set(), {"chest_pain", "breathing_normally"}),
        ("无胸痛及气促，现在抽搐", {"seizure"}, {"chest_pain", "breathing_normally"}),
        ("没有发烧也没抽搐，胸口疼", {"chest_pain"}, {"seizure"}),
        ("不抽了", {"seizure"}, set()),  # 不 is part of the phrase: the seizure is over
        ("人没气了", {"breathing"}, set()),  # 没 inside the phrase is not a negation
        ("老人无缘无故晕倒，叫不醒", {"conscious"}, set()),  # an idiom, not a negation
        ("他不舒服，胸口痛", {"chest_pain"}, set()),
        ("denies chest pain or shortness of breath", set(), {"chest_pain", "breathing_normally"}),
        ("no chest pain but short of breath", {"breathing_normally"}, {"chest_pain"}),
        ("not conscious", {"conscious"}, set()),
        ("not sure if he fell", {"mechanism"}, set()),
    ],
)
def test_negation(text: str, present: set[str], absent: set[str]) -> None:
    found = facts(text)
    assert present <= set(found), found
    assert not absent & set(found), found


def test_stopped_seizure_reads_as_over() -> None:
    assert facts("刚才抽了一下，现在不抽了")["seizure_ongoing"] is False


# --- numbers

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3岁", {"age_years": 3.0}),
        ("80多岁", {"age_years": 80.0}),
        ("两岁半", {"age_years": 2.5}),
        ("8个月大的宝宝", {"age_years": round(8 / 12, 4)}),
        ("出生5天", {"age_years": round(5 / 365.25, 4)}),
        ("67 yo", {"age_years": 67.0}),
        ("6 month old", {"age_years": 0.5}),
        ("SpO2 85%", {"spo2": 85}),
        ("血氧只有85", {"spo2": 85}),
        ("sats 88", {"spo2": 88}),
        ("血压80/50", {"sbp": 80, "dbp": 50}),
        ("80/50", {"sbp": 80, "dbp": 50}),
        ("高压190低压110", {"sbp": 190, "dbp": 110}),
        ("心率130", {"hr": 130}),
        ("心跳一百五", {"hr": 150}),
        ("pulse 44", {"hr": 44}),
        ("呼吸30次", {"rr": 30}),
        ("GCS 9", {"gcs": 9}),
        ("e2v3m4", {"gcs": 9, "gcs_motor": 4}),
        ("体温39.5", {"temp_c": 39.5}),
        ("发烧三十九度五", {"temp_c": 39.5}),
        ("39.5℃", {"temp_c": 39.5}),
        ("孕32周", {"gestation_weeks": 32.0, "pregnant": True}),
        ("32 weeks pregnant", {"gestation_weeks": 32.0, "pregnant": True}),
        ("血糖2.1", {"glucose_mmol": 2.1}),
        ("疼痛评分8分", {"pain": 8}),
        ("抽了10分钟", {"seizure_duration_min": 10.0}),
        ("fell from the 3rd floor", {"fall_height_m": 7.0}),
        ("从5米高的地方摔下来", {"fall_height_m": 5.0}),
    ],
)
def test_numbers(text: str, expected: dict[str, Any]) -> None:
    got = {r.fact: r.value for r in read_numbers(text)}
    assert expected.items() <= got.items(), got


@pytest.mark.parametrize(
    "text",
    ["发烧3天", "咳嗽3个月了", "12/25", "血氧185", "10:30", "住在5楼", "3天前开始"],
)
def test_numbers_not_misread(text: str) -> None:
    got = {r.fact: r.value for r in read_numbers(text)}
    assert not {"temp_c", "age_years", "sbp", "spo2", "fall_height_m"} & set(got), got


@pytest.mark.parametrize(("text", "value"),
                         [("一百五", 150), ("一百零五", 105), ("三十九", 39), ("十二", 12),
                          ("两", 2), ("八十", 80), ("39.5", 39.5), ("一百二十", 120),
                          ("九五", 95), ("一二零", 120), ("几十", 20), ("几", None),
                          ("三十度", None)])
def test_cn_number(text: str, value: float | None) -> None:
    # digits in a row read as a numeral (九五 = 95); a lone 几 names no number
    assert cn_number(text) == value


def number(text: str, fact: str, value: Any, accepts: tuple[float, float] | None = None,
           *, phrase: str | None = None) -> Reading:
    return Reading(fact, value, phrase or text.lower(), f"NUM-{fact.upper()}", accepts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # each field's range is inclusive at both ends, and a value past either end is dropped
        ("GCS 3", [number("GCS 3", "gcs", 3)]),
        ("GCS 15", [number("GCS 15", "gcs", 15)]),
        ("GCS 2", []),
        ("GCS 16", []),
        ("血氧30", [number("血氧30", "spo2", 30)]),
        ("血氧100", [number("血氧100", "spo2", 100)]),
        ("血氧29", []),
        # a misread number does not stop the reading of the same label further on
        ("血氧185，血氧95", [number("血氧95", "spo2", 95)]),
        # an exact age agrees with answers in its year, a rough one (多, 来) with ten years
        ("80岁", [number("80岁", "age_years", 80.0, (80.0, 81.0))]),
        ("80多岁", [number("80多岁", "age_years", 80.0, (80.0, 90.0))]),
        ("心率一百来", [number("心率一百来", "hr", 100)]),
        # 度零: a tenth of zero
        ("体温39度0", [number("体温39度0", "temp_c", 39.0)]),
        # a gestation also says pregnant, with the same phrase and source
        ("孕32周", [number("孕32周", "gestation_weeks", 32.0),
                   Reading("pregnant", True, "孕32周", "NUM-GESTATION_WEEKS")]),
        # the first storey is the ground: a fall from it is the sill's height
        ("从1楼摔下来", [number("", "fall_height_m", 1.0, phrase="从1楼"),
                     Reading("mechanism", "fall", "从1楼", "NUM-FALL_HEIGHT_M")]),
        ("fell from the first floor",
         [number("", "fall_height_m", 1.0, phrase="from the first floor"),
          Reading("mechanism", "fall", "from the first floor", "NUM-FALL_HEIGHT_M")]),
        # an English ordinal is a number even in a text with no digit
        ("fell from the third floor",
         [number("", "fall_height_m", 7.0, phrase="from the third floor"),
          Reading("mechanism", "fall", "from the third floor", "NUM-FALL_HEIGHT_M")]),
    ],
)
def test_number_readings_exactly(text: str, expected: list[Reading]) -> None:
    assert list(read_numbers(text)) == expected


def test_a_denied_fall_does_not_stop_a_later_one() -> None:
    lexicon = load_protocol().lexicon
    assert read_numbers("没有从6楼摔下来", lexicon) == ()
    got = read_numbers("没有从6楼摔下来，后来从2楼摔下来", lexicon)
    assert [(r.fact, r.value, r.phrase) for r in got] == [
        ("fall_height_m", 4.0, "从2楼"), ("mechanism", "fall", "从2楼")]


def test_the_number_helpers_read_the_group_and_scale_they_name() -> None:
    """The patterns' readers and specs are built at import, so they are checked here."""
    two = re.fullmatch(r"(x)?(\d+)/(\d+)", "12/30")
    assert two is not None
    assert _num()(two) == 12.0  # the first group that took part
    assert _num(3)(two) == 30.0
    assert _num(2, scale=0.5)(two) == 6.0
    whole = re.fullmatch(r"hr(\d+)", "hr80")
    assert whole is not None and _num()(whole) == 80.0
    unreadable = re.fullmatch(r"(\w+)", "abc")
    assert unreadable is not None and _num()(unreadable) is None
    also = (("pregnant", True),)
    assert _p("hr", "心 hr", r"hr(\d+)", _temp, 20, 300, also) == _Pattern(
        "hr", re.compile(r"hr(\d+)"), _temp, 20, 300, also, ("心", "hr"))


def test_spo2_in_text_counts_at_intake() -> None:
    # 气促 SpO2 85: the number was ignored before (level II for the dyspnoea only, no band)
    r = intake("气促 SpO2 85", **OK, age_years=60)
    assert "VS-A-SPO2-II" in r.rule_ids and "NUM-SPO2" in r.rule_ids
    low = intake("血氧75", **OK, age_years=60, chest_pain=False)
    assert int(low.acuity) == 1 and "VS-A-SPO2-I" in low.rule_ids


def test_shock_index_from_text() -> None:
    r = intake("心率130，血压88/60", **OK, age_years=60, chest_pain=False)
    assert int(r.acuity) == 2 and "GEN-SHOCK-INDEX" in r.rule_ids


def test_a_crew_measurement_beats_the_text() -> None:
    r = retriage(Answers.model_validate({**OK, "age_years": 60, "chest_pain": False}),
                 Findings(spo2=97), complaint="血氧75", now=NOW)
    assert int(r.acuity) == 4 and "NUM-SPO2" not in r.rule_ids


def test_age_from_text_reads_the_child_bands() -> None:
    # 15-month-old with HR 150: PALS toddler band, level III, not II
    r = intake("15个月大的孩子，心率150", **OK, chest_pain=False)
    assert int(r.acuity) == 3 and "VS-YC-HR-III" in r.rule_ids


# --- structured answers always win; conflicts are reported

def test_numbers_never_override_answers() -> None:
    r = intake("80岁", **OK, age_years=50, chest_pain=False)
    assert "XCHECK-NUM-AGE_YEARS" in r.rule_ids
    assert not any(rid == "NUM-AGE_YEARS" for rid in r.rule_ids)


def test_age_group_agrees_with_an_answer_inside_it() -> None:
    assert "XCHECK-KW-AGE-ELDERLY" not in intake("老人", **OK, age_years=82).rule_ids
    assert "XCHECK-KW-AGE-ELDERLY" in intake("老人", **OK, age_years=30).rule_ids
    # 80多岁 agrees with 84, not with 91
    assert "XCHECK-NUM-AGE_YEARS" not in intake("80多岁", **OK, age_years=84).rule_ids
    assert "XCHECK-NUM-AGE_YEARS" in intake("80多岁", **OK, age_years=91).rule_ids


def test_injuries_from_text_add_to_one_another() -> None:
    r = intake("车祸，头着地，骨盆骨折", **OK, age_years=40)
    assert "TR-RED-INJURY" in r.rule_ids
    assert any("head_strike" in x.text and "pelvic_fracture" in x.text for x in r.reasons)


# --- the table is checked at load

def test_combine_expands_every_choice() -> None:
    assert expand([["左", "右"], ["手"], ["无力", "麻木"]]) == ["左手无力", "左手麻木",
                                                        "右手无力", "右手麻木"]


def test_a_keyword_value_the_answer_refuses_fails_at_load() -> None:
    cards = load_protocol().cards
    with pytest.raises(TriageError):
        _keyword({"id": "KW-X", "fact": "mechanism", "value": "meteor", "phrases": ["x"]},
                 cards=cards)
    with pytest.raises(TriageError):
        _keyword({"id": "KW-Y", "fact": "no_such_fact", "value": True, "phrases": ["y"]},
                 cards=cards)


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("正在抽烟，突然倒地", {"seizure"}),
        ("刚抽了血", {"seizure"}),
        ("手机摔了", {"mechanism"}),
        ("没有气了", set()),
        ("我看不见他在哪", {"vision_loss"}),
        ("奶奶说小孩发烧", set()),
        ("fit and well, now chest pain", {"seizure"}),
        ("heat stroke", {"arm_weakness"}),
        ("arrested by police", {"conscious"}),
        ("无明显诱因出现胸痛", set()),
    ],
)
def test_everyday_words_are_not_findings(text: str, absent: set[str]) -> None:
    found = facts(text)
    assert not absent & set(found), found
    if "没有气了" in text:
        assert found.get("breathing") is False
    if "小孩" in text:
        assert found.get("age_years") == 6
    if "胸痛" in text:
        assert found.get("chest_pain") is True
