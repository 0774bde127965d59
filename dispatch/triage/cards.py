"""Chief-complaint cards: the call-taker's structured protocol, as data (tables/cards.json).

A card names the complaint (MPDS protocol, Danish Index chapter, CN grading), lists its
key questions in the order they are asked (zh and en wording), and says what each answer
means in the facts the engine already knows: an `Answers` field (`field`, `if_yes` /
`if_no`, a choice's `sets`), or a measurement the caller reads out (`vital`, used like a
vital sign read from the complaint text: a crew's measurement wins). A question with
none of these is read only by the card's own rules, as the fact `card.<question id>`.

The card's determinants state what the engine decides for a sample of answers (level,
transport class, pathway); the tests evaluate each one. The card's `rules` are ordinary
rules in the table language (rules.json), evaluated only on a call taken on that card.

Pure: validation and translation only; the engine merges the result (structured answers
win over the card's, the card's over the complaint text).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from dispatch.errors import TriageError
from dispatch.triage.inputs import Answers, Findings

CARD_FACT = "card"
# every card whose rules apply: the card taken, or with none taken those the text names
CARDS_FACT = "cards"
CARD_ANSWER_PREFIX = "card."
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _answers_check(sets: Mapping[str, Any], where: str) -> None:
    """A card's effect must be a set of Answers fields with values Answers accepts."""
    try:
        Answers.model_validate(sets)
    except ValidationError as exc:
        raise ValueError(f"{where}: {exc.errors()[0]['msg']}") from exc


class Choice(_Data):
    value: Identifier
    label_zh: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    sets: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Choice:
        _answers_check(self.sets, f"choice {self.value}")
        return self


class Question(_Data):
    """One key question; `type` is what the answer must be (bool, number, choice, time)."""

    id: Identifier
    text_zh: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    type: Literal["bool", "number", "choice", "datetime"]
    field: str | None = None  # the answer is this Answers field's value
    divide_by: float | None = Field(None, gt=0)  # e.g. days -> years for age_years
    vital: str | None = None  # the answer is this measurement (Findings field)
    if_yes: dict[str, Any] | None = None
    if_no: dict[str, Any] | None = None
    choices: tuple[Choice, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> Question:
        where = f"question {self.id}"
        if self.field is not None and self.field not in Answers.model_fields:
            raise ValueError(f"{where}: {self.field!r} is not an Answers field")
        if self.vital is not None and self.vital not in Findings.model_fields:
            raise ValueError(f"{where}: {self.vital!r} is not a measured finding")
        if (self.type == "choice") != (self.choices is not None):
            raise ValueError(f"{where}: a choice question, and only it, lists choices")
        if (self.if_yes or self.if_no) and self.type != "bool":
            raise ValueError(f"{where}: if_yes / if_no are for yes-no questions")
        if self.vital is not None and (self.type != "number" or self.field is not None):
            raise ValueError(f"{where}: a vital is a number and sets no answer field")
        for name, sets in (("if_yes", self.if_yes), ("if_no", self.if_no)):
            if sets is not None:
                _answers_check(sets, f"{where} {name}")
        if self.choices is not None and len({c.value for c in self.choices}) != len(
                self.choices):
            raise ValueError(f"{where}: choice values repeat")
        return self

    @property
    def card_only(self) -> bool:
        """Read only by the card's rules (no answer field, no measurement)."""
        return (self.field is None and self.vital is None and not self.if_yes
                and not self.if_no and not any(c.sets for c in self.choices or ()))


class Determinant(_Data):
    """A determinant: sample answers and the level, class and pathway they must give."""

    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]*$")
    text_zh: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    source: str = Field(min_length=1)
    answers: dict[str, Any]
    level: int = Field(ge=1, le=4)
    transport_class: Literal["emergency", "non_emergency"]
    pathway: str | None


