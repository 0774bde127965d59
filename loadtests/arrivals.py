"""When calls arrive: a time-varying Poisson process over one day with a daily curve.

Pure: the random source is passed in. Times are simulated seconds from local midnight.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass

DAY_S = 86_400.0

# Relative call intensity by local hour (00-23). The shape follows the diurnal pattern
# reported for EMS demand: a trough at 03-06, a steep morning rise, a plateau from late
# morning into the early evening and a slow fall to midnight (Channouf, L'Ecuyer, Ingolfsson
# & Avramidis 2007, Health Care Manag Sci 10:25, Calgary hourly call volumes; Cantwell et al.
# 2015, Emerg Med J 32:759, Melbourne, the same shape). The numbers are this harness's
# synthetic weights, not measured Nanjing volumes; pass your centre's own with --curve.
DEFAULT_HOURLY_WEIGHTS: tuple[float, ...] = (
    0.62, 0.52, 0.45, 0.40, 0.38, 0.40, 0.55, 0.80,   # 00-07
    1.05, 1.22, 1.30, 1.32, 1.28, 1.25, 1.24, 1.22,   # 08-15
    1.22, 1.25, 1.28, 1.26, 1.18, 1.05, 0.90, 0.74,   # 16-23
)


@dataclass(frozen=True, slots=True)
class DailyCurve:
    """Relative intensity per hour; piecewise constant within each hour."""

    hourly_weights: tuple[float, ...] = DEFAULT_HOURLY_WEIGHTS

    def __post_init__(self) -> None:
        if len(self.hourly_weights) != 24:
            raise ValueError("a daily curve needs 24 hourly weights")
        if min(self.hourly_weights) < 0 or sum(self.hourly_weights) <= 0:
            raise ValueError("hourly weights must be >= 0 and not all zero")

    def share_of_hour(self, hour: int) -> float:
        """Fraction of the day's calls expected in one local hour."""
        return self.hourly_weights[hour] / sum(self.hourly_weights)

    def rate_per_s(self, *, t_s: float, calls_per_day: float) -> float:
        """Instantaneous arrival rate (calls/s) at a time of day."""
        hour = int((t_s % DAY_S) // 3600)
        return calls_per_day * self.share_of_hour(hour) / 3600.0


def arrival_times(
    *,
    calls: int,
    curve: DailyCurve,
    rng: random.Random,
    start_s: float = 0.0,
    end_s: float = DAY_S,
) -> list[float]:
    """Exactly `calls` arrival times in [start_s, end_s), sorted.

    Given the count, the arrival times of a Poisson process with rate lambda(t) are
    independent draws from the density lambda(t) / integral(lambda), sorted (the order
    statistics property; Ross, Simulation, 5th ed., 2013, section 5.5). Drawing a fixed count
    lets a replay say "3,000 calls" and be compared call for call across policies.
    """
    if calls < 0:
        raise ValueError("calls must be >= 0")
    if not 0.0 <= start_s < end_s <= DAY_S:
        raise ValueError("need 0 <= start_s < end_s <= 86400")
    pieces = _pieces(curve, start_s, end_s)
    total = sum(mass for _, _, mass in pieces)
    if total <= 0:
        raise ValueError("the curve is zero over the whole window")
    cumulative: list[float] = []
    acc = 0.0
    for _, _, mass in pieces:
        acc += mass
        cumulative.append(acc)
    times = []
    for _ in range(calls):
        u = rng.random() * total
        i = min(bisect.bisect_right(cumulative, u), len(pieces) - 1)
        lo, hi, _ = pieces[i]
        times.append(rng.uniform(lo, hi))
    times.sort()
    return times


def poisson_arrivals(
    *,
    calls_per_day: float,
    curve: DailyCurve,
    rng: random.Random,
    start_s: float = 0.0,
    end_s: float = DAY_S,
) -> list[float]:
    """A Poisson-distributed number of arrivals by thinning (Lewis & Shedler 1979)."""
    if calls_per_day < 0:
        raise ValueError("calls_per_day must be >= 0")
    peak = max(curve.rate_per_s(t_s=h * 3600.0, calls_per_day=calls_per_day) for h in range(24))
    if peak <= 0:
        return []
    times: list[float] = []
    t = start_s
    while True:
        t += rng.expovariate(peak)
        if t >= end_s:
            return times
        if rng.random() * peak <= curve.rate_per_s(t_s=t, calls_per_day=calls_per_day):
            times.append(t)


def expected_calls(*, calls_per_day: float, curve: DailyCurve, start_s: float,
                   end_s: float) -> float:
    """The expected number of calls in a window of the day."""
    return calls_per_day * sum(m for _, _, m in _pieces(curve, start_s, end_s)) / sum(
        curve.hourly_weights)


def _pieces(curve: DailyCurve, start_s: float, end_s: float) -> list[tuple[float, float, float]]:
    """(lo, hi, weight mass) of each hour's overlap with the window."""
    out = []
    for hour, weight in enumerate(curve.hourly_weights):
        lo = max(start_s, hour * 3600.0)
        hi = min(end_s, (hour + 1) * 3600.0)
        if hi > lo:
            out.append((lo, hi, weight * (hi - lo) / 3600.0))
    return out


def hourly_counts(times: Sequence[float]) -> list[int]:
    """How many arrivals fall in each local hour."""
    counts = [0] * 24
    for t in times:
        counts[int((t % DAY_S) // 3600)] += 1
    return counts
