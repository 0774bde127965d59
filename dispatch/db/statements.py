"""Counting the statements a piece of work sends to PostgreSQL.

A context variable, so a count covers one request (and the tasks it starts) whatever else
the process runs meanwhile: tests bound the round trips of a hot path with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class StatementCount:
    n: int = 0
    texts: list[str] = field(default_factory=list)


_current: ContextVar[StatementCount | None] = ContextVar("statement_count", default=None)


@contextmanager
def counting_statements() -> Iterator[StatementCount]:
    """Count every statement sent through the pool's connections inside the block."""
    count = StatementCount()
    token = _current.set(count)
    try:
        yield count
    finally:
        _current.reset(token)


def note_statement(query: str) -> None:
    count = _current.get()
    if count is not None:
        count.n += 1
        count.texts.append(query)
