"""An HTML page with PNG charts (matplotlib, Agg) for one period's indicators."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from dispatch.metrics.indicators import IndicatorReport, IndicatorRow, Rate


@dataclass(frozen=True, slots=True)
class PeriodReport:
    """The views one report page needs, all for the same period and configuration."""

    by_hour: IndicatorReport
    by_station: IndicatorReport
    by_district: IndicatorReport
    by_pathway: IndicatorReport

    @property
    def total(self) -> IndicatorRow:
        return self.by_hour.total


@dataclass(frozen=True, slots=True)
class TargetLine:
    """One line of the figures-against-targets table."""

    indicator: str
    value: str
    detail: str
    target: str
    met: bool | None  # None = no target, shown for information
    source: str


def _pct(rate: Rate) -> str:
    return "n/a" if rate.value is None else f"{100 * rate.value:.1f}%"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} s"


def target_lines(*, report: PeriodReport) -> list[TargetLine]:
    """The period's headline figures with their targets and where each target comes from."""
    total = report.total
    config = report.by_hour.config
    answer = total.rates["answered_in_time"]
    departure = total.rates["departed_in_time"]
    iv = total.intervals
    lines = [
        TargetLine(
            f"Answered within {config.answer_limit_s:g} s",
            _pct(answer),
            f"{answer.numerator} / {answer.denominator}",
            f">= {100 * config.answer_rate_target:g}%",
            None if answer.value is None else answer.value >= config.answer_rate_target,
            "China national target for 2025 (2020 prehospital guidance)",
        ),
        TargetLine(
            f"3-minute departure rate (from {config.departure_from})",
            _pct(departure),
            f"{departure.numerator} / {departure.denominator}",
            f">= {100 * config.departure_rate_target:g}%",
            None if departure.value is None else departure.value >= config.departure_rate_target,
            "China national target for 2025 (2020 prehospital guidance)",
        ),
    ]
    for name, label, target, source in (
        ("processing_s", "Call processing p90", config.processing_target_s, "NFPA 1221 (2019)"),
        ("turnout_s", "Turnout p90", config.turnout_target_s, "NFPA 1710 (2020)"),
        ("travel_s", "Travel p90 (first arriving)", config.travel_target_s, "NFPA 1710 (2020)"),
    ):
        p90 = iv[name].p90
        lines.append(
            TargetLine(
                label,
                _seconds(p90),
                f"n = {iv[name].n}",
                f"<= {target:g} s",
                None if p90 is None else p90 <= target,
                source,
            )
        )
    response = iv["response_s"]
    for target, count in response.within:
        share = Rate(numerator=count, denominator=response.n)
        lines.append(
            TargetLine(
                f"Response within {target:g} s",
                _pct(share),
                f"{count} / {response.n}; p50 {_seconds(response.p50)}, "
                f"p90 {_seconds(response.p90)}, p95 {_seconds(response.p95)}",
                "(information)",
                None,
                "centre configuration",
            )
        )
    for rate_name, label in (
        ("prealerted", "Specialist pathway pre-alert rate"),
        ("direct_to_capable", "STEMI / LVO taken straight to a capable centre"),
        ("pickup_on_time", "Non-emergency pick-up on time"),
    ):
        rate = total.rates[rate_name]
        lines.append(
            TargetLine(
                label,
                _pct(rate),
                f"{rate.numerator} / {rate.denominator}",
                "(information)",
                None,
                "mission R6, R7, R5",
            )
        )
    offload = iv["offload_s"]
    lines.append(
        TargetLine(
            "Offload (at destination -> handover) p90",
            _seconds(offload.p90),
            f"n = {offload.n}, p50 {_seconds(offload.p50)}",
            "(information)",
            None,
            "mission, call chain",
        )
    )
    return lines


def _label(row: IndicatorRow) -> str:
    return " / ".join("unknown" if v is None else v for _, v in row.key) or "all"


