"""An HTML page (Jinja2 template) with PNG charts (matplotlib, Agg) for one period's
indicators, for a centre director: zh-CN by default (or English), districts and stations
by name, hours and dates in the centre's time zone, the count beside every bar, and each
indicator defined with the window it measures."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dispatch.lang import DEFAULT_LANG, Lang, local_time, pick
from dispatch.metrics.fonts import INSTALL_HINT, find_cjk_font
from dispatch.metrics.indicators import IndicatorReport, IndicatorRow, Rate
from dispatch.metrics.labels import (
    PlaceNames,
    definitions,
    group_name,
    interval_name,
    rate_name,
    zone_label,
)


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
    return "—" if rate.value is None else f"{100 * rate.value:.1f}%"


def _seconds(value: float | None, lang: Lang) -> str:
    return "—" if value is None else pick(lang, f"{value:.0f} 秒", f"{value:.0f} s")


def target_lines(*, report: PeriodReport, lang: Lang = DEFAULT_LANG) -> list[TargetLine]:
    """The period's headline figures with their targets and where each target comes from."""
    total = report.total
    config = report.by_hour.config
    answer = total.rates["answered_in_time"]
    departure = total.rates["departed_in_time"]
    iv = total.intervals
    national = pick(lang, "国家2025年目标（2020年院前医疗急救指导意见）",
                    "China national target for 2025 (2020 prehospital guidance)")
    zh_from = {"dispatched": "自派车指令起", "answered": "自接听起"}[config.departure_from]
    dep_from = pick(lang, zh_from, f"from {config.departure_from}")
    info = pick(lang, "（参考）", "(information)")
    lines = [
        TargetLine(
            pick(lang, f"{config.answer_limit_s:g} 秒内接听率",
                 f"Answered within {config.answer_limit_s:g} s"),
            _pct(answer),
            f"{answer.numerator} / {answer.denominator}",
            f"≥ {100 * config.answer_rate_target:g}%",
            None if answer.value is None else answer.value >= config.answer_rate_target,
            national,
        ),
        TargetLine(
            f"{rate_name('departed_in_time', lang)}（{dep_from}）" if lang == "zh-CN"
            else f"{rate_name('departed_in_time', lang)} ({dep_from})",
            _pct(departure),
            f"{departure.numerator} / {departure.denominator}",
            f"≥ {100 * config.departure_rate_target:g}%",
            None if departure.value is None else departure.value >= config.departure_rate_target,
            national,
        ),
    ]
    for name, target, source in (
        ("processing_s", config.processing_target_s, "NFPA 1221 (2019)"),
        ("turnout_s", config.turnout_target_s, "NFPA 1710 (2020)"),
        ("travel_s", config.travel_target_s, "NFPA 1710 (2020)"),
    ):
        p90 = iv[name].p90
        lines.append(TargetLine(
            f"{interval_name(name, lang)} P90",
            _seconds(p90, lang),
            f"n = {iv[name].n}",
            f"≤ {_seconds(target, lang)}",
            None if p90 is None else p90 <= target,
            source,
        ))
    response = iv["response_s"]
    for target, count in response.within:
        share = Rate(numerator=count, denominator=response.n)
        lines.append(TargetLine(
            pick(lang, f"{interval_name('response_s', lang)} ≤ {target:g} 秒占比",
                 f"Response within {target:g} s"),
            _pct(share),
            f"{count} / {response.n}; P50 {_seconds(response.p50, lang)}, "
            f"P90 {_seconds(response.p90, lang)}, P95 {_seconds(response.p95, lang)}",
            info,
            None,
            pick(lang, "本中心设定", "centre configuration"),
        ))
    for rate_key in ("prealerted", "direct_to_capable", "pickup_on_time"):
        rate = total.rates[rate_key]
        lines.append(TargetLine(
            rate_name(rate_key, lang),
            _pct(rate),
            f"{rate.numerator} / {rate.denominator}",
            info,
            None,
            pick(lang, "任务书 R5–R7", "mission R5-R7"),
        ))
    offload = iv["offload_s"]
    lines.append(TargetLine(
        f"{interval_name('offload_s', lang)} P90",
        _seconds(offload.p90, lang),
        f"n = {offload.n}, P50 {_seconds(offload.p50, lang)}",
        info,
        None,
        pick(lang, "任务书，呼救链", "mission, call chain"),
    ))
    return lines


@contextlib.contextmanager
def _chart_font(font: str | None) -> Iterator[None]:
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": families,
                                "axes.unicode_minus": False}):
        yield


def _no_data(ax: Axes, lang: Lang) -> None:
    ax.text(0.5, 0.5, pick(lang, "本期无数据", "no data in this period"), ha="center",
            va="center", transform=ax.transAxes)


