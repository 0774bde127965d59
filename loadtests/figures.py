"""The harness's arithmetic: percentiles, rates, groupings, targets and invariants.

Pure: values in, figures out. Percentiles use the nearest-rank definition (the smallest
value with at least p% of the sample at or below it), the usual one for latency reports:
it always returns an observed value.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# The 3-minute departure rate (院前医疗急救3分钟出车率): dispatched -> departed within 180 s.
DEPARTURE_LIMIT_S = 180.0


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0-100); None for an empty sample."""
    if not 0.0 <= p <= 100.0:
        raise ValueError("p must be within 0-100")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Distribution:
    """Count, mean, p50/p90/p95/p99 and max of a sample."""

    n: int
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return asdict(self)


def distribution(values: Sequence[float]) -> Distribution:
    """Summarise a sample."""
    if not values:
        return Distribution(0, None, None, None, None, None, None)
    return Distribution(
        n=len(values), mean=sum(values) / len(values), p50=percentile(values, 50),
        p90=percentile(values, 90), p95=percentile(values, 95), p99=percentile(values, 99),
        max=max(values))


def share_within(values: Sequence[float], limit: float) -> float | None:
    """Share of the sample at or below `limit`; None for an empty sample."""
    if not values:
        return None
    return sum(1 for v in values if v <= limit) / len(values)


def group_by(items: Iterable[tuple[str, float]]) -> dict[str, list[float]]:
    """Values collected under their keys, keys sorted."""
    out: dict[str, list[float]] = defaultdict(list)
    for key, value in items:
        out[key].append(value)
    return dict(sorted(out.items()))


