"""The widening nearest-vehicle search, answered from one GEOSEARCH instead of one per step.

The search rule (what `dispatch.flows.candidates` has always asked for): try the radii of
the schedule in turn (`ranking.search_radii_m`); at each, take per kind the `count` nearest
within it; stop at the first radius where all kinds together offer `count` units, or at
the last. One search per kind of any radius R, nearest first and COUNT `count`, holds the
answer of every step whose radius is <= R, because the `count` nearest within a smaller
circle are the `count` nearest within the larger one cut to it. So `settle` reads the stop
from one wide search, and `RadiusMemory` picks R from the stops of recent searches: wide
enough that one round trip usually suffices, no wider (GEOSEARCH's cost grows with the
members inside R; measured in loadtests/bench_geo.py).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Sequence
from typing import Protocol

from dispatch.errors import GeoError

# Recent stops remembered per search shape, and the share of them the first radius covers.
# At 0.9 a tenth of searches need a second round trip; the first radius stays at the 90th
# percentile of what searches needed instead of growing to the rare worst case.
MEMORY = 64
COVER = 0.9
# Fewer remembered stops than this and the first search is the widest (always one trip).
MIN_SEEN = 8


class Found(Protocol):
    @property
    def distance_m(self) -> float: ...


def settle(
    by_kind: Sequence[Sequence[Found]], *, radii: Sequence[float], searched_m: float,
    count: int,
) -> float | None:
    """The radius of `radii` the widening search stops at, judged from one search of
    radius `searched_m` (per kind, its `count` nearest); None when that is beyond it."""
    if not radii or count < 1:
        raise GeoError("radii must be non-empty and count >= 1", field="count")
    for r in radii:
        if r > searched_m:
            return None
        if sum(min(count, sum(1 for n in rows if n.distance_m <= r)) for rows in by_kind) >= count:
            return r
    return radii[-1]


class RadiusMemory:
    """The radii recent searches stopped at, per search shape (kinds and count)."""

    def __init__(self, *, memory: int = MEMORY, cover: float = COVER,
                 min_seen: int = MIN_SEEN) -> None:
        if not (0.0 < cover <= 1.0) or memory < 1 or not (1 <= min_seen <= memory):
            raise GeoError("need 0 < cover <= 1 and 1 <= min_seen <= memory", field="cover")
        self._memory, self._cover, self._min_seen = memory, cover, min_seen
        self._stops: dict[Hashable, deque[float]] = {}

    def first(self, shape: Hashable, radii: Sequence[float]) -> float:
        """The radius of `radii` to search first: the smallest that covers `cover` of the
        recent stops, the last one while too few are known."""
        stops = self._stops.get(shape)
        if stops is None or len(stops) < self._min_seen:
            return radii[-1]
        ordered = sorted(stops)
        enough = ordered[max(0, math.ceil(self._cover * len(ordered)) - 1)]
        return next((r for r in radii if r >= enough), radii[-1])

    def note(self, shape: Hashable, stopped_m: float) -> None:
        """Remember where a search of this shape stopped."""
        self._stops.setdefault(shape, deque(maxlen=self._memory)).append(stopped_m)