class Card(_Data):
    id: Identifier
    codes: str = Field(min_length=1)  # MPDS protocol / Danish Index chapter it follows
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    source: str = Field(min_length=1)
    sets: dict[str, Any] = Field(default_factory=dict)  # what taking this card implies
    questions: tuple[Question, ...] = Field(min_length=1)
    rules: tuple[dict[str, Any], ...] = ()
    determinants: tuple[Determinant, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Card:
        _answers_check(self.sets, f"card {self.id} sets")
        ids = [q.id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError(f"card {self.id}: question ids repeat")
        return self

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)


class CardTable(_Data):
    version: str = Field(min_length=1)
    about: str
    # the `now` at which the determinants' sample answers are evaluated (onset times)
    evaluated_at: AwareDatetime
    common_questions: dict[str, Question]
    cards: tuple[Card, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, raw: Any) -> Any:
        """A card may name a common question by its id instead of writing it out."""
        if not isinstance(raw, dict):
            return raw
        common = raw.get("common_questions", {})
        cards = []
        for card in raw.get("cards", ()):
            questions = []
            for q in card.get("questions", ()):
                if isinstance(q, str):
                    if q not in common:
                        raise ValueError(f"card {card.get('id')}: no common question {q!r}")
                    q = {"id": q, **common[q]}
                questions.append(q)
            cards.append({**card, "questions": questions})
        return {**raw, "cards": cards,
                "common_questions": {k: {"id": k, **v} for k, v in common.items()}}


@dataclass(frozen=True, slots=True)
class CardReading:
    """What a card and its answers say, with the question behind each value."""

    card: str
    # Answers field -> (typed value, question id or "card" for the card's own sets)
    fills: dict[str, tuple[Any, str]] = field(default_factory=dict)
    # measured finding -> (value, question id)
    vitals: dict[str, tuple[Any, str]] = field(default_factory=dict)
    # facts only the card's rules read: "card.<question id>" -> answer
    facts: dict[str, Any] = field(default_factory=dict)


def _refuse(qid: str, reason: str) -> TriageError:
    return TriageError(reason, field=f"card_answers.{qid}")


def _typed(question: Question, value: Any) -> Any:
    """The answer checked against the question's type (a 422 names the question)."""
    qid = question.id
    if question.type == "bool":
        if not isinstance(value, bool):
            raise _refuse(qid, "answer true or false")
    elif question.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise _refuse(qid, "answer a finite number")
    elif question.type == "choice":
        allowed = [c.value for c in question.choices or ()]
        if value not in allowed:
            raise _refuse(qid, f"answer one of {allowed}")
    elif question.type == "datetime":
        if not isinstance(value, str | datetime):
            raise _refuse(qid, "answer an ISO 8601 time with its time zone")
    return value


def text_answer(card: Card, qid: str, value: Any) -> Any:
    """A card-only answer the lexicon or the text's numbers give, checked as the card's
    own answer would be (a table error names the card and question)."""
    question = card.question(qid)
    if question is None or not question.card_only:
        raise TriageError(f"card {card.id}: {qid!r} is not a card-only question")
    return _typed(question, value)


def _validated(fields: Mapping[str, Any], *, qid: str) -> dict[str, Any]:
    """Fields as Answers types them (enums, sets, times); a bad value names the question."""
    try:
        answers = Answers.model_validate(fields)
    except ValidationError as exc:
        raise _refuse(qid, exc.errors()[0]["msg"]) from exc
    return {name: getattr(answers, name) for name in fields}


def _effect(question: Question, value: Any) -> dict[str, Any]:
    """The Answers fields one answer sets."""
    if question.field is not None:
        scaled = value / question.divide_by if question.divide_by else value
        return {question.field: scaled}
    if question.type == "bool":
        return dict((question.if_yes if value else question.if_no) or {})
    if question.choices is not None:
        return dict(next(c.sets for c in question.choices if c.value == value))
    return {}


def read_card(card: Card, answers: Mapping[str, Any]) -> CardReading:
    """Translate a card's answers to the engine's facts. The card's own `sets` come first,
    then each question in the card's order (a later answer beats an earlier one for the
    same field; injuries add up)."""
    unknown = [qid for qid in answers if card.question(qid) is None]
    if unknown:
        raise _refuse(unknown[0], f"not a question of card {card.id!r}")
    reading = CardReading(card=card.id)
    for name, value in _validated(card.sets, qid=CARD_FACT).items():
        reading.fills[name] = (value, CARD_FACT)
    for question in card.questions:
        if question.id not in answers or answers[question.id] is None:
            continue
        value = _typed(question, answers[question.id])
        reading.facts[CARD_ANSWER_PREFIX + question.id] = value
        if question.vital is not None:
            try:
                Findings.model_validate({question.vital: value})
            except ValidationError as exc:
                raise _refuse(question.id, exc.errors()[0]["msg"]) from exc
            reading.vitals[question.vital] = (value, question.id)
            continue
        for name, typed in _validated(_effect(question, value), qid=question.id).items():
            if name == "injuries" and name in reading.fills:
                typed = reading.fills[name][0] | typed
            reading.fills[name] = (typed, question.id)
    return reading


def card_facts_known(card: Card) -> frozenset[str]:
    """The card-only facts its rules may read."""
    return frozenset(CARD_ANSWER_PREFIX + q.id for q in card.questions)
