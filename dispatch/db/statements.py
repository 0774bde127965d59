"""Counting the statements a piece of work sends to PostgreSQL (see dispatch.tally):
tests bound the round trips of a hot path with `counting_statements()`."""

from __future__ import annotations

from dispatch.tally import Tallies

STATEMENTS: Tallies[str] = Tallies("statement_count")
counting_statements = STATEMENTS.counting


def note_statement(query: str) -> None:
    if (tally := STATEMENTS.current()) is not None:
        tally.note(query)
