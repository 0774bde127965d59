"""Counting what a piece of work sends: statements to PostgreSQL (dispatch.db.statements),
exchanges with Redis (dispatch.realtime.resp).

A context variable, so a count covers one request (and the tasks it starts) whatever else
the process runs meanwhile: tests bound the round trips of a hot path with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Tally(Generic[T]):
    """How many were sent, and what each was."""

    n: int = 0
    items: list[T] = field(default_factory=list)

    def note(self, item: T) -> None:
        self.n += 1
        self.items.append(item)


class Tallies(Generic[T]):
    """One kind of thing counted: `counting()` opens a count, senders note to `current()`."""

    def __init__(self, name: str) -> None:
        self._current: ContextVar[Tally[T] | None] = ContextVar(name, default=None)

    @contextmanager
    def counting(self) -> Iterator[Tally[T]]:
        """Count what is sent inside the block (and the tasks it starts)."""
        tally: Tally[T] = Tally()
        token = self._current.set(tally)
        try:
            yield tally
        finally:
            self._current.reset(token)

    def current(self) -> Tally[T] | None:
        """The open count, if any (one context-variable read: cheap on a hot path)."""
        return self._current.get()
