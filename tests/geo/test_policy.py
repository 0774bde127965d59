"""Dispatch policies: the level IV reserve rule and coverage-aware ordering."""

from __future__ import annotations

import pytest

from dispatch.domain import VehicleKind
from dispatch.geo.policy import keep_reserve, prefer_coverage
from dispatch.geo.ranking import Ranked


def r(vid: str, eta_s: float) -> Ranked:
    return Ranked(vehicle_id=vid, kind=VehicleKind.ALS, distance_m=eta_s * 10, eta_s=eta_s,
                  reasons=("nearest",), stale=False)


DISTRICT = {"A": "d1", "B": "d2", "C": "d2", "D": None}


@pytest.mark.parametrize(("acuity", "available", "expected"), [
    (4, {"d1": 1, "d2": 2}, ["B", "C", "D"]),  # A is d1's last unit
    (4, {"d1": 2, "d2": 2}, ["A", "B", "C", "D"]),
    (4, {"d1": 1, "d2": 1}, ["D"]),  # both districts down to their last; D has no district
    (3, {"d1": 1, "d2": 1}, ["A", "B", "C", "D"]),  # only level IV keeps the reserve
    (1, {"d1": 1, "d2": 1}, ["A", "B", "C", "D"]),
])
def test_level_iv_leaves_the_last_vehicle(acuity: int, available: dict[str, int],
                                          expected: list[str]) -> None:
    ranked = [r("A", 100), r("B", 200), r("C", 300), r("D", 400)]
    got = keep_reserve(ranked, acuity=acuity, district_of=DISTRICT,
                       available_by_district=available)
    assert [x.vehicle_id for x in got] == expected


def test_coverage_prefers_the_unit_whose_district_keeps_more() -> None:
    ranked = [r("A", 100), r("B", 140), r("C", 400)]
    got = prefer_coverage(ranked, district_of=DISTRICT, available_by_district={"d1": 1, "d2": 3},
                          slack_s=60)
    assert [x.vehicle_id for x in got] == ["B", "A", "C"]
    assert "coverage" in got[0].reasons[-1]


def test_coverage_never_trades_more_than_the_slack() -> None:
    ranked = [r("A", 100), r("B", 170)]
    got = prefer_coverage(ranked, district_of=DISTRICT, available_by_district={"d1": 1, "d2": 3},
                          slack_s=60)
    assert [x.vehicle_id for x in got] == ["A", "B"]
    assert got[0].reasons == ("nearest",)


def test_coverage_keeps_eta_order_on_equal_districts() -> None:
    ranked = [r("B", 100), r("C", 120)]
    got = prefer_coverage(ranked, district_of=DISTRICT, available_by_district={"d2": 2},
                          slack_s=60)
    assert [x.vehicle_id for x in got] == ["B", "C"]
    assert prefer_coverage([], district_of={}, available_by_district={}, slack_s=60) == []
