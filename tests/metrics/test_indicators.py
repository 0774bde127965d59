"""Grouping, rates, percentiles and CSV over hand-checked measures (pure path)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from dispatch.errors import InvalidInput
from dispatch.metrics.indicators import (
    DIMENSIONS,
    IndicatorRow,
    IntervalStats,
    Rate,
    aggregate,
    dimension_value,
    group_sort_key,
    percentile_cont,
    row_to_dict,
    to_csv,
    validate_by,
)
from dispatch.metrics.intervals import IndicatorConfig, measure_call
from tests.metrics.metrics_cases import BASE, CASES, call_row, timeline

CONFIG = IndicatorConfig()


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.9, 7.0),
        ([4.0, 1.0, 3.0, 2.0], 0.5, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 0.9, 3.7),
        ([1.0, 2.0, 3.0, 4.0], 0.95, 3.85),
        ([10.0, 20.0, 30.0], 0.5, 20.0),
    ],
)
def test_percentile_cont_interpolates_like_postgresql(
    values: list[float], fraction: float, expected: float | None
) -> None:
    got = percentile_cont(values=values, fraction=fraction)
    assert got == pytest.approx(expected) if expected is not None else got is None


def _measures(names: list[str], *, hours_apart: bool = False):
    chosen = [c for c in CASES if c.name in names]
    return [
        measure_call(
            call=call_row(case=c, base=BASE + timedelta(hours=i if hours_apart else 0)),
            events=timeline(case=c, base=BASE),
            config=CONFIG,
        )
        for i, c in enumerate(chosen)
    ]


def test_departure_rate_shows_numerator_and_denominator() -> None:
    # passes: full_chest_pain, departure_at_limit, cancelled_after_departure;
    # fails: late_departure, no_departure, cancelled_after_limit;
    # out of the denominator: cancelled_within_limit, booking_on_time (non-emergency)
    names = [
        "full_chest_pain",
        "departure_at_limit",
        "cancelled_after_departure",
        "late_departure",
        "no_departure",
        "cancelled_after_limit",
        "cancelled_within_limit",
        "booking_on_time",
    ]
    report = aggregate(
        measures=_measures(names), by=[], config=CONFIG, start=BASE, end=BASE + timedelta(days=1)
    )
    rate = report.total.rates["departed_in_time"]
    assert (rate.numerator, rate.denominator) == (3, 6)
    assert rate.value == 0.5
    assert report.total.calls == 8
    assert report.total.cancelled == 3
    assert report.rows == (report.total,)  # no dimensions: the one group is the total


def test_interval_percentiles_and_share_within_targets() -> None:
    # turnout: 90 (full), 190 (late), 180 (at limit), 40 (cancelled after departure)
    names = ["full_chest_pain", "late_departure", "departure_at_limit", "cancelled_after_departure"]
    report = aggregate(
        measures=_measures(names), by=[], config=CONFIG, start=BASE, end=BASE + timedelta(days=1)
    )
    turnout = report.total.intervals["turnout_s"]
    assert turnout.n == 4
    assert turnout.p50 == pytest.approx(135.0)  # 40, 90, 180, 190
    assert turnout.p90 == pytest.approx(187.0)
    assert turnout.p95 == pytest.approx(188.5)
    assert turnout.within == ((60.0, 1),)  # NFPA 1710 turnout 60 s
    response = report.total.intervals["response_s"]
    assert response.within == ((480.0, 0), (720.0, 3))  # 494, 494, 494; the fourth never arrived


def test_grouping_by_period_and_station_sorts_unknown_last() -> None:
    names = ["full_chest_pain", "several_vehicles", "cancelled_before_dispatch"]
    report = aggregate(
        measures=_measures(names, hours_apart=True),
        by=["station"],
        config=CONFIG,
        start=BASE,
        end=BASE + timedelta(days=1),
    )
    assert [r.key for r in report.rows] == [
        (("station", "S1"),),
        (("station", "S2"),),
        (("station", None),),
    ]
    hourly = aggregate(
        measures=_measures(names, hours_apart=True),
        by=["hour", "acuity"],
        config=CONFIG,
        start=BASE,
        end=BASE + timedelta(days=1),
    )
    # BASE is 00:00 UTC = 08:00 in Asia/Shanghai
    assert [r.key for r in hourly.rows] == [
        (("hour", "2025-03-01T08"), ("acuity", "2")),
        (("hour", "2025-03-01T09"), ("acuity", "2")),
        (("hour", "2025-03-01T10"), ("acuity", "2")),
    ]
    assert sum(r.calls for r in hourly.rows) == hourly.total.calls == 3


@pytest.mark.parametrize("by", [["shift"], ["district", "district"]])
def test_unknown_or_repeated_dimensions_are_refused(by: list[str]) -> None:
    with pytest.raises(InvalidInput):
        aggregate(measures=[], by=by, config=CONFIG, start=BASE, end=BASE)


def test_csv_has_one_line_per_group_with_rates_as_fractions() -> None:
    names = ["full_chest_pain", "late_departure"]
    report = aggregate(
        measures=_measures(names), by=["district"], config=CONFIG, start=BASE, end=BASE
    )
    lines = to_csv(report.rows).splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["district", "calls", "cancelled", "clock_repairs"]
    assert len(lines) == 3
    first = dict(zip(header, lines[1].split(","), strict=True))
    assert first["district"] == "full_chest_pain"
    assert first["departed_in_time_num"] == "1"
    assert first["departed_in_time_rate"] == "1.0"
    assert first["turnout_s_p50"] == "90.0"
    assert first["pickup_on_time_rate"] == ""
    assert first["response_s_within_480"] == "0.0"
    assert to_csv([]) == ""


def _hand_row(key: tuple[tuple[str, str | None], ...], *, n: int) -> IndicatorRow:
    stats = IntervalStats(n=n, p50=90.0 if n else None, p90=170.0 if n else None,
                          p95=185.5 if n else None, within=((60.0, 1 if n else 0),))
    return IndicatorRow(key=key, calls=5, cancelled=2, clock_repairs=1,
                        rates={"departed_in_time": Rate(numerator=3, denominator=4)},
                        intervals={"turnout_s": stats})


def test_row_to_dict_exactly() -> None:
    assert row_to_dict(row=_hand_row((("district", "D1"), ("acuity", "2")), n=4)) == {
        "district": "D1", "acuity": "2",
        "calls": 5, "cancelled": 2, "clock_repairs": 1,
        "departed_in_time_num": 3, "departed_in_time_den": 4, "departed_in_time_rate": 0.75,
        "turnout_s_n": 4, "turnout_s_p50": 90.0, "turnout_s_p90": 170.0, "turnout_s_p95": 185.5,
        "turnout_s_within_60": 0.25,
    }
    empty = row_to_dict(row=_hand_row((), n=0))
    assert (empty["turnout_s_n"], empty["turnout_s_within_60"]) == (0, None)
    assert Rate(numerator=0, denominator=0).value is None


def test_csv_exactly_with_columns_from_every_row() -> None:
    first = _hand_row((("station", "S1"),), n=4)
    second = _hand_row((("station", None),), n=0)
    assert to_csv([first, second]) == (
        "station,calls,cancelled,clock_repairs,departed_in_time_num,departed_in_time_den,"
        "departed_in_time_rate,turnout_s_n,turnout_s_p50,turnout_s_p90,turnout_s_p95,"
        "turnout_s_within_60\n"
        "S1,5,2,1,3,4,0.75,4,90.0,170.0,185.5,0.25\n"
        ",5,2,1,3,4,0.75,0,,,,\n"
    )
    # a column only a later row has is added, and left empty in the rows without it
    total = _hand_row((), n=0)
    lines = to_csv([total, first]).splitlines()
    assert lines[0].endswith(",station") and lines[1].endswith(",")


@pytest.mark.parametrize(("name", "expected"), [
    ("full_chest_pain", {"hour": "2025-03-01T08", "day": "2025-03-01", "month": "2025-03",
                         "district": "full_chest_pain", "station": "S1", "vehicle": "V1",
                         "acuity": "2", "transport_class": "emergency",
                         "pathway": "chest_pain"}),
    ("booking_on_time", {"hour": "2025-03-01T08", "day": "2025-03-01", "month": "2025-03",
                         "district": "booking_on_time", "station": "S1", "vehicle": "V1",
                         "acuity": "4", "transport_class": "non_emergency", "pathway": None}),
    ("cancelled_before_dispatch", {"hour": "2025-03-01T08", "day": "2025-03-01",
                                   "month": "2025-03", "district": "cancelled_before_dispatch",
                                   "station": None, "vehicle": None, "acuity": "2",
                                   "transport_class": "emergency", "pathway": None}),
])
def test_every_dimension_value(name: str, expected: dict[str, str | None]) -> None:
    (m,) = _measures([name])
    assert {d: dimension_value(dimension=d, measures=m, config=CONFIG)
            for d in DIMENSIONS} == expected


def test_an_unknown_dimension_names_the_field() -> None:
    (m,) = _measures(["full_chest_pain"])
    with pytest.raises(InvalidInput) as info:
        dimension_value(dimension="shift", measures=m, config=CONFIG)
    assert (info.value.field, info.value.message) == ("by", "unknown grouping dimension 'shift'")


@pytest.mark.parametrize(("by", "message"), [
    (["shift", "hour", "crew"], "unknown grouping dimension(s) ['shift', 'crew']"),
    (["district", "district"], "a grouping dimension is repeated"),
])
def test_bad_grouping_says_why(by: list[str], message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_by(by=by)
    assert (info.value.field, info.value.message) == ("by", message)


def test_groups_sort_by_value_with_the_unknown_last() -> None:
    assert group_sort_key((("station", "S2"), ("vehicle", None))) == ((False, "S2"), (True, ""))
    s1, s2 = _measures(["full_chest_pain", "several_vehicles"])
    report = aggregate(measures=[s2, s1], by=["station"], config=CONFIG, start=BASE, end=BASE)
    assert [r.key for r in report.rows] == [(("station", "S1"),), (("station", "S2"),)]
    assert report.by == ("station",)


def test_a_value_exactly_at_a_target_is_within_it_and_repairs_add_up() -> None:
    (m,) = _measures(["full_chest_pain"])
    at_target = replace(m, turnout_s=60.0, clock_repairs=2)
    report = aggregate(measures=[at_target, replace(m, clock_repairs=1)], by=[], config=CONFIG,
                       start=BASE, end=BASE)
    assert report.total.intervals["turnout_s"].within == ((60.0, 1),)  # 60 and 90
    assert report.total.clock_repairs == 3
