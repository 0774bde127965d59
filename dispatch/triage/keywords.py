"""Complaint text: the lexicon's phrases found in what the call-taker typed, with negation.

A phrase never overrides a structured answer: it fills a None, and where the caller's
structured answer disagrees the answer stays and the conflict is reported so the
call-taker can confirm.

Matching is one pass over the text with a character trie of every phrase (findings,
negation cues, clause-internal "but" words and neutral idioms), so its cost grows with
the text, not with the size of the lexicon. Overlaps resolve as a reader would:
- a phrase that another phrase starts inside and runs past is dropped ("没有呼吸困难":
  没有呼吸 gives way to 呼吸困难, and 没有 is left as a negation cue);
- a phrase inside a longer one is dropped (没 inside 人没气了, no inside "no pulse").
A finding is negated when a clause-level cue (没有, 无, 否认, denies, no ...) precedes it
in its clause with no "but" word (但是, 却, but ...) between, or when an adjacent cue
(不, 没, 未) touches it. Clauses end at ，。；！？,.;!? and line ends.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any


@dataclass(frozen=True, slots=True)
class Keyword:
    """A group of phrases and the facts each of them sets."""

    id: str
    facts: tuple[tuple[str, Any], ...]
    phrases: tuple[str, ...]
    # for an age group (老人 -> 75): the answered ages that agree with it
    accepts: tuple[float, float] | None = None
    # the chief-complaint card the phrase names (大面积烧伤 -> burns): its rules apply to a
    # call taken on no card
    proposes: str | None = None
    # answers to card-only questions (card, question, value): 大面积烧伤 -> burns.burn_size
    card_answers: tuple[tuple[str, str, Any], ...] = ()


class Role(Enum):
    FINDING = "finding"
    NEGATION = "negation"  # negates later findings in its clause
    ADJACENT = "adjacent"  # negates only a finding that starts where it ends
    BREAK = "break"  # ends a negation's reach inside a clause
    NEUTRAL = "neutral"  # idioms that are neither (无缘无故, 不舒服, fell asleep)


CLAUSE_ENDS = frozenset("，。；！？,.;!?\n\r")


def normalise(text: str) -> str:
    """Full-width forms to ASCII (ＳｐＯ２, ８５, ：), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True, slots=True)
class _Entry:
    role: Role
    phrase: str
    keyword: Keyword | None = None


@dataclass(frozen=True, slots=True)
class Match:
    keyword: Keyword
    phrase: str
    start: int
    end: int


@dataclass(frozen=True, slots=True, eq=False)
class Lexicon:
    """Every phrase of the keyword table in one trie (compared by identity: one per table)."""

    trie: dict[str, Any] = field(repr=False)
    size: int

    @classmethod
    def build(
        cls,
        *,
        keywords: tuple[Keyword, ...],
        negations: tuple[str, ...],
        adjacent: tuple[str, ...] = (),
        breaks: tuple[str, ...] = (),
        neutral: tuple[str, ...] = (),
    ) -> Lexicon:
        trie: dict[str, Any] = {}
        entries = [
            *(_Entry(Role.FINDING, p, k) for k in keywords for p in k.phrases),
            *(_Entry(Role.NEGATION, p) for p in negations),
            *(_Entry(Role.ADJACENT, p) for p in adjacent),
            *(_Entry(Role.BREAK, p) for p in breaks),
            *(_Entry(Role.NEUTRAL, p) for p in neutral),
        ]
        for entry in entries:
            node = trie
            for char in normalise(entry.phrase):
                node = node.setdefault(char, {})
            # first entry wins a phrase listed twice (the table's order)
            node.setdefault("", entry)
        return cls(trie=trie, size=len(entries))


def _word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    entry: _Entry


def _spans(text: str, trie: dict[str, Any]) -> list[_Span]:
    """Every phrase occurrence; ASCII phrases only on word boundaries."""
    found: list[_Span] = []
    n = len(text)
    for start in range(n):
        node = trie.get(text[start])
        if node is None:
            continue
        if _word_char(text[start]) and start > 0 and _word_char(text[start - 1]):
            continue  # inside an English word
        end = start + 1
        while True:
            entry = node.get("")
            if entry is not None and not (
                _word_char(text[end - 1]) and end < n and _word_char(text[end])
            ):
                found.append(_Span(start, end, entry))
            if end >= n:
                break
            node = node.get(text[end])
            if node is None:
                break
            end += 1
    return found


def _resolve(spans: list[_Span]) -> list[_Span]:
    """Drop phrases another runs past from inside, then phrases inside longer ones."""
    # decided right to left, so a phrase only gives way to one that itself survives
    # ("没有呼吸困难": 有呼吸 gives way to 呼吸困难, and so cannot displace the cue 没有)
    runs_on: list[_Span] = []
    for s in sorted(spans, key=lambda s: -s.start):
        if not any(s.start < o.start < s.end < o.end for o in runs_on):
            runs_on.append(s)
    return [
        s for s in runs_on
        if not any(
            o is not s and o.start <= s.start and s.end <= o.end
            and (o.end - o.start) > (s.end - s.start)
            for o in runs_on
        )
    ]