def rate_by_bin(events: Iterable[tuple[float, bool]], *, bin_s: float,
                bins: int) -> list[float | None]:
    """Share of True per time bin over [0, bins * bin_s); None where a bin is empty."""
    hit = [0] * bins
    total = [0] * bins
    for t, ok in events:
        i = int(t // bin_s)
        if 0 <= i < bins:
            total[i] += 1
            hit[i] += int(ok)
    return [h / n if n else None for h, n in zip(hit, total, strict=True)]


def throughput(times: Iterable[float], *, bin_s: float, start: float,
               end: float) -> list[float]:
    """Events per second in consecutive bins of `bin_s` over [start, end)."""
    if bin_s <= 0 or end <= start:
        raise ValueError("need bin_s > 0 and end > start")
    n = math.ceil((end - start) / bin_s)
    counts = [0] * n
    for t in times:
        i = int((t - start) // bin_s)
        if 0 <= i < n:
            counts[i] += 1
    return [c / bin_s for c in counts]


# ------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class Target:
    """A figure that must be at most (or at least) a limit."""

    name: str
    limit: float
    at_most: bool = True  # False: the figure must be at least the limit

    def check(self, value: float | None) -> TargetResult:
        """Compare a measured value; a missing value misses the target."""
        if value is None:
            ok = False
        else:
            ok = value <= self.limit if self.at_most else value >= self.limit
        return TargetResult(self.name, value, self.limit, "<=" if self.at_most else ">=", ok)


@dataclass(frozen=True, slots=True)
class TargetResult:
    name: str
    value: float | None
    limit: float
    op: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return asdict(self)


def check_targets(targets: Sequence[Target],
                  values: Mapping[str, float | None]) -> list[TargetResult]:
    """Each target against the value of the same name."""
    return [t.check(values.get(t.name)) for t in targets]


def highest_sustained(steps: Sequence[tuple[float, bool]]) -> float | None:
    """The highest rate of an ascending ramp that met its targets before the first miss."""
    best = None
    for rate, passed in steps:
        if not passed:
            break
        best = rate if best is None else max(best, rate)
    return best


# ---------------------------------------------------------------- invariants


@dataclass(frozen=True, slots=True)
class VehicleEvent:
    """An assignment-relevant timeline event: dispatched, cleared or unassigned."""

    event_id: int  # the service's event id: commit order for one vehicle (row lock)
    vehicle_id: str
    call_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class Invariants:
    """What must be zero at the end of a run."""

    acknowledged: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    double_assignments: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    # Stored but never answered for (the client gave up first): reported, not a breach,
    # since the service did keep the call.
    unacknowledged: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.double_assignments
                    or self.undelivered)

    def to_dict(self) -> dict[str, Any]:
        """Counts and the first few offenders."""
        lists = {**self._lists(), "unacknowledged": self.unacknowledged}
        return {"acknowledged": self.acknowledged, "ok": self.ok,
                **{k: len(v) for k, v in lists.items()},
                "examples": {k: v[:10] for k, v in lists.items() if v}}

    def _lists(self) -> dict[str, list[str]]:
        return {"lost": self.lost, "duplicated": self.duplicated,
                "double_assignments": self.double_assignments,
                "undelivered": self.undelivered}


_OPEN = "dispatched"
_CLOSE = frozenset({"cleared", "unassigned"})


def double_assignments(events: Iterable[VehicleEvent]) -> list[str]:
    """Vehicles dispatched to a second call while still on a first, in event-id order."""
    by_vehicle: dict[str, list[VehicleEvent]] = defaultdict(list)
    for e in events:
        by_vehicle[e.vehicle_id].append(e)
    problems = []
    for vehicle_id, evs in sorted(by_vehicle.items()):
        live: str | None = None
        for e in sorted(evs, key=lambda x: x.event_id):
            if e.kind == _OPEN:
                if live is not None and live != e.call_id:
                    problems.append(f"{vehicle_id}: on {live} when dispatched to {e.call_id}"
                                    f" (event {e.event_id})")
                live = e.call_id
            elif e.kind in _CLOSE and live == e.call_id:
                live = None
    return problems


def lost_and_duplicated(
    *, acknowledged: Mapping[str, Sequence[str]], readable: Callable[[str], bool]
) -> tuple[list[str], list[str]]:
    """Calls acknowledged but not readable; keys answered with more than one call id.

    `acknowledged` maps each Idempotency-Key to every call id the service answered with
    (a retried request must get the first id back).
    """
    lost = sorted({cid for ids in acknowledged.values() for cid in ids if not readable(cid)})
    duplicated = sorted(k for k, ids in acknowledged.items() if len(set(ids)) > 1)
    owners: dict[str, str] = {}
    for key, ids in sorted(acknowledged.items()):
        for cid in set(ids):
            if cid in owners and owners[cid] != key:
                duplicated.append(f"{cid} answered for {owners[cid]} and {key}")
            owners.setdefault(cid, key)
    return lost, duplicated


def listing_check(
    *, acknowledged: Mapping[str, Sequence[str]], number_of: Mapping[str, str],
    listed: Iterable[tuple[str, str]],
) -> tuple[list[str], list[str], list[str]]:
    """Lost, duplicated and unacknowledged calls, from the service's listing of the period.

    `acknowledged` maps each Idempotency-Key to the call ids the service answered with,
    `number_of` each key to its (unique) caller number, `listed` is every (call id, caller
    number) the period listing returned. Lost: acknowledged but not listed. Duplicated: a
    key answered with two ids, or one caller number stored as two calls. Unacknowledged: a
    call of this run that the service stored but never answered for (a timed-out request).
    """
    key_of_number = {n: k for k, n in number_of.items()}
    ids_of_key: dict[str, list[str]] = defaultdict(list)
    listed_ids: set[str] = set()
    for call_id, number in listed:
        listed_ids.add(call_id)
        if number in key_of_number:
            ids_of_key[key_of_number[number]].append(call_id)
    lost = sorted({cid for ids in acknowledged.values() for cid in ids if cid not in listed_ids})
    duplicated = sorted(k for k, ids in acknowledged.items() if len(set(ids)) > 1)
    duplicated += sorted(f"{k} stored {len(ids)} times" for k, ids in ids_of_key.items()
                         if len(set(ids)) > 1)
    acked = {cid for ids in acknowledged.values() for cid in ids}
    unacknowledged = sorted(cid for ids in ids_of_key.values() for cid in ids
                            if cid not in acked)
    return lost, duplicated, unacknowledged


@dataclass(frozen=True, slots=True)
class AckedFrame:
    """A crew frame the service acknowledged as `event_id`, bound for `hospital_id`'s screen."""

    event_id: str
    call_id: str
    hospital_id: str


def undelivered(*, acked: Iterable[AckedFrame], seen: Mapping[str, set[str]],
                routed: Mapping[str, set[str]] | None = None) -> list[str]:
    """Acknowledged frames whose event id reached no screen of the call's destination.

    The service routes a frame to the call's destination at the moment it stores it; a
    re-route can overtake the crew's knowledge, so a frame also counts as delivered on the
    screen of any centre the call was `routed` to (its timeline's destination choices).
    """
    routed = routed or {}
    return sorted(f"{a.event_id} ({a.call_id} -> {a.hospital_id})" for a in acked
                  if not any(a.event_id in seen.get(h, set())
                             for h in {a.hospital_id} | routed.get(a.call_id, set())))


def what_slow_calls_share(records: Sequence[tuple[float, Mapping[str, str]]], *,
                          above: float | None) -> dict[str, Any]:
    """What sets the calls slower than `above` apart: per attribute (e.g. pathway or
    outcome) and value, its share of all calls and of the slow ones.

    `records`: (latency, {attribute: value}) per call. A value whose share of the slow
    calls is well above its share of all calls is where the tail comes from.
    """
    slow = [attrs for latency, attrs in records if above is not None and latency > above]
    names = sorted({name for _, attrs in records for name in attrs})
    by: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        values = sorted({attrs[name] for _, attrs in records if name in attrs})
        by[name] = {v: {"all": round(sum(1 for _, a in records if a.get(name) == v)
                                     / len(records), 3),
                        "slow": round(sum(1 for a in slow if a.get(name) == v) / len(slow), 3)
                        if slow else 0.0}
                    for v in values}
    return {"above": above, "calls": len(records), "slow": len(slow), "by": by}


def pathway_and_queued_shares(slow: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """From `what_slow_calls_share`: the shares of pathway calls and of queued calls among
    the slow calls and among all calls ({} when no call was slow)."""
    if not slow.get("slow"):
        return {}
    by = slow["by"]
    return {label: (by.get(attr, {}).get(value, {}).get("slow", 0.0),
                    by.get(attr, {}).get(value, {}).get("all", 0.0))
            for label, attr, value in (("pathway", "pathway", "pathway"),
                                       ("queued", "outcome", "queued"))}
