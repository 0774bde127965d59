"""Complaint-text keywords: a fallback that fills unanswered questions, and a cross-check.

A keyword never overrides a structured answer: it fills a None, and where the caller's
structured answer disagrees the answer stays and the conflict is reported so the
call-taker can confirm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dispatch.triage.protocol import Keyword


@dataclass(frozen=True, slots=True)
class Match:
    keyword: Keyword
    phrase: str
    start: int
    end: int


def _is_ascii(text: str) -> bool:
    """English phrases match on word boundaries; Chinese ones anywhere."""
    return text.isascii()


def _negation_pattern(negations: tuple[str, ...]) -> re.Pattern[str]:
    """A regex for a negation cue right before a match."""
    parts = [
        rf"\b{re.escape(n)}\s+" if _is_ascii(n) else re.escape(n)
        for n in sorted(negations, key=len, reverse=True)
    ]
    return re.compile(rf"(?:{'|'.join(parts)})$")


# A call's complaint text does not change while its crew's findings re-triage it every few
# seconds; the matches are a pure function of the text and the tables, so each distinct
# (text, keywords, negations) is matched once. Bounded: an instance sees a few thousand
# live calls at most, and an evicted text is only matched again.
MATCH_CACHE_SIZE = 4_096


def find_matches(
    *, text: str, keywords: tuple[Keyword, ...], negations: tuple[str, ...]
) -> tuple[Match, ...]:
    """Keyword matches in the text that are neither negated nor part of a longer phrase."""
    # Keyed on the tables too: other keywords or negations never get this text's matches.
    return _find_matches(text, keywords, negations)


@lru_cache(maxsize=MATCH_CACHE_SIZE)
def _find_matches(
    text: str, keywords: tuple[Keyword, ...], negations: tuple[str, ...]
) -> tuple[Match, ...]:
    lowered = text.lower()
    found: list[Match] = []
    for keyword in keywords:
        for phrase in keyword.phrases:
            needle = phrase.lower()
            pattern = rf"\b{re.escape(needle)}\b" if _is_ascii(needle) else re.escape(needle)
            for hit in re.finditer(pattern, lowered):
                found.append(
                    Match(keyword=keyword, phrase=phrase, start=hit.start(), end=hit.end())
                )
    negated = _negation_pattern(negations)
    kept: list[Match] = []
    for m in found:
        # "没有呼吸困难" holds both 没有呼吸 and 呼吸困难: the phrase that runs on wins,
        # so a match another keyword's match extends past is a prefix, not a finding.
        if any(o.start < m.end < o.end and o.start >= m.start and o is not m for o in found):
            continue
        if negated.search(lowered[max(0, m.start - 16) : m.start]):
            continue
        kept.append(m)
    return tuple(sorted(kept, key=lambda m: (m.start, m.keyword.id)))


@dataclass(frozen=True, slots=True)
class TextFacts:
    """What the text contributed: facts filled, and conflicts with structured answers."""

    filled: dict[str, tuple[Any, Match]]
    conflicts: tuple[tuple[str, Any, Any, Match], ...]


def text_facts(*, answers: dict[str, Any], matches: tuple[Match, ...]) -> TextFacts:
    """Split matches into fills (answer None) and conflicts (answer disagrees)."""
    filled: dict[str, tuple[Any, Match]] = {}
    conflicts: list[tuple[str, Any, Any, Match]] = []
    for m in matches:
        fact, value = m.keyword.fact, m.keyword.value
        given = answers.get(fact)
        given_plain = getattr(given, "value", given)
        if given is None:
            # first match in reading order wins if two keywords fill one fact
            filled.setdefault(fact, (value, m))
        elif given_plain != value:
            conflicts.append((fact, given_plain, value, m))
    return TextFacts(filled=filled, conflicts=tuple(conflicts))
