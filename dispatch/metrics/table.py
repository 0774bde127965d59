"""The indicators as a table a centre director opens in a spreadsheet (pure): headers in
zh-CN (default) or English, groups by name (玄武区, not 156320102; hours in the centre's
time), rates in percent beside their numerator and denominator, seconds rounded."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from dispatch.lang import Lang, pick
from dispatch.metrics.indicators import RATES, IndicatorRow
from dispatch.metrics.intervals import INTERVALS, IndicatorConfig
from dispatch.metrics.labels import (
    PlaceNames,
    dimension_name,
    group_name,
    interval_name,
    rate_name,
    value_name,
)

# dimensions whose values are ids in the reference tables: the id gets a column of its own
_CODED = ("district", "station", "vehicle")
# Excel reads a CSV without a byte-order mark in the machine's legacy code page (GBK on a
# Chinese Windows): the mark makes it read UTF-8
BOM = "\ufeff"


def _round(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _header(by: Sequence[str], config: IndicatorConfig, lang: Lang) -> list[str]:
    head: list[str] = []
    for d in by:
        head.append(dimension_name(d, lang))
        if d in _CODED:
            head.append(pick(lang, f"{dimension_name(d, lang)}编码", f"{d} id"))
    head += [pick(lang, "呼救数", "calls"), pick(lang, "取消数", "cancelled"),
             pick(lang, "校正的时钟数", "clocks repaired")]
    for r in RATES:
        name = rate_name(r, lang)
        head += [pick(lang, f"{name}（%）", f"{name} (%)"), pick(lang, f"{name} 达标数",
                 f"{name}: met"), pick(lang, f"{name} 统计数", f"{name}: counted")]
    for i in INTERVALS:
        name = interval_name(i, lang)
        head.append(pick(lang, f"{name} 样本数", f"{name}: n"))
        head += [pick(lang, f"{name} {p}（秒）", f"{name} {p} (s)") for p in ("P50", "P90", "P95")]
        head += [pick(lang, f"{name} ≤{t:g}秒占比（%）", f"{name} within {t:g} s (%)")
                 for t in config.targets_of(i)]
    return head


def _line(row: IndicatorRow, by: Sequence[str], lang: Lang, names: PlaceNames) -> list[str]:
    values = dict(row.key)
    line: list[str] = []
    for d in by:
        if not row.key:  # the total
            line.append(group_name((), lang, names) if not line else "")
        else:
            line.append(value_name(d, values[d], lang, names))
        if d in _CODED:
            line.append(values.get(d) or "")
    line += [str(row.calls), str(row.cancelled), str(row.clock_repairs)]
    for r in RATES:
        rate = row.rates[r]
        share = None if rate.value is None else 100 * rate.value
        line += [_round(share), str(rate.numerator), str(rate.denominator)]
    for i in INTERVALS:
        stats = row.intervals[i]
        line += [str(stats.n), _round(stats.p50), _round(stats.p90), _round(stats.p95)]
        line += [_round(100 * count / stats.n if stats.n else None) for _, count in stats.within]
    return line


def director_csv(
    *, rows: Sequence[IndicatorRow], total: IndicatorRow, by: Sequence[str],
    config: IndicatorConfig, lang: Lang, names: PlaceNames,
) -> str:
    """One line per group, then the total (合计 / all); UTF-8 with a byte-order mark."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_header(by, config, lang))
    for row in [*rows, total]:
        writer.writerow(_line(row, by, lang, names))
    return BOM + out.getvalue()