def _rate_groups(rows: Sequence[IndicatorRow]) -> list[IndicatorRow]:
    """The groups with a mission to count: an empty group would draw as a 0% bar."""
    return [r for r in rows if r.rates["departed_in_time"].denominator > 0]


def _interval_items(
    rows: Sequence[IndicatorRow], intervals: Sequence[str]
) -> list[tuple[IndicatorRow, str]]:
    """(group, interval) pairs with at least one measured call."""
    return [(row, name) for row in rows for name in intervals if row.intervals[name].n > 0]


def _item_label(row: IndicatorRow, name: str, intervals: Sequence[str], lang: Lang,
                names: PlaceNames) -> str:
    group = group_name(row.key, lang, names)
    if len(intervals) == 1:
        return group
    return pick(lang, f"{group}：{interval_name(name, lang)}",
                f"{group}: {interval_name(name, lang)}")


def _rate_chart(
    *, rows: Sequence[IndicatorRow], target: float, title: str, path: Path, lang: Lang,
    names: PlaceNames,
) -> list[str]:
    """One bar per group with calls in the denominator, its numerator / denominator on it;
    returns the bars' labels with their counts."""
    rows = _rate_groups(rows)
    fig = Figure(figsize=(max(6.0, 0.45 * len(rows) + 2), 4.2), layout="constrained")
    ax = fig.add_subplot()
    rates = [r.rates["departed_in_time"] for r in rows]
    bars = ax.bar(range(len(rows)), [100 * (rt.value or 0.0) for rt in rates], color="#3b6ea5")
    counts = [f"{rt.numerator}/{rt.denominator}" for rt in rates]
    ax.bar_label(bars, labels=[f"{100 * (rt.value or 0):.0f}%\n{c}" for rt, c in
                               zip(rates, counts, strict=True)], fontsize=7, padding=2)
    groups = [group_name(r.key, lang, names) for r in rows]
    ax.axhline(100 * target, color="#c0392b", linestyle="--",
               label=pick(lang, f"目标 {100 * target:g}%", f"target {100 * target:g}%"))
    ax.set_xticks(range(len(rows)), groups, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel(pick(lang, "时限内出车（%）", "departed within the limit (%)"))
    ax.set_title(title)
    if rows:
        fig.legend(loc="outside upper right")  # never over a bar
    else:
        _no_data(ax, lang)
    fig.savefig(path, dpi=100)
    return [f"{g} {c}" for g, c in zip(groups, counts, strict=True)]


def _percentile_chart(
    *, rows: Sequence[IndicatorRow], names_: Sequence[str], title: str, path: Path, lang: Lang,
    names: PlaceNames,
) -> list[str]:
    """Horizontal bars of P50, P90 and P95 (minutes) for each measured interval of each group,
    its count at the end of the bar; returns the bars' labels with their counts."""
    items = _interval_items(rows, names_)
    fig = Figure(figsize=(8, max(3.0, 0.35 * len(items) + 1.5)), layout="constrained")
    ax = fig.add_subplot()
    legend: set[str] = set()
    labels: list[str] = []
    counts: list[str] = []
    for y, (row, name) in enumerate(items):
        stats = row.intervals[name]
        for value, colour, pct in ((stats.p95, "#d5e3f0", "P95"), (stats.p90, "#8fb3d9", "P90"),
                                   (stats.p50, "#3b6ea5", "P50")):
            if value is not None:
                ax.barh(y, value / 60, color=colour, label=None if pct in legend else pct)
                legend.add(pct)
        longest = max(v for v in (stats.p95, stats.p90, stats.p50) if v is not None)
        counts.append(f"n={stats.n}")
        ax.text(longest / 60, y, f"  {counts[-1]}", va="center", fontsize=7)
        labels.append(_item_label(row, name, names_, lang, names))
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(pick(lang, "分钟", "minutes"))
    ax.margins(x=0.15)
    ax.set_title(title)
    if legend:
        ax.legend(loc="lower right")
    else:
        _no_data(ax, lang)
    fig.savefig(path, dpi=100)
    return [f"{g} {c}" for g, c in zip(labels, counts, strict=True)]


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("dispatch.metrics", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class _Chart:
    file: str
    title: str
    caption: str
    head: list[str]
    rows: list[list[str]]  # the figures drawn, as a table under the chart


def _minutes(value: float | None) -> str:
    return "—" if value is None else f"{value / 60:.1f}"


def _rate_table(rows: Sequence[IndicatorRow], lang: Lang, names: PlaceNames) -> list[list[str]]:
    rates = [(r, r.rates["departed_in_time"]) for r in _rate_groups(rows)]
    return [[group_name(r.key, lang, names), _pct(rate), f"{rate.numerator} / {rate.denominator}"]
            for r, rate in rates]


def _interval_table(rows: Sequence[IndicatorRow], intervals: Sequence[str], lang: Lang,
                    names: PlaceNames) -> list[list[str]]:
    table = []
    for row, name in _interval_items(rows, intervals):
        stats = row.intervals[name]
        table.append([_item_label(row, name, intervals, lang, names), _minutes(stats.p50),
                      _minutes(stats.p90), _minutes(stats.p95), str(stats.n)])
    return table


_PATHWAY_CLOCKS = ("prealert_lead_s", "team_lead_s", "fmc_to_destination_s")


def _pathway_rows(report: PeriodReport) -> list[IndicatorRow]:
    return [r for r in report.by_pathway.rows if r.key and r.key[0][1] is not None]


def _charts(report: PeriodReport, lang: Lang, names: PlaceNames) -> list[_Chart]:
    config = report.by_hour.config
    dep_from = pick(lang, {"dispatched": "派车指令", "answered": "接听"}[config.departure_from],
                    config.departure_from)
    dep_caption = pick(
        lang, f"每根柱子上为“按时出车数/应出车数”；自{dep_from}起 {config.departure_limit_s:g} 秒"
              "内出车为按时；无派车的分组不画。",
        f"Each bar shows departed in time / missions counted; in time = within "
        f"{config.departure_limit_s:g} s of {dep_from}; groups with no mission are left out.")
    pct_caption = pick(lang, "深色至浅色依次为 P50、P90、P95（分钟）；n 为样本数。",
                       "Dark to light: P50, P90, P95 (minutes); n is the number of calls.")
    group = pick(lang, "分组", "group")
    rate_head = [group, pick(lang, "3分钟出车率", "3-minute departure rate"),
                 pick(lang, "按时 / 应出车", "in time / counted")]
    pct_head = [group, *(pick(lang, f"{p}（分钟）", f"{p} (min)") for p in ("P50", "P90", "P95")),
                pick(lang, "样本数", "n")]
    return [
        _Chart("departure_by_hour.png",
               pick(lang, "3分钟出车率（按时段）", "3-minute departure rate by hour"),
               dep_caption, rate_head, _rate_table(report.by_hour.rows, lang, names)),
        _Chart("departure_by_station.png",
               pick(lang, "3分钟出车率（按急救站）", "3-minute departure rate by station"),
               dep_caption, rate_head, _rate_table(report.by_station.rows, lang, names)),
        _Chart("response_by_district.png",
               pick(lang, "急救反应时间（接听至到达现场，按区县）",
                    "Response time (answered to on scene) by district"),
               pct_caption, pct_head,
               _interval_table(report.by_district.rows, ["response_s"], lang, names)),
        _Chart("pathway_clocks.png",
               pick(lang, "专科通道时间（按通道）", "Pathway clocks by specialist pathway"),
               pct_caption, pct_head,
               _interval_table(_pathway_rows(report), _PATHWAY_CLOCKS, lang, names)),
    ]


def write_report(
    *,
    report: PeriodReport,
    out_dir: Path,
    lang: Lang = DEFAULT_LANG,
    names: PlaceNames | None = None,
    generated_at: datetime | None = None,
) -> Path:
    """Write index.html and its PNG charts into out_dir; return the page's path. Times are
    shown in the indicators' time zone (the centre's)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = names or PlaceNames()
    config = report.by_hour.config
    font = find_cjk_font() if lang == "zh-CN" else None
    # without a CJK font Chinese would print as empty boxes: the charts fall back to English
    chart_lang: Lang = lang if lang == "en" or font else "en"
    charts = _charts(report, lang, names)
    chart_titles = _charts(report, chart_lang, names)
    target = config.departure_rate_target
    with _chart_font(font):
        for view, chart in ((report.by_hour, chart_titles[0]),
                            (report.by_station, chart_titles[1])):
            _rate_chart(rows=view.rows, target=target, title=chart.title,
                        path=out_dir / chart.file, lang=chart_lang, names=names)
        _percentile_chart(rows=report.by_district.rows, names_=["response_s"],
                          title=chart_titles[2].title, path=out_dir / chart_titles[2].file,
                          lang=chart_lang, names=names)
        _percentile_chart(
            rows=_pathway_rows(report), names_=_PATHWAY_CLOCKS,
            title=chart_titles[3].title, path=out_dir / chart_titles[3].file,
            lang=chart_lang, names=names)
    tz = config.time_zone
    generated_at = generated_at or datetime.now(UTC)
    page = _TEMPLATES.get_template("report.html.j2").render(
        lang=lang,
        zh=lang == "zh-CN",
        start=local_time(report.by_hour.start, tz),
        end=local_time(report.by_hour.end, tz),
        zone=zone_label(tz, report.by_hour.start),
        generated=local_time(generated_at, tz),
        total=report.total,
        lines=target_lines(report=report, lang=lang),
        charts=charts,
        definitions=definitions(config, lang),
        font_missing=lang == "zh-CN" and font is None,
        install_hint=INSTALL_HINT,
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
