"""Every crafted timeline against its hand-computed measures (pure path)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from dispatch.metrics.intervals import INTERVALS, CallMeasures, IndicatorConfig, measure_call
from tests.metrics.metrics_cases import BASE, CASES, Case, call_row, timeline


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_measures_match_hand_computed(case: Case) -> None:
    measures = measure_call(
        call=call_row(case=case, base=BASE),
        events=timeline(case=case, base=BASE),
        config=case.config,
    )
    got = {name: getattr(measures, name) for name in case.expect}
    assert got == case.expect


def test_an_empty_timeline_measures_nothing() -> None:
    case = CASES[0]
    m = measure_call(call=call_row(case=case, base=BASE), events=[], config=case.config)
    assert m.call_response_s is None
    assert m.answered_in_time is None
    assert m.departed_in_time is None
    assert m.vehicle_id is None


def _judged(name: str, *, as_of_s: float | None, grace_s: float = 0.0) -> CallMeasures:
    case = next(c for c in CASES if c.name == name)
    config = replace(case.config, pickup_grace_s=grace_s,
                     as_of=None if as_of_s is None else BASE + timedelta(seconds=as_of_s))
    return measure_call(call=call_row(case=case, base=BASE),
                        events=timeline(case=case, base=BASE), config=config)


@pytest.mark.parametrize(("as_of_s", "expected"), [
    (76, None),  # dispatched 16 s ago: it can still depart in time
    (240, None),  # exactly 180 s: a departure now would still be within the limit
    (241, False),  # the limit has run out without a departure
    (None, False),  # a closed period: everything is judged
])
def test_a_departure_is_judged_only_once_its_limit_has_run_out(
    as_of_s: float | None, expected: bool | None
) -> None:
    # no_departure: dispatched at 60 s, never departed
    assert _judged("no_departure", as_of_s=as_of_s).departed_in_time is expected


def test_a_departure_already_made_is_judged_at_once() -> None:
    # late_departure: dispatched at 60 s, departed at 250 s; read at 260 s
    assert _judged("late_departure", as_of_s=260).departed_in_time is False
    assert _judged("departure_at_limit", as_of_s=241).departed_in_time is True


@pytest.mark.parametrize(("name", "as_of_s", "grace_s", "expected"), [
    ("booking_missed", 1800, 0.0, None),  # the window (to 3600 s) is still open
    ("booking_missed", 3600, 0.0, None),  # on scene now would still be on time
    ("booking_missed", 3601, 0.0, False),
    ("booking_missed", 3800, 300.0, None),  # within the grace
    ("booking_missed", 3901, 300.0, False),
    ("booking_on_time", 3550, 0.0, True),  # on scene at 3500 s: judged at once
    ("booking_late", 3800, 0.0, False),  # on scene at 3700 s, after the window
])
def test_a_pickup_is_judged_only_once_its_window_has_closed_or_it_happened(
    name: str, as_of_s: float, grace_s: float, expected: bool | None
) -> None:
    assert _judged(name, as_of_s=as_of_s, grace_s=grace_s).pickup_on_time is expected


def test_each_interval_is_paired_with_its_own_targets() -> None:
    config = IndicatorConfig(answer_limit_s=9.0, processing_target_s=61.0,
                             turnout_target_s=62.0, departure_limit_s=170.0,
                             response_targets_s=(400.0, 700.0), travel_target_s=250.0)
    assert {name: config.targets_of(name) for name in INTERVALS if config.targets_of(name)} == {
        "call_response_s": (9.0,),
        "processing_s": (61.0,),
        "turnout_s": (62.0,),
        "departure_s": (170.0,),
        "response_s": (400.0, 700.0),
        "travel_s": (250.0,),
    }
    assert config.targets_of("offload_s") == ()
