"""Work held until a moment, handed out by whoever is awake then.

The intake's crews clear each vehicle a hold after its assignment. A timer per clear wakes
the harness's loop once more per call, and on a virtual machine a wake-up of an idle loop
costs ~0.15 ms of CPU (more than the clear's own request), so due clears go out at the next
moment the loop is awake anyway (the next call's send), and a timer is only set when no
send is left to carry them. Pure: the clock is passed in.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["DueQueue"]

T = TypeVar("T")


@dataclass
class DueQueue(Generic[T]):
    """Items, each due at a moment (seconds on the caller's clock), taken once due."""

    _heap: list[tuple[float, int, T]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def __len__(self) -> int:
        return len(self._heap)

    def put(self, due: float, item: T) -> None:
        """Hold `item` until `due`."""
        heapq.heappush(self._heap, (due, next(self._order), item))

    def next_due(self) -> float | None:
        """When the earliest item falls due; None when empty."""
        return self._heap[0][0] if self._heap else None

    def take_due(self, now: float) -> list[T]:
        """Every item due at or before `now`, earliest first (equal moments: in order put)."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            out.append(heapq.heappop(self._heap)[2])
        return out
