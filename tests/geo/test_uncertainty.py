"""Ranking under location uncertainty (dispatch.geo.uncertainty), pure."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from dispatch.domain import VehicleKind
from dispatch.errors import GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.ranking import Candidate, rank
from dispatch.geo.uncertainty import (
    EXACT_BELOW_M,
    SHORTLIST_CAP_FACTOR,
    UncertainEta,
    eta_correction,
    sample_points,
    search_start_m,
    shortlist_size,
)

LON, LAT = 118.78, 32.04
NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def crow_s(from_lon: float, from_lat: float, to_lon: float, to_lat: float) -> float:
    """6 m/s straight line: the shape of the ETA model (linear in distance)."""
    return haversine_m(from_lon, from_lat, to_lon, to_lat) / 6.0


def test_a_precise_location_is_its_centre() -> None:
    assert sample_points(LON, LAT, EXACT_BELOW_M - 1) == [(LON, LAT)]
    where = UncertainEta(LON, LAT, 30.0, crow_s)
    assert where.expected_s(LON + 0.01, LAT) == where.centre_s(LON + 0.01, LAT)
    assert where.reason() is None


def test_samples_stand_for_the_confidence_circle() -> None:
    radius = 8_000.0
    points = sample_points(LON, LAT, radius)
    assert len(points) == 18
    # Centred on the estimate ...
    mean_lon = sum(p[0] for p in points) / len(points)
    mean_lat = sum(p[1] for p in points) / len(points)
    assert haversine_m(mean_lon, mean_lat, LON, LAT) < 1.0
    # ... and two thirds of them inside the 68 % circle, as the distribution says.
    inside = sum(haversine_m(LON, LAT, *p) <= radius for p in points)
    assert inside == 12


@pytest.mark.parametrize("radius", [-1.0, math.inf, math.nan])
def test_bad_radius(radius: float) -> None:
    with pytest.raises(GeoError):
        sample_points(LON, LAT, radius)


def test_expected_eta_grows_with_doubt_and_near_and_far_units_converge() -> None:
    near, far = (LON + 0.0106, LAT), (LON - 0.0223, LAT)  # 1.0 km and 2.1 km
    gaps = []
    for radius in (30.0, 1_000.0, 8_000.0):
        where = UncertainEta(LON, LAT, radius, crow_s)
        assert where.expected_s(*near) >= where.centre_s(*near) - 1e-6
        gaps.append(where.expected_s(*far) - where.expected_s(*near))
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert gaps[0] > 170 and gaps[2] < 60


def test_ranking_by_expected_eta_lets_the_preferred_kind_win_under_doubt() -> None:
    cands = [
        Candidate("B1", VehicleKind.BLS, LON + 0.0106, LAT, frozenset(), NOW, 2),
        Candidate("A1", VehicleKind.ALS, LON - 0.0223, LAT, frozenset(), NOW, 2),
    ]

    def order(radius: float) -> list[str]:
        where = UncertainEta(LON, LAT, radius, crow_s)
        ranked = rank(candidates=cands, lon=LON, lat=LAT,
                      kinds=(VehicleKind.ALS, VehicleKind.BLS), required_capabilities=frozenset(),
                      eta=lambda c: where.expected_s(c.lon, c.lat), now=NOW)
        return [r.vehicle_id for r in ranked]

    assert order(30.0) == ["B1", "A1"]  # BLS ~180 s sooner: more than the 120 s margin
    assert order(8_000.0) == ["A1", "B1"]  # ~30 s apart on average: ALS preferred


def test_search_starts_outside_the_99_percent_circle() -> None:
    assert search_start_m(None, base_m=2_000.0) == 2_000.0
    assert search_start_m(300.0, base_m=2_000.0) == 2_000.0
    assert search_start_m(8_000.0, base_m=2_000.0) == pytest.approx(8_000.0 * 3.0349 / 1.5096,
                                                                  rel=1e-3)


def test_shortlist_grows_with_the_radius_up_to_a_cap() -> None:
    assert shortlist_size(30.0, base=8, base_search_m=2_000.0) == 8
    assert shortlist_size(1_500.0, base=8, base_search_m=2_000.0) == 16
    assert shortlist_size(8_000.0, base=8, base_search_m=2_000.0) == 8 * SHORTLIST_CAP_FACTOR
    with pytest.raises(GeoError):
        shortlist_size(100.0, base=0, base_search_m=2_000.0)


def test_a_correction_is_news_when_it_moves_the_eta_enough() -> None:
    crew = (LON + 0.03, LAT)
    before = UncertainEta(LON, LAT, 1_500.0, crow_s)
    toward = UncertainEta(LON + 0.008, LAT, 30.0, crow_s)  # ~760 m toward the crew
    change = eta_correction(before, toward, from_lon=crew[0], from_lat=crew[1],
                            threshold_s=60.0)
    assert change is not None and change["eta_change_s"] < -60
    assert change["eta_after_s"] < change["eta_before_s"]
    nudge = UncertainEta(LON + 0.0002, LAT, 30.0, crow_s)
    after = UncertainEta(LON, LAT, 30.0, crow_s)
    assert eta_correction(after, nudge, from_lon=crew[0], from_lat=crew[1],
                          threshold_s=60.0) is None
