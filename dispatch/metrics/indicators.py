"""Per-call measures -> indicators per group (pure): counts, rates with their numerator and
denominator, p50/p90/p95 of every interval and the share within each target."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from dispatch.errors import InvalidInput
from dispatch.metrics.intervals import INTERVALS, CallMeasures, IndicatorConfig

PERCENTILES: tuple[float, ...] = (0.5, 0.9, 0.95)

# Rates: name -> the CallMeasures flag it counts (None = out of the denominator).
RATES: tuple[str, ...] = (
    "answered_in_time",
    "departed_in_time",
    "prealerted",
    "direct_to_capable",
    "pickup_on_time",
)

_PERIOD_FORMATS = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}


def dimension_value(
    *, dimension: str, measures: CallMeasures, config: IndicatorConfig
) -> str | None:
    """The value of one grouping dimension for one call (periods in the centre's time zone)."""
    c = measures.call
    if dimension in _PERIOD_FORMATS:
        local = c.received_at.astimezone(ZoneInfo(config.time_zone))
        return local.strftime(_PERIOD_FORMATS[dimension])
    values: dict[str, str | None] = {
        "district": c.district_id,
        "station": measures.station_id,
        "vehicle": measures.vehicle_id,
        "acuity": str(int(c.acuity)),
        "transport_class": str(c.transport_class),
        "pathway": None if c.pathway is None else str(c.pathway),
    }
    if dimension not in values:
        raise InvalidInput(f"unknown grouping dimension {dimension!r}", field="by")
    return values[dimension]


DIMENSIONS: tuple[str, ...] = (
    "hour",
    "day",
    "month",
    "district",
    "station",
    "vehicle",
    "acuity",
    "transport_class",
    "pathway",
)


def validate_by(*, by: Sequence[str]) -> tuple[str, ...]:
    """Check the grouping dimensions; duplicates are an error, order is kept."""
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise InvalidInput(f"unknown grouping dimension(s) {unknown}", field="by")
    if len(set(by)) != len(by):
        raise InvalidInput("a grouping dimension is repeated", field="by")
    return tuple(by)


@dataclass(frozen=True, slots=True)
class Rate:
    """A share with its numerator and denominator shown."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True, slots=True)
class IntervalStats:
    """Distribution of one interval over a group."""

    n: int
    p50: float | None
    p90: float | None
    p95: float | None
    within: tuple[tuple[float, int], ...]  # (target seconds, how many at or under it)


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """One group's indicators; `key` is ((dimension, value), ...), empty for the total."""

    key: tuple[tuple[str, str | None], ...]
    calls: int
    cancelled: int
    clock_repairs: int
    rates: dict[str, Rate]
    intervals: dict[str, IntervalStats]


@dataclass(frozen=True, slots=True)
class IndicatorReport:
    """Indicators for calls received in [start, end), grouped by `by`, plus the total."""

    start: datetime
    end: datetime
    by: tuple[str, ...]
    config: IndicatorConfig
    rows: tuple[IndicatorRow, ...]
    total: IndicatorRow


def percentile_cont(*, values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile, the same definition as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _interval_stats(
    *, name: str, group: Sequence[CallMeasures], config: IndicatorConfig
) -> IntervalStats:
    values = [v for m in group if (v := getattr(m, name)) is not None]
    p50, p90, p95 = (percentile_cont(values=values, fraction=f) for f in PERCENTILES)
    within = tuple(
        (target, sum(1 for v in values if v <= target)) for target in config.targets_of(name)
    )
    return IntervalStats(n=len(values), p50=p50, p90=p90, p95=p95, within=within)


def _row(
    *,
    key: tuple[tuple[str, str | None], ...],
    group: Sequence[CallMeasures],
    config: IndicatorConfig,
) -> IndicatorRow:
    rates = {}
    for name in RATES:
        flags = [f for m in group if (f := getattr(m, name)) is not None]
        rates[name] = Rate(numerator=sum(flags), denominator=len(flags))
    return IndicatorRow(
        key=key,
        calls=len(group),
        cancelled=sum(m.cancelled for m in group),
        clock_repairs=sum(m.clock_repairs for m in group),
        rates=rates,
        intervals={n: _interval_stats(name=n, group=group, config=config) for n in INTERVALS},
    )


def group_sort_key(key: tuple[tuple[str, str | None], ...]) -> tuple[tuple[bool, str], ...]:
    """Groups sort by value, the unknown (None) group last, whichever path computed them."""
    return tuple((value is None, value or "") for _, value in key)


def aggregate(
    *,
    measures: Iterable[CallMeasures],
    by: Sequence[str],
    config: IndicatorConfig,
    start: datetime,
    end: datetime,
) -> IndicatorReport:
    """Group per-call measures by the dimensions `by` and compute every indicator per group."""
    dims = validate_by(by=by)
    everything = list(measures)
    groups: dict[tuple[tuple[str, str | None], ...], list[CallMeasures]] = {}
    for m in everything:
        key = tuple((d, dimension_value(dimension=d, measures=m, config=config)) for d in dims)
        groups.setdefault(key, []).append(m)
    rows = tuple(
        _row(key=k, group=groups[k], config=config) for k in sorted(groups, key=group_sort_key)
    )
    return IndicatorReport(
        start=start,
        end=end,
        by=dims,
        config=config,
        rows=rows,
        total=_row(key=(), group=everything, config=config),
    )


def row_to_dict(*, row: IndicatorRow) -> dict[str, object]:
    """A flat dict for JSON or CSV: dimensions, counts, rates, then interval statistics."""
    flat: dict[str, object] = {d: v for d, v in row.key}
    flat.update(calls=row.calls, cancelled=row.cancelled, clock_repairs=row.clock_repairs)
    for name, rate in row.rates.items():
        flat[f"{name}_num"] = rate.numerator
        flat[f"{name}_den"] = rate.denominator
        flat[f"{name}_rate"] = rate.value
    for name, stats in row.intervals.items():
        flat[f"{name}_n"] = stats.n
        flat[f"{name}_p50"] = stats.p50
        flat[f"{name}_p90"] = stats.p90
        flat[f"{name}_p95"] = stats.p95
        for target, count in stats.within:
            flat[f"{name}_within_{target:g}"] = count / stats.n if stats.n else None
    return flat


def to_csv(rows: Iterable[IndicatorRow]) -> str:
    """CSV with one line per group; empty cells for unknown values, rates as fractions."""
    dicts = [row_to_dict(row=r) for r in rows]
    if not dicts:
        return ""
    columns: list[str] = []
    for d in dicts:
        columns.extend(c for c in d if c not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for d in dicts:
        writer.writerow({c: "" if d.get(c) is None else d[c] for c in columns})
    return out.getvalue()
