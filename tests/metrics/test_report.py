"""The HTML report: its charts are real PNGs and its table shows the figures against targets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dispatch.metrics.indicators import aggregate
from dispatch.metrics.intervals import IndicatorConfig, measure_call
from dispatch.metrics.report import PeriodReport, target_lines, write_report
from tests.metrics.metrics_cases import BASE, CASES, call_row, timeline

CONFIG = IndicatorConfig()


def _period(*, leave_out: frozenset[str] = frozenset()) -> PeriodReport:
    measures = [
        measure_call(
            call=call_row(case=c, base=BASE + timedelta(hours=i)),
            events=timeline(case=c, base=BASE + timedelta(hours=i)),
            config=CONFIG,
        )
        for i, c in enumerate(CASES)
        if c.config == CONFIG and c.name not in leave_out
    ]
    end = BASE + timedelta(days=2)
    views = [
        aggregate(measures=measures, by=[d], config=CONFIG, start=BASE, end=end)
        for d in ("hour", "station", "district", "pathway")
    ]
    return PeriodReport(*views)


def test_target_table_compares_with_national_and_nfpa_targets() -> None:
    report = _period()
    lines = {ln.indicator: ln for ln in target_lines(report=report)}
    departure = lines["3-minute departure rate (from dispatched)"]
    rate = report.total.rates["departed_in_time"]
    assert departure.detail == f"{rate.numerator} / {rate.denominator}"
    assert departure.target == ">= 95%"
    assert departure.met is False  # the crafted cases include late and missing departures
    # of the default-config cases with an answer, two (11 s and 12 s) are over 10 s: under
    # the 95% target with so few calls; without those two, every one is within it
    answered = sum(1 for c in CASES if c.config == CONFIG
                   and any(e.kind == "call_answered" for e in c.events))
    assert answered >= 30
    assert lines["Answered within 10 s"].detail == f"{answered - 2} / {answered}"
    assert lines["Answered within 10 s"].met is False
    fast = _period(leave_out=frozenset({"slow_answer", "answer_just_over_limit"}))
    fast_lines = {ln.indicator: ln for ln in target_lines(report=fast)}
    assert fast_lines["Answered within 10 s"].detail == f"{answered - 2} / {answered - 2}"
    assert fast_lines["Answered within 10 s"].met is True
    assert lines["Turnout p90"].target == "<= 60 s"
    assert "NFPA 1710" in lines["Travel p90 (first arriving)"].source


def test_write_report_writes_a_page_and_its_charts(tmp_path: Path) -> None:
    page = write_report(report=_period(), out_dir=tmp_path / "out")
    text = page.read_text(encoding="utf-8")
    assert page.name == "index.html"
    for png in (
        "departure_by_hour.png",
        "departure_by_station.png",
        "response_by_district.png",
        "pathway_clocks.png",
    ):
        assert f"src='{png}'" in text
        assert (tmp_path / "out" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "3-minute departure rate" in text
    assert "NOT MET" in text
