"""How a triage reason names an input and shows a value in zh-CN (the default language).

The English reasons name the input by its field name; the Chinese ones by the label the
call-taker's card already shows (the schema's `label_zh`), or a card question's wording.
Pure.
"""

from __future__ import annotations

from typing import Any

from dispatch.triage.cards import CARD_ANSWER_PREFIX, Card
from dispatch.triage.inputs import Answers, Findings


def input_zh(name: str, *, card: Card | None = None) -> str:
    """The zh-CN label of an answer, a finding or a card question ("card.<id>")."""
    if name.startswith(CARD_ANSWER_PREFIX) and card is not None:
        question = card.question(name.removeprefix(CARD_ANSWER_PREFIX))
        if question is not None:
            return question.text_zh
    for model in (Answers, Findings):
        info = model.model_fields.get(name)
        extra = info.json_schema_extra if info is not None else None
        if isinstance(extra, dict) and isinstance(extra.get("label_zh"), str):
            return str(extra["label_zh"])
    return name


def question_zh(card: Card, qid: str) -> str:
    """A card question's zh-CN wording."""
    return input_zh(CARD_ANSWER_PREFIX + qid, card=card)


def value_zh(value: Any, *, card: Card | None = None, question: str | None = None) -> str:
    """A value as a Chinese reason shows it: 是/否, a choice by its zh label, lists joined."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if card is not None and question is not None:
        asked = card.question(question)
        for choice in (asked.choices or ()) if asked is not None else ():
            if choice.value == value:
                return choice.label_zh
    if isinstance(value, list | tuple | frozenset | set):
        return "、".join(value_zh(v) for v in sorted(value, key=str))
    return str(getattr(value, "value", value))
