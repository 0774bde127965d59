"""Ranking under location uncertainty (dispatch.geo.uncertainty), pure."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from dispatch.domain import VehicleKind
from dispatch.errors import GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.fusion import rescale_radius
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


# ---------------------------------------------------------------------------- exact values

# The three rings sit at the Rayleigh quantiles 1/6, 1/2 and 5/6 of a circle whose 68 %
# radius is R: distance = R * sqrt(ln(1 / (1 - p)) / ln(1 / 0.32)).
RING_FRACTIONS = [math.sqrt(math.log(1 / (1 - p)) / math.log(1 / 0.32))
                  for p in (1 / 6, 1 / 2, 5 / 6)]


def _bearing_deg(lon: float, lat: float) -> float:
    """Bearing of a nearby point from (LON, LAT), degrees clockwise from north."""
    dx = (lon - LON) * math.cos(math.radians(LAT))
    return math.degrees(math.atan2(dx, lat - LAT)) % 360


def test_sample_rings_and_spokes_exactly() -> None:
    radius = 2_000.0
    points = sample_points(LON, LAT, radius)
    for ring, fraction in enumerate(RING_FRACTIONS):
        spokes = points[ring * 6:(ring + 1) * 6]
        for spoke, (lon, lat) in enumerate(spokes):
            assert haversine_m(LON, LAT, lon, lat) == pytest.approx(radius * fraction, rel=1e-4)
            # every other ring turned half a step (30 degrees)
            expected = (60 * spoke + (30 if ring % 2 else 0)) % 360
            assert _bearing_deg(lon, lat) == pytest.approx(expected, abs=0.01)


def test_sampling_starts_at_the_exact_threshold() -> None:
    assert len(sample_points(LON, LAT, EXACT_BELOW_M)) == 18
    assert sample_points(LON, LAT, 0.0) == [(LON, LAT)]
    assert UncertainEta(LON, LAT, EXACT_BELOW_M, crow_s).sampled
    assert not UncertainEta(LON, LAT, math.nextafter(EXACT_BELOW_M, 0), crow_s).sampled


def test_samples_near_the_pole_stay_finite() -> None:
    # cos(90 deg) is ~6e-17: the east-west scale is held at 1e-6 so no point flies off
    points = sample_points(0.0, 90.0, 100.0)
    north = points[1]  # ring 0, spoke 1: 60 degrees east of north
    r = 100.0 / math.sqrt(-2 * math.log(0.32)) * math.sqrt(-2 * math.log(5 / 6))
    metres_per_deg = math.radians(1.0) * 6_371_008.8
    assert north[0] == pytest.approx(r * math.sin(math.pi / 3) / (metres_per_deg * 1e-6))


def test_bad_radius_names_the_field() -> None:
    with pytest.raises(GeoError) as info:
        sample_points(LON, LAT, -0.5)
    assert (info.value.field, info.value.message) == (
        "radius_m", "radius_m must be a finite number >= 0")


def test_expected_eta_is_the_plain_mean_over_the_points() -> None:
    where = UncertainEta(LON, LAT, 1_000.0, lambda _a, _b, lon, lat: lat - LAT + 100.0)
    mean_offset = sum(lat - LAT for _, lat in where.points) / len(where.points)
    assert where.expected_s(0.0, 0.0) == pytest.approx(100.0 + mean_offset, abs=1e-12)
    assert where.centre_s(0.0, 0.0) == 100.0
    assert where.reason() == ("location uncertain (68 % radius 1000 m): ETA is the mean over "
                              "18 equally likely points of the circle")


def test_search_start_is_the_99_percent_radius_or_the_base() -> None:
    wide = rescale_radius(8_000.0, from_pct=68, to_pct=99)
    assert search_start_m(8_000.0, base_m=2_000.0) == wide
    assert search_start_m(8_000.0, base_m=wide + 1) == wide + 1
    assert search_start_m(0.0, base_m=2_000.0) == 2_000.0
    assert search_start_m(-5.0, base_m=2_000.0) == 2_000.0
    # a sub-metre radius still widens a tiny base
    assert search_start_m(0.5, base_m=0.1) == rescale_radius(0.5, from_pct=68, to_pct=99)


@pytest.mark.parametrize(("radius", "size"), [
    (None, 8),
    (49.9, 8),
    (50.0, 16),  # sampled: one more shortlist
    (2_000.0, 16),
    (2_000.1, 24),
    (4_000.0, 24),
    (6_000.0, 32),  # 1 + 3 = the cap of 4
    (60_000.0, 32),
])
def test_shortlist_steps_at_each_base_search_radius(radius: float | None, size: int) -> None:
    assert shortlist_size(radius, base=8, base_search_m=2_000.0) == size


@pytest.mark.parametrize(("base", "search"), [(0, 2_000.0), (8, 0.0), (8, -1.0)])
def test_shortlist_needs_a_positive_base(base: int, search: float) -> None:
    with pytest.raises(GeoError) as info:
        shortlist_size(100.0, base=base, base_search_m=search)
    assert (info.value.field, info.value.message) == (
        "base", "base and base_search_m must be positive")
    assert shortlist_size(100.0, base=1, base_search_m=2_000.0) == 2
    assert shortlist_size(100.0, base=1, base_search_m=0.5) == 4


def _fixed(seconds: float) -> UncertainEta:
    return UncertainEta(LON, LAT, 0.0, lambda *_: seconds)


@pytest.mark.parametrize(("before", "after", "change"), [
    (300.0, 360.0, None),  # exactly the threshold: not news
    (300.44, 360.77, {"eta_before_s": 300.4, "eta_after_s": 360.8, "eta_change_s": 60.3}),
    (300.44, 240.11, {"eta_before_s": 300.4, "eta_after_s": 240.1, "eta_change_s": -60.3}),
    (300.0, 240.0, None),
])
def test_a_correction_is_news_above_the_threshold_either_way(
        before: float, after: float, change: dict[str, float] | None) -> None:
    assert eta_correction(_fixed(before), _fixed(after), from_lon=LON, from_lat=LAT,
                          threshold_s=60.0) == change


def test_expected_eta_over_trips_is_the_per_point_mean_exactly() -> None:
    from dispatch.geo.eta import EtaModel

    model = EtaModel.default()
    rng = random.Random(3)
    for _ in range(100):
        lon, lat = rng.uniform(118.5, 119.0), rng.uniform(31.8, 32.3)
        radius = rng.choice([0.0, 10.0, 49.9, 50.0, 300.0, 2500.0, 8000.0])
        area = rng.choice(["urban", "suburban", "rural"])

        def one(a: float, b: float, c: float, d: float, area: str = area) -> float:
            return model.eta_s(from_lon=a, from_lat=b, to_lon=c, to_lat=d, area_type=area,
                               at=NOW)

        def trips(points, area: str = area):  # type: ignore[no-untyped-def]
            return model.trips_to([(x, y, area) for x, y in points], at=NOW).from_point

        plain = UncertainEta(lon, lat, radius, one)
        fast = UncertainEta(lon, lat, radius, one, trips)
        assert fast == plain and fast.points == plain.points
        for _ in range(5):
            u_lon, u_lat = rng.uniform(118.5, 119.0), rng.uniform(31.8, 32.3)
            expected = sum(one(u_lon, u_lat, x, y) for x, y in plain.points) / len(plain.points)
            assert fast.expected_s(u_lon, u_lat) == plain.expected_s(u_lon, u_lat) == expected


def test_units_at_one_position_are_timed_once() -> None:
    calls: list[tuple[float, float]] = []

    def counted(a: float, b: float, c: float, d: float) -> float:
        calls.append((a, b))
        return crow_s(a, b, c, d)

    where = UncertainEta(LON, LAT, 3_000.0, counted)
    first = where.expected_s(118.70, 32.00)
    assert len(calls) == len(where.points)
    assert where.expected_s(118.70, 32.00) == first  # a second unit at the same station
    assert len(calls) == len(where.points)
    assert where.expected_s(118.71, 32.00) != first
    assert len(calls) == 2 * len(where.points)


def test_with_trips_the_units_are_timed_through_them_not_point_by_point() -> None:
    one_by_one: list[tuple[float, float]] = []
    together: list[tuple[float, float]] = []

    def counted(a: float, b: float, c: float, d: float) -> float:
        one_by_one.append((a, b))
        return crow_s(a, b, c, d)

    def trips(points):  # type: ignore[no-untyped-def]
        def from_point(a: float, b: float) -> list[float]:
            together.append((a, b))
            return [crow_s(a, b, x, y) for x, y in points]
        return from_point

    where = UncertainEta(LON, LAT, 3_000.0, counted, trips)
    plain = UncertainEta(LON, LAT, 3_000.0, crow_s)
    assert where.expected_s(118.70, 32.00) == plain.expected_s(118.70, 32.00)
    assert (one_by_one, together) == ([], [(118.70, 32.00)])
    assert where.centre_s(118.70, 32.00) == crow_s(118.70, 32.00, LON, LAT)
