"""Complaint text: fills unanswered questions, never overrides answers, respects negation."""

from __future__ import annotations

import pytest

from dispatch.triage import Answers, triage_call
from dispatch.triage.keywords import Lexicon, find_matches
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
