"""Complaint text: fills unanswered questions, never overrides answers, respects negation."""

from __future__ import annotations

from enum import Enum

import pytest

from dispatch.triage import Answers, triage_call
from dispatch.triage.keywords import (
    CardText,
    Keyword,
    Lexicon,
    Reading,
    card_readings,
    find_matches,
    negated_at,
    normalise,
    readings,
    text_facts,
)
from dispatch.triage.protocol import load_protocol
from tests.triage.cases import NOW, OK


def ids(text: str) -> set[str]:
    return {m.keyword.id for m in find_matches(text=text, lexicon=load_protocol().lexicon)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("胸痛", {"KW-CHEST-PAIN"}),
        ("没有胸痛", set()),
        ("无胸闷", set()),
        ("否认胸痛，有抽搐", {"KW-SEIZURE"}),
        ("没有呼吸", {"KW-NOT-BREATHING"}),
        ("没有呼吸困难", set()),
        ("呼吸困难", {"KW-DYSPNOEA"}),
        ("not breathing", {"KW-NOT-BREATHING"}),
        ("not breathing normally", {"KW-DYSPNOEA"}),
        ("no chest pain but slurred speech", {"KW-SPEECH"}),
        ("CHEST PAIN", {"KW-CHEST-PAIN"}),
        ("shotgun", set()),
        ("口角歪斜，言语不清，肢体无力", {"KW-FACIAL-DROOP", "KW-SPEECH", "KW-WEAKNESS"}),
        ("从三楼坠落", {"KW-FALL"}),
        ("孕妇阴道出血", {"KW-PREGNANT", "KW-VAGINAL-BLEEDING"}),
        ("", set()),
    ],
)
def test_matches(text: str, expected: set[str]) -> None:
    assert ids(text) == expected


@pytest.mark.parametrize(
    ("answers", "complaint", "level", "conflict"),
    [
        # structured "breathing" wins over text "not breathing"
        (
            {
                "conscious": True,
                "breathing": True,
                "breathing_normally": True,
                "age_years": 50,
                "chest_pain": False,
            },
            "not breathing",
            4,
            "XCHECK-KW-NOT-BREATHING",
        ),
        # structured "conscious" wins over text 昏迷
        ({**OK, "age_years": 50, "chest_pain": False}, "昏迷", 4, "XCHECK-KW-UNCONSCIOUS"),
        # a structured answer can raise the level the text would suggest
        ({**OK, "age_years": 50, "chest_pain": True}, "胸痛", 2, None),
        # structured mechanism wins over text 车祸
        (
            {**OK, "age_years": 50, "mechanism": "fall", "fall_height_m": 1, "injuries": ["minor"]},
            "车祸",
            4,
            "XCHECK-KW-ROAD-TRAFFIC",
        ),
    ],
)
def test_structured_beats_text(
    answers: dict, complaint: str, level: int, conflict: str | None
) -> None:
    result = triage_call(Answers.model_validate(answers), complaint=complaint, now=NOW)
    assert int(result.acuity) == level
    if conflict:
        assert conflict in result.rule_ids
    assert not any(r.startswith("KW-") for r in result.rule_ids)


def test_matches_cache_follows_the_text_and_the_tables() -> None:
    """The match cache never serves one text's (or one table's) matches for another."""
    p = load_protocol()
    assert ids("胸痛") == {"KW-CHEST-PAIN"}
    assert ids("胸痛") == {"KW-CHEST-PAIN"}  # served from the cache
    assert ids("没有胸痛") == set()  # a changed text is matched anew
    assert ids("胸痛，有抽搐") == {"KW-CHEST-PAIN", "KW-SEIZURE"}
    # Same text, another lexicon: without the chest-pain keyword, or with a new negation.
    others = tuple(k for k in p.keywords if k.id != "KW-CHEST-PAIN")
    assert find_matches(text="胸痛", lexicon=Lexicon.build(keywords=others,
                                                          negations=p.negations)) == ()
    doubting = Lexicon.build(keywords=p.keywords, negations=(*p.negations, "怀疑"))
    assert find_matches(text="怀疑胸痛", lexicon=doubting) == ()
    assert ids("怀疑胸痛") == {"KW-CHEST-PAIN"}


def test_matches_cache_is_bounded() -> None:
    from dispatch.triage.keywords import MATCH_CACHE_SIZE, _find_matches

    p = load_protocol()
    for i in range(MATCH_CACHE_SIZE + 10):
        find_matches(text=f"胸痛 {i}", lexicon=p.lexicon)
    assert _find_matches.cache_info().currsize <= MATCH_CACHE_SIZE


# --- the matcher on a small lexicon: every role, the word edges, the overlaps

