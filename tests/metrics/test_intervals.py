"""Every crafted timeline against its hand-computed measures (pure path)."""

from __future__ import annotations

import pytest

from dispatch.metrics.intervals import measure_call
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