def _negated(finding: _Span, spans: tuple[_Span, ...], text: str) -> bool:
    """A cue before the finding in its clause, with no break between, negates it."""
    clause_start = finding.start
    while clause_start > 0 and text[clause_start - 1] not in CLAUSE_ENDS:
        clause_start -= 1
    reach = False
    for s in spans:  # in text order
        if s.start >= finding.start:
            break
        if s.start < clause_start:
            continue
        role = s.entry.role
        if role is Role.NEGATION:
            reach = True
        elif role is Role.BREAK:
            reach = False
        elif role is Role.ADJACENT and s.end == finding.start:
            return True
    return reach


# A call's complaint text does not change while its crew's findings re-triage it every few
# seconds; the matches are a pure function of the text and the lexicon, so each distinct
# (text, lexicon) is matched once. Bounded: an instance sees a few thousand live calls at
# most, and an evicted text is only matched again.
MATCH_CACHE_SIZE = 4_096


@lru_cache(maxsize=MATCH_CACHE_SIZE)
def _analysed(text: str, lexicon: Lexicon) -> tuple[str, tuple[_Span, ...]]:
    """The normalised text and its resolved phrases, cues and idioms in text order."""
    lowered = normalise(text)
    return lowered, tuple(sorted(_resolve(_spans(lowered, lexicon.trie)),
                                 key=lambda s: (s.start, s.end)))


def negated_at(*, text: str, lexicon: Lexicon, start: int) -> bool:
    """Whether something read at `start` of the normalised text (a number: 没有从6楼摔下)
    is negated as a finding starting there would be."""
    lowered, spans = _analysed(text, lexicon)
    probe = _Span(start, start, _Entry(Role.FINDING, ""))
    return _negated(probe, spans, lowered)


def find_matches(*, text: str, lexicon: Lexicon) -> tuple[Match, ...]:
    """Findings in the text that are not negated, in reading order."""
    return _find_matches(text, lexicon)


@lru_cache(maxsize=MATCH_CACHE_SIZE)
def _find_matches(text: str, lexicon: Lexicon) -> tuple[Match, ...]:
    lowered, spans = _analysed(text, lexicon)
    kept: list[Match] = []
    for s in spans:
        if s.entry.role is not Role.FINDING or s.entry.keyword is None:
            continue
        if _negated(s, spans, lowered):
            continue
        kept.append(Match(keyword=s.entry.keyword, phrase=s.entry.phrase,
                          start=s.start, end=s.end))
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class TextFacts:
    """What the text contributed: facts filled, and conflicts with structured answers."""

    filled: dict[str, tuple[Any, str, str]]  # fact -> (value, phrase, keyword id)
    conflicts: tuple[tuple[str, Any, Any, str, str], ...]  # fact, answer, text, phrase, id


@dataclass(frozen=True, slots=True)
class Reading:
    """One fact read from the text: a phrase's value, or a number (numbers come first)."""

    fact: str
    value: Any
    phrase: str
    source_id: str
    # for an age group (老人 -> 75) or a rounded number (80多岁): the answers it agrees with
    accepts: tuple[float, float] | None = None


def readings(matches: tuple[Match, ...]) -> list[Reading]:
    """The facts each match sets, in reading order."""
    return [
        Reading(fact, value, m.phrase, m.keyword.id, m.keyword.accepts)
        for m in matches
        for fact, value in m.keyword.facts
    ]


@dataclass(frozen=True, slots=True)
class CardText:
    """What the text says about a chief-complaint card: the card it names (`question`
    None), or an answer to one of its card-only questions."""

    card: str
    question: str | None
    value: Any
    phrase: str
    source_id: str


def card_readings(matches: tuple[Match, ...]) -> list[CardText]:
    """Cards named and card-only answers given by each match, in reading order."""
    out: list[CardText] = []
    for m in matches:
        if m.keyword.proposes is not None:
            out.append(CardText(m.keyword.proposes, None, None, m.phrase, m.keyword.id))
        out += [CardText(card, qid, value, m.phrase, m.keyword.id)
                for card, qid, value in m.keyword.card_answers]
    return out


def _agrees(given: Any, reading: Reading) -> bool:
    if isinstance(reading.value, list):  # a set fact (injuries): the text adds members
        return set(reading.value) <= set(given)
    if reading.accepts is not None and isinstance(given, int | float):
        low, high = reading.accepts
        return low <= given < high
    return bool(given == reading.value)


def text_facts(*, answers: dict[str, Any], found: list[Reading]) -> TextFacts:
    """Split readings into fills (answer None) and conflicts (answer disagrees)."""
    filled: dict[str, tuple[Any, str, str]] = {}
    conflicts: list[tuple[str, Any, Any, str, str]] = []
    for r in found:
        given = answers.get(r.fact)
        given_plain = getattr(given, "value", given)
        if isinstance(given_plain, frozenset | set | tuple | list):
            given_plain = sorted(getattr(v, "value", v) for v in given_plain)
        if given is None:
            if isinstance(r.value, list) and r.fact in filled:
                # a set fact collects every member the text names
                value, phrase, rid = filled[r.fact]
                filled[r.fact] = (sorted({*value, *r.value}), f"{phrase}, {r.phrase}", rid)
            else:
                # the first reading in order wins (numbers are read before phrases)
                filled.setdefault(r.fact, (r.value, r.phrase, r.source_id))
        elif not _agrees(given_plain, r):
            conflicts.append((r.fact, given_plain, r.value, r.phrase, r.source_id))
    return TextFacts(filled=filled, conflicts=tuple(conflicts))
