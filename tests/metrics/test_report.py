"""The HTML report: real PNG charts, the figures against targets, and what a director reads:
zh-CN by default, names instead of codes, local times with the zone named, counts beside
every bar, no empty bars, each indicator defined with its window."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dispatch.errors import InvalidInput
from dispatch.lang import parse_lang
from dispatch.metrics import report as report_module
from dispatch.metrics.fonts import find_cjk_font
from dispatch.metrics.indicators import aggregate
from dispatch.metrics.intervals import IndicatorConfig, measure_call
from dispatch.metrics.labels import PlaceNames, group_name, value_name
from dispatch.metrics.report import PeriodReport, target_lines, write_report
from tests.metrics.metrics_cases import BASE, CASES, call_row, timeline

CONFIG = IndicatorConfig()
NAMES = PlaceNames(districts={"full_chest_pain": "玄武区"},
                   stations={"S1": "鼓楼急救站", "S2": "江宁急救站"})
PNGS = ("departure_by_hour.png", "departure_by_station.png", "response_by_district.png",
        "pathway_clocks.png")


# an order naming no station is a case of the measures, not of a director's report: its
# vehicle would sit in the "not dispatched" group that the report tests keep empty
_NOT_A_REPORT_CASE = frozenset({"dispatched_without_station"})


def _period(*, leave_out: frozenset[str] = frozenset()) -> PeriodReport:
    leave_out = leave_out | _NOT_A_REPORT_CASE
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
    lines = {ln.indicator: ln for ln in target_lines(report=report, lang="en")}
    departure = lines["3-minute departure rate (from dispatched)"]
    rate = report.total.rates["departed_in_time"]
    assert departure.detail == f"{rate.numerator} / {rate.denominator}"
    assert departure.target == "≥ 95%"
    assert departure.met is False  # the crafted cases include late and missing departures
    # of the default-config cases with an answer, two (11 s and 12 s) are over 10 s: under
    # the 95% target with so few calls; without those two, every one is within it
    answered = sum(1 for c in CASES if c.config == CONFIG and c.name not in _NOT_A_REPORT_CASE
                   and any(e.kind == "call_answered" for e in c.events))
    assert answered >= 30
    assert lines["Answered within 10 s"].detail == f"{answered - 2} / {answered}"
    assert lines["Answered within 10 s"].met is False
    fast = _period(leave_out=frozenset({"slow_answer", "answer_just_over_limit"}))
    fast_lines = {ln.indicator: ln for ln in target_lines(report=fast, lang="en")}
    assert fast_lines["Answered within 10 s"].detail == f"{answered - 2} / {answered - 2}"
    assert fast_lines["Answered within 10 s"].met is True
    assert lines["Turnout P90"].target == "≤ 60 s"
    assert "NFPA 1710" in lines["Travel P90"].source


def test_target_table_is_in_chinese_by_default() -> None:
    lines = {ln.indicator: ln for ln in target_lines(report=_period())}
    answered = sum(1 for c in CASES if c.config == CONFIG and c.name not in _NOT_A_REPORT_CASE
                   and any(e.kind == "call_answered" for e in c.events))
    assert lines["10 秒内接听率"].detail == f"{answered - 2} / {answered}"
    assert lines["3分钟出车率（自派车指令起）"].met is False
    assert lines["出车准备时间 P90"].target == "≤ 60 秒"
    assert "国家2025年目标" in lines["10 秒内接听率"].source


def test_write_report_writes_a_chinese_page_and_its_charts(tmp_path: Path) -> None:
    # pytest turns matplotlib's "Glyph ... missing from font" warning into an error: the
    # charts really are drawn with a font that has the Chinese labels' glyphs
    assert find_cjk_font() is not None, "install fonts-noto-cjk (see .ci/run)"
    page = write_report(report=_period(), out_dir=tmp_path / "out", names=NAMES)
    text = page.read_text(encoding="utf-8")
    assert page.name == "index.html"
    for png in PNGS:
        assert f"src='{png}'" in text
        assert (tmp_path / "out" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<html lang="zh-CN">' in text
    assert "3分钟出车率" in text and "未达标" in text
    # the period in the centre's time (BASE is 00:00 UTC = 08:00 in Shanghai), zone named
    assert "2025-03-01 08:00 至 2025-03-03 08:00（Asia/Shanghai, UTC+08:00）" in text
    # each indicator defined with its window
    assert "120呼救响应时间" in text and "电话振铃至调度员接听" in text
    assert "自派车指令起 180 秒内出车" in text
    assert "未找到含中文字形的字体" not in text
    # the figures drawn, as tables: by name, never an empty "unknown" group
    assert "<td>鼓楼急救站</td>" in text and "<td>玄武区</td>" in text
    assert "未派车" not in text and "非专科通道" not in text


def test_write_report_in_english(tmp_path: Path) -> None:
    text = write_report(report=_period(), out_dir=tmp_path, lang="en").read_text("utf-8")
    assert '<html lang="en">' in text and "NOT MET" in text
    assert "phone ringing to the call-taker&#39;s answer" in text
    assert "All times in the centre's time zone (Asia/Shanghai, UTC+08:00)" in text
    assert "2025-03-01 08:00 to 2025-03-03 08:00 (Asia/Shanghai, UTC+08:00)" in text


def test_bars_are_named_counted_and_never_empty(tmp_path: Path) -> None:
    report = _period()
    with report_module._chart_font(find_cjk_font()):
        stations = report_module._rate_chart(
            rows=report.by_station.rows, target=0.95, title="t", path=tmp_path / "s.png",
            lang="zh-CN", names=NAMES)
        hours = report_module._rate_chart(
            rows=report.by_hour.rows, target=0.95, title="t", path=tmp_path / "h.png",
            lang="zh-CN", names=NAMES)
        districts = report_module._percentile_chart(
            rows=report.by_district.rows, names_=["response_s"], title="t",
            path=tmp_path / "d.png", lang="zh-CN", names=NAMES)
    by_station = {r.key[0][1]: r.rates["departed_in_time"] for r in report.by_station.rows}
    s1 = by_station["S1"]
    assert f"鼓楼急救站 {s1.numerator}/{s1.denominator}" in stations
    # calls with no dispatched vehicle are a group of their own, with nothing to draw
    assert by_station[None].denominator == 0
    assert not any(label.startswith("未派车") for label in stations)
    assert not any("S1" in label or "S2" in label for label in stations)
    # hours in Shanghai time; a call at 00:00 UTC is the 08时 bar
    assert any(label.startswith("2025-03-01 08时 ") for label in hours), hours
    # the district bar has its name and its count; districts without a response are not drawn
    full = next(r for r in report.by_district.rows if r.key[0][1] == "full_chest_pain")
    assert f"玄武区 n={full.intervals['response_s'].n}" in districts
    assert len(districts) == sum(1 for r in report.by_district.rows
                                 if r.intervals["response_s"].n > 0)


def test_without_a_cjk_font_the_charts_fall_back_to_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(report_module, "find_cjk_font", lambda: None)
    text = write_report(report=_period(), out_dir=tmp_path).read_text("utf-8")
    assert "未找到含中文字形的字体，图表以英文标注" in text
    assert "fonts-noto-cjk" in text
    assert "3分钟出车率" in text  # the page itself stays Chinese (the browser has fonts)


def test_labels() -> None:
    assert parse_lang(None) == "zh-CN" and parse_lang("zh") == "zh-CN"
    assert parse_lang("en-GB") == "en"
    with pytest.raises(InvalidInput):
        parse_lang("fr")
    assert value_name("district", "156320102", "zh-CN",
                      PlaceNames(districts={"156320102": "玄武区"})) == "玄武区"
    assert value_name("district", None, "zh-CN", NAMES) == "辖区外或未定位"
    assert value_name("acuity", "1", "zh-CN", NAMES) == "I级 濒危"
    assert value_name("month", "2025-03", "zh-CN", NAMES) == "2025年3月"
    assert group_name((), "en", NAMES) == "all"