def _rate_chart(*, rows: Sequence[IndicatorRow], target: float, title: str, path: Path) -> None:
    fig = Figure(figsize=(max(6.0, 0.35 * len(rows) + 2), 4), layout="constrained")
    ax = fig.add_subplot()
    labels = [_label(r) for r in rows]
    values = [100 * (r.rates["departed_in_time"].value or 0.0) for r in rows]
    ax.bar(range(len(rows)), values, color="#3b6ea5")
    ax.axhline(100 * target, color="#c0392b", linestyle="--", label=f"target {100 * target:g}%")
    ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("departed within the limit (%)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100)


def _percentile_chart(
    *, rows: Sequence[IndicatorRow], names: Sequence[str], title: str, path: Path
) -> None:
    """Horizontal bars of p50, p90 and p95 (minutes) for each interval in each group."""
    fig = Figure(figsize=(8, max(3.0, 0.3 * len(rows) * len(names) + 1.5)), layout="constrained")
    ax = fig.add_subplot()
    labels: list[str] = []
    legend: set[str] = set()
    y = 0
    for row in rows:
        for name in names:
            stats = row.intervals[name]
            for value, colour, pct in (
                (stats.p95, "#d5e3f0", "p95"),
                (stats.p90, "#8fb3d9", "p90"),
                (stats.p50, "#3b6ea5", "p50"),
            ):
                if value is not None:
                    ax.barh(y, value / 60, color=colour, label=None if pct in legend else pct)
                    legend.add(pct)
            labels.append(f"{_label(row)}: {name.removesuffix('_s')} (n={stats.n})")
            y += 1
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("minutes")
    ax.set_title(title)
    if legend:
        ax.legend(loc="lower right")
    fig.savefig(path, dpi=100)


def _html_table(lines: Sequence[TargetLine]) -> str:
    marks = {True: "met", False: "NOT MET", None: ""}
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in (ln.indicator, ln.value, ln.detail, ln.target, marks[ln.met], ln.source)
        )
        + "</tr>"
        for ln in lines
    )
    head = "".join(f"<th>{h}</th>" for h in ("Indicator", "Value", "Count", "Target", "", "Source"))
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(*, report: PeriodReport, out_dir: Path) -> Path:
    """Write index.html and its PNG charts into out_dir; return the page's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config = report.by_hour.config
    target = config.departure_rate_target
    charts = [
        ("departure_by_hour.png", "3-minute departure rate by hour"),
        ("departure_by_station.png", "3-minute departure rate by station"),
        ("response_by_district.png", "Response time (answered -> on scene) by district"),
        ("pathway_clocks.png", "Pathway clocks by specialist pathway"),
    ]
    _rate_chart(
        rows=report.by_hour.rows, target=target, title=charts[0][1], path=out_dir / charts[0][0]
    )
    _rate_chart(
        rows=report.by_station.rows, target=target, title=charts[1][1], path=out_dir / charts[1][0]
    )
    _percentile_chart(
        rows=report.by_district.rows,
        names=["response_s"],
        title=charts[2][1],
        path=out_dir / charts[2][0],
    )
    _percentile_chart(
        rows=[r for r in report.by_pathway.rows if r.key and r.key[0][1] is not None],
        names=["prealert_lead_s", "team_lead_s", "fmc_to_destination_s"],
        title=charts[3][1],
        path=out_dir / charts[3][0],
    )
    period = f"{report.by_hour.start.isoformat()} to {report.by_hour.end.isoformat()}"
    images = "".join(
        f"<h2>{html.escape(title)}</h2><img src='{name}' alt='{html.escape(title)}'>"
        for name, title in charts
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dispatch indicators {html.escape(period)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}img{{max-width:100%}}</style>
</head><body>
<h1>Dispatch indicators</h1>
<p>Calls received {html.escape(period)} ({report.total.calls} calls,
{report.total.cancelled} cancelled, {report.total.clock_repairs} source clocks repaired).
Periods in {html.escape(config.time_zone)}.</p>
<h2>The period against targets</h2>
{_html_table(target_lines(report=report))}
{images}
</body></html>
"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
