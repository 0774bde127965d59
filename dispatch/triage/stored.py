"""Triage again on the chief-complaint card a call was taken on.

Pure: no I/O, no clock (`now` is passed in).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from dispatch.errors import TriageError
from dispatch.triage.engine import retriage, triage_call
from dispatch.triage.inputs import Answers, Findings
from dispatch.triage.result import TriageResult

log = logging.getLogger(__name__)


def retriage_on_card(
    answers: Answers, findings: Findings | None, *, complaint: str, now: datetime,
    stored: Mapping[str, Any], call_id: UUID,
) -> TriageResult:
    """Triage a call again with the chief-complaint card it was taken on (`stored`: the
    call's stored triage, which keeps `card` and `card_answers`). A card or card answer
    the current card table no longer reads (the table changed since intake) must not
    block a crew's re-triage: it is dropped, and logged."""
    card, card_answers = stored.get("card"), stored.get("card_answers")
    while True:
        try:
            if findings is not None:
                return retriage(answers, findings, complaint=complaint, now=now, card=card,
                                card_answers=card_answers)
            return triage_call(answers, complaint=complaint, now=now, card=card,
                               card_answers=card_answers)
        except TriageError as exc:
            if card is None or not (exc.field or "").startswith("card"):
                raise
            log.warning("call %s: stored card %r no longer reads (%s: %s); re-triaged "
                        "without it", call_id, card, exc.field, exc.message)
            card, card_answers = None, None