CP = Keyword("KW-CP", (("chest_pain", True),), ("胸痛", "Chest Pain"))
NB = Keyword("KW-NB", (("breathing", False),), ("没有呼吸", "not breathing"))
DYS = Keyword("KW-DYS", (("dyspnoea", True),), ("呼吸困难", "短气"))
XRAY = Keyword("KW-XRAY", (("imaging", True),), ("X光",))


def small_lexicon() -> Lexicon:
    """Built in each test, not at import: a mutated Lexicon.build must be the one run."""
    return Lexicon.build(keywords=(CP, NB, DYS, XRAY), negations=("没有", "无", "no"),
                         adjacent=("不",), breaks=("但是", "but"), neutral=("无缘无故", "短气球"))


def small(text: str) -> list[tuple[str, str, int, int]]:
    return [(m.keyword.id, m.phrase, m.start, m.end)
            for m in find_matches(text=text, lexicon=small_lexicon())]


def test_a_lexicon_counts_every_phrase_and_cue() -> None:
    assert small_lexicon().size == 7 + 3 + 1 + 2 + 2


def test_a_phrase_listed_twice_keeps_its_first_keyword() -> None:
    other = Keyword("KW-OTHER", (("chest_pain", False),), ("胸痛",))
    first = Lexicon.build(keywords=(CP, other), negations=())
    assert [m.keyword.id for m in find_matches(text="胸痛", lexicon=first)] == ["KW-CP"]
    # findings are entered before cues: a phrase that is both stays a finding
    also_a_cue = Lexicon.build(keywords=(CP,), negations=("胸痛",))
    assert [m.keyword.id for m in find_matches(text="胸痛", lexicon=also_a_cue)] == ["KW-CP"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the table's phrase is matched case-insensitively and reported as written
        ("CHEST PAIN", [("KW-CP", "Chest Pain", 0, 10)]),
        ("a chest pain", [("KW-CP", "Chest Pain", 2, 12)]),
        ("ＣＨＥＳＴ ＰＡＩＮ", [("KW-CP", "Chest Pain", 0, 10)]),
        # an English phrase only on word boundaries, a Chinese one anywhere
        ("chest pains", []),
        ("xchest pain", []),
        ("1chest pain", []),
        ("胸痛3天", [("KW-CP", "胸痛", 0, 2)]),
        ("3天胸痛", [("KW-CP", "胸痛", 2, 4)]),
        ("a胸痛", [("KW-CP", "胸痛", 1, 3)]),
        # a phrase ending in a Chinese character may touch a word after it
        ("x光3张", [("KW-XRAY", "X光", 0, 2)]),
        ("胸", []),
        # a longer phrase another starts inside and runs past gives way; a cue survives
        ("没有呼吸困难", []),
        ("没有呼吸", [("KW-NB", "没有呼吸", 0, 4)]),
        ("有呼吸困难", [("KW-DYS", "呼吸困难", 1, 5)]),
        # a phrase inside a longer one (an idiom here) is dropped
        ("短气球", []),
        ("短气", [("KW-DYS", "短气", 0, 2)]),
        ("无缘无故胸痛", [("KW-CP", "胸痛", 4, 6)]),
        # a clause cue reaches to the clause's end, unless a break word comes first
        ("无胸痛", []),
        ("no chest pain", []),
        ("nobody has chest pain", [("KW-CP", "Chest Pain", 11, 21)]),
        ("没有胸痛，呼吸困难", [("KW-DYS", "呼吸困难", 5, 9)]),
        ("无，胸痛", [("KW-CP", "胸痛", 2, 4)]),
        ("没有胸痛但是呼吸困难", [("KW-DYS", "呼吸困难", 6, 10)]),
        ("没有胸痛但是没有呼吸困难", []),
        ("no chest pain but not breathing", [("KW-NB", "not breathing", 18, 31)]),
        ("胸痛，没有呼吸困难", [("KW-CP", "胸痛", 0, 2)]),
        # an adjacent cue negates only the phrase it touches
        ("不胸痛", []),
        ("不会胸痛", [("KW-CP", "胸痛", 2, 4)]),
        ("胸痛不呼吸困难", [("KW-CP", "胸痛", 0, 2)]),
        ("", []),
    ],
)
def test_small_lexicon_matches(text: str, expected: list[tuple[str, str, int, int]]) -> None:
    assert small(text) == expected


@pytest.mark.parametrize(
    ("text", "start", "negated"),
    [("没有从6楼摔下来", 2, True), ("没有从6楼摔下来", 0, False), ("从6楼摔下来", 0, False),
     ("没有胸痛，从6楼摔下来", 5, False), ("没有胸痛但是从6楼摔下来", 6, False),
     ("不从6楼摔下来", 1, True), ("不会从6楼摔下来", 2, False), ("", 0, False)],
)
def test_a_number_read_at_a_place_is_negated_as_a_phrase_there(
    text: str, start: int, negated: bool
) -> None:
    assert negated_at(text=text, lexicon=small_lexicon(), start=start) is negated


