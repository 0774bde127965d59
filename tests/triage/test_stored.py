"""Re-triage on the stored card: the card a call was taken on keeps counting, unless the
card table no longer reads it (then it is dropped, not a reason to refuse the crew)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest

from dispatch.errors import TriageError
from dispatch.triage import Answers, Findings, retriage, retriage_on_card, triage_call
from dispatch.triage.protocol import load_protocol

NOW = load_protocol().card_table.evaluated_at
ANSWERS = Answers(chest_pain=True, age_years=60, conscious=True, breathing=True)
FINDINGS = Findings(spo2=85)


@pytest.mark.parametrize("findings", [None, FINDINGS])
@pytest.mark.parametrize(("stored", "used"), [
    # the card and its answers count as at intake
    ({"card": "chest_pain", "card_answers": {"conscious": True}},
     ("chest_pain", {"conscious": True})),
    # no card stored: none used
    ({}, (None, None)),
    # the table no longer has the card, or no longer reads an answer: dropped
    ({"card": "no_such_card", "card_answers": {}}, (None, None)),
    ({"card": "chest_pain", "card_answers": {"substance": "pesticide"}}, (None, None)),
])
def test_the_stored_card_counts_while_the_table_reads_it(
    stored: dict[str, Any], used: tuple[str | None, dict[str, Any] | None],
    findings: Findings | None,
) -> None:
    got = retriage_on_card(ANSWERS, findings, complaint="胸痛", now=NOW, stored=stored,
                           call_id=uuid4())
    card, card_answers = used
    if findings is None:
        want = triage_call(ANSWERS, complaint="胸痛", now=NOW, card=card,
                           card_answers=card_answers)
    else:
        want = retriage(ANSWERS, findings, complaint="胸痛", now=NOW, card=card,
                        card_answers=card_answers)
    assert got.to_dict() == want.to_dict()


def test_an_error_not_about_the_card_is_raised() -> None:
    with pytest.raises(TriageError) as caught:
        retriage_on_card(ANSWERS, None, complaint="", now=datetime(2025, 1, 1),  # noqa: DTZ001
                         stored={"card": "chest_pain", "card_answers": {}}, call_id=uuid4())
    assert caught.value.field == "now"


def test_a_dropped_card_is_logged_with_the_call_and_the_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    call_id = uuid4()
    with caplog.at_level(logging.WARNING, logger="dispatch.triage.stored"):
        retriage_on_card(ANSWERS, FINDINGS, complaint="", now=NOW, call_id=call_id,
                         stored={"card": "no_such_card", "card_answers": {}})
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [(
        "WARNING", f"call {call_id}: stored card 'no_such_card' no longer reads (card: no "
                   "chief-complaint card 'no_such_card'); re-triaged without it")]


def test_answers_stored_without_a_card_are_refused_not_dropped() -> None:
    # only a stored card is dropped: answers with no card to read them are an error
    with pytest.raises(TriageError) as caught:
        retriage_on_card(ANSWERS, None, complaint="", now=NOW, call_id=uuid4(),
                         stored={"card_answers": {"conscious": True}})
    assert (caught.value.field, caught.value.message) == (
        "card", "card_answers need the card they answer")


@pytest.mark.parametrize("findings", [None, FINDINGS])
def test_the_complaint_is_read_on_the_stored_card(findings: Findings | None) -> None:
    got = retriage_on_card(ANSWERS, findings, complaint="人昏迷了", now=NOW, call_id=uuid4(),
                           stored={"card": "chest_pain", "card_answers": {}})
    assert "XCHECK-KW-UNCONSCIOUS" in got.rule_ids