def test_normalise_folds_full_width_forms_and_case() -> None:
    assert normalise("ＳｐＯ２：８５％ Chest") == "spo2:85% chest"


AGED = Keyword("KW-OLD", (("age_years", 75), ("elderly", True)), ("老人",), accepts=(65.0, 130.0))
BURN = Keyword("KW-BURN", (("burn", True),), ("大面积烧伤",), proposes="burns",
               card_answers=(("burns", "burn_size", "large"), ("burns", "face", True)))


def test_readings_and_card_readings_carry_the_phrase_and_the_keyword() -> None:
    lexicon = Lexicon.build(keywords=(AGED, BURN), negations=())
    matches = find_matches(text="老人大面积烧伤", lexicon=lexicon)
    assert readings(matches) == [
        Reading("age_years", 75, "老人", "KW-OLD", (65.0, 130.0)),
        Reading("elderly", True, "老人", "KW-OLD", (65.0, 130.0)),
        Reading("burn", True, "大面积烧伤", "KW-BURN", None),
    ]
    assert card_readings(matches) == [
        CardText("burns", None, None, "大面积烧伤", "KW-BURN"),
        CardText("burns", "burn_size", "large", "大面积烧伤", "KW-BURN"),
        CardText("burns", "face", True, "大面积烧伤", "KW-BURN"),
    ]
    assert card_readings(find_matches(text="老人", lexicon=lexicon)) == []


class _Mech(Enum):
    FALL = "fall"
    CAR = "car"


def test_text_facts_fill_gaps_and_report_disagreements() -> None:
    found = [
        Reading("age_years", 80.0, "80多岁", "NUM-AGE_YEARS", (80.0, 90.0)),
        Reading("age_years", 75, "老人", "KW-OLD", (65.0, 130.0)),
        Reading("spo2", 85, "血氧85", "NUM-SPO2"),
        Reading("injuries", ["head"], "头着地", "KW-HEAD"),
        Reading("injuries", ["pelvis", "head"], "骨盆骨折", "KW-PELVIS"),
        Reading("mechanism", "fall", "摔", "KW-FALL"),
        Reading("hr", 130, "心率130", "NUM-HR"),
        Reading("burns", ["face"], "脸烧伤", "KW-FACE"),
        Reading("conscious", False, "昏迷", "KW-UNCONSCIOUS"),
    ]
    answers = {"age_years": None, "spo2": None, "injuries": None, "mechanism": _Mech.CAR,
               "hr": 130, "burns": frozenset({_Mech.FALL}), "conscious": True}
    got = text_facts(answers=answers, found=found)
    assert got.filled == {
        "age_years": (80.0, "80多岁", "NUM-AGE_YEARS"),
        "spo2": (85, "血氧85", "NUM-SPO2"),
        "injuries": (["head", "pelvis"], "头着地, 骨盆骨折", "KW-HEAD"),
    }
    assert got.conflicts == (
        ("mechanism", "car", "fall", "摔", "KW-FALL"),
        ("burns", ["fall"], ["face"], "脸烧伤", "KW-FACE"),
        ("conscious", True, False, "昏迷", "KW-UNCONSCIOUS"),
    )


@pytest.mark.parametrize(
    ("given", "reading", "agrees"),
    [
        # a range agrees from its low end up to, not including, its high end
        (80, Reading("age_years", 80.0, "80多岁", "N", (80.0, 90.0)), True),
        (89.9, Reading("age_years", 80.0, "80多岁", "N", (80.0, 90.0)), True),
        (90, Reading("age_years", 80.0, "80多岁", "N", (80.0, 90.0)), False),
        (79, Reading("age_years", 80.0, "80多岁", "N", (80.0, 90.0)), False),
        # a set fact agrees when the answer holds every member the text names
        (["head", "pelvis"], Reading("injuries", ["head"], "p", "K"), True),
        (["head"], Reading("injuries", ["head"], "p", "K"), True),
        (["pelvis"], Reading("injuries", ["head"], "p", "K"), False),
        # otherwise the values must be equal; a range is for numbers only
        ("75", Reading("age_years", 75, "老人", "K", (65.0, 130.0)), False),
        (True, Reading("conscious", True, "p", "K"), True),
        (False, Reading("conscious", True, "p", "K"), False),
    ],
)
def test_an_answer_agrees_with_a_reading(given: object, reading: Reading, agrees: bool) -> None:
    conflicts = text_facts(answers={reading.fact: given}, found=[reading]).conflicts
    assert (conflicts == ()) is agrees
