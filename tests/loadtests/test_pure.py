"""The harness's pure parts: arrivals, mix, fixes, crew times and the figures' arithmetic."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from dispatch.domain import CoordSystem, FixSource
from dispatch.geo.coords import gcj02_to_wgs84
from dispatch.geo.distance import haversine_m
from dispatch.triage import Answers, triage_call
from loadtests.arrivals import (
    DailyCurve,
    arrival_times,
    expected_calls,
    hourly_counts,
    poisson_arrivals,
)
from loadtests.crews import LogNormal, nearest, path_points
from loadtests.figures import (
    Target,
    VehicleEvent,
    distribution,
    double_assignments,
    highest_sustained,
    lost_and_duplicated,
    percentile,
    rate_by_bin,
    share_within,
    throughput,
)
from loadtests.fixes import FixProfile, fix_sequence
from loadtests.intake import hold_for
from loadtests.presentations import PRESENTATIONS, Mix, parse_mix

NOW = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([], 50, None),
    ([5.0], 99, 5.0),
    ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
    ([1.0, 2.0, 3.0, 4.0], 75, 3.0),
    ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
    ([4.0, 1.0, 3.0, 2.0], 0, 1.0),
    (list(map(float, range(1, 101))), 99, 99.0),
    (list(map(float, range(1, 101))), 95, 95.0),
])
def test_percentile_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_distribution_and_shares() -> None:
    d = distribution([10.0, 20.0, 30.0, 40.0])
    assert (d.n, d.mean, d.p50, d.p99, d.max) == (4, 25.0, 20.0, 40.0, 40.0)
    assert distribution([]).p50 is None
    assert share_within([100.0, 180.0, 181.0, 300.0], 180.0) == 0.5
    assert share_within([], 180.0) is None


@pytest.mark.parametrize(("events", "expected"), [
    ([(10.0, True), (20.0, False), (3700.0, True)], [0.5, 1.0, None]),
    ([(-1.0, True), (10_900.0, True)], [None, None, None]),
])
def test_rate_by_bin(events: list[tuple[float, bool]], expected: list[float | None]) -> None:
    assert rate_by_bin(events, bin_s=3600.0, bins=3) == expected


def test_throughput_bins() -> None:
    assert throughput([0.1, 0.2, 1.5, 2.9, 3.0], bin_s=1.0, start=0.0, end=3.0) == [2, 1, 1]
    assert throughput([0.5, 1.5], bin_s=2.0, start=0.0, end=2.0) == [1.0]


@pytest.mark.parametrize(("target", "value", "passed"), [
    (Target("p99", 25.0), 24.9, True),
    (Target("p99", 25.0), 25.0, True),
    (Target("p99", 25.0), 25.1, False),
    (Target("p99", 25.0), None, False),
    (Target("rate", 0.95, at_most=False), 0.95, True),
    (Target("rate", 0.95, at_most=False), 0.949, False),
])
def test_targets(target: Target, value: float | None, passed: bool) -> None:
    assert target.check(value).passed is passed


@pytest.mark.parametrize(("steps", "expected"), [
    ([], None),
    ([(100.0, False)], None),
    ([(100.0, True), (150.0, True), (225.0, False), (337.0, True)], 150.0),
    ([(100.0, True), (150.0, True)], 150.0),
])
def test_highest_sustained(steps: list[tuple[float, bool]], expected: float | None) -> None:
    assert highest_sustained(steps) == expected


def _ev(i: int, v: str, c: str, k: str) -> VehicleEvent:
    return VehicleEvent(event_id=i, vehicle_id=v, call_id=c, kind=k)


@pytest.mark.parametrize(("events", "problems"), [
    ([_ev(1, "V1", "a", "dispatched"), _ev(2, "V1", "a", "cleared"),
      _ev(3, "V1", "b", "dispatched")], 0),
    # the same clear and claim seen out of time order: event ids order them
    ([_ev(3, "V1", "b", "dispatched"), _ev(1, "V1", "a", "dispatched"),
      _ev(2, "V1", "a", "unassigned")], 0),
    ([_ev(1, "V1", "a", "dispatched"), _ev(2, "V1", "b", "dispatched")], 1),
    ([_ev(1, "V1", "a", "dispatched"), _ev(2, "V2", "b", "dispatched"),
      _ev(3, "V1", "b", "cleared"), _ev(4, "V1", "c", "dispatched")], 1),
])
def test_double_assignments(events: list[VehicleEvent], problems: int) -> None:
    assert len(double_assignments(events)) == problems


def test_lost_and_duplicated() -> None:
    ack = {"k1": ["a"], "k2": ["b", "b"], "k3": ["c", "d"], "k4": ["a"]}
    lost, dup = lost_and_duplicated(acknowledged=ack, readable=lambda c: c != "d")
    assert lost == ["d"]
    assert "k3" in dup and any("a answered for k1 and k4" in d for d in dup)
    assert "k2" not in dup


def test_arrivals_exact_count_follow_the_curve() -> None:
    curve = DailyCurve()
    times = arrival_times(calls=20_000, curve=curve, rng=random.Random(1))
    assert len(times) == 20_000 and times == sorted(times)
    counts = hourly_counts(times)
    for hour in (4, 11, 18):
        expected = 20_000 * curve.share_of_hour(hour)
        assert abs(counts[hour] - expected) < 5 * math.sqrt(expected)
    assert counts[11] > 2.5 * counts[4]


def test_arrivals_window_and_poisson_count() -> None:
    curve = DailyCurve()
    times = arrival_times(calls=100, curve=curve, rng=random.Random(2), start_s=8 * 3600,
                          end_s=10 * 3600)
    assert all(8 * 3600 <= t < 10 * 3600 for t in times)
    n = [len(poisson_arrivals(calls_per_day=2400, curve=curve, rng=random.Random(s)))
         for s in range(20)]
    assert abs(sum(n) / len(n) - 2400) < 3 * math.sqrt(2400 / 20) + 1
    assert expected_calls(calls_per_day=2400, curve=curve, start_s=0, end_s=86_400) == \
        pytest.approx(2400)
    with pytest.raises(ValueError):
        DailyCurve((1.0,) * 23)


def test_presentations_triage_as_labelled() -> None:
    for p in PRESENTATIONS:
        r = triage_call(Answers.model_validate(p.card(now=NOW)), complaint=p.complaint, now=NOW)
        assert (r.acuity, r.transport_class, r.pathway) == (
            p.acuity, p.transport_class, p.pathway), p.name


def test_mix_draws_by_share_and_parses() -> None:
    mix = parse_mix("cardiac_arrest=1,chest_pain=1,booking=0,"
                    + ",".join(f"{n}=0" for n in ("stroke", "major_trauma", "trauma",
                                                  "maternal", "paediatric", "breathing",
                                                  "urgent", "non_urgent")))
    rng = random.Random(3)
    names = [mix.draw(rng).name for _ in range(2000)]
    assert set(names) == {"cardiac_arrest", "chest_pain"}
    assert abs(names.count("chest_pain") - 1000) < 150
    with pytest.raises(ValueError, match="unknown"):
        Mix({"flu": 1.0})
    with pytest.raises(ValueError, match="name=share"):
        parse_mix("stroke")


@pytest.mark.parametrize("aml_share", [1.0, 0.0])
def test_fix_sequence(aml_share: float) -> None:
    rng = random.Random(4)
    lon, lat = 118.78, 32.04
    profile = FixProfile(aml_share=aml_share)
    second_errors = []
    for _ in range(300):
        fixes = fix_sequence(lon=lon, lat=lat, profile=profile, rng=rng)
        assert fixes[0].source is FixSource.CELL and 1000 <= fixes[0].accuracy_m <= 3000
        f = fixes[1]
        if aml_share == 1.0:
            assert f.source is FixSource.AML and f.coord_system is CoordSystem.WGS84
            assert 10 <= f.accuracy_m <= 50 and f.after_answer_s <= 20
            second_errors.append(haversine_m(f.lon, f.lat, lon, lat) / f.accuracy_m)
        else:
            assert f.source is FixSource.MANUAL and f.coord_system is CoordSystem.GCJ02
            w_lon, w_lat = gcj02_to_wgs84(f.lon, f.lat)
            second_errors.append(haversine_m(w_lon, w_lat, lon, lat) / f.accuracy_m)
    # the radius is one standard deviation: ~68% of true points fall inside it
    inside = sum(1 for e in second_errors if e <= 1.0) / len(second_errors)
    assert 0.55 < inside < 0.8


def test_lognormal_quantiles() -> None:
    d = LogNormal(median_s=75.0, p90_s=140.0)
    assert d.share_within(75.0) == pytest.approx(0.5)
    assert d.share_within(140.0) == pytest.approx(0.9, abs=1e-6)
    rng = random.Random(5)
    draws = [d.draw(rng) for _ in range(20_000)]
    assert sum(1 for x in draws if x <= 180) / len(draws) == pytest.approx(
        d.share_within(180.0), abs=0.01)
    with pytest.raises(ValueError):
        LogNormal(median_s=100.0, p90_s=50.0)


def test_path_points_end_at_target() -> None:
    pts = path_points(from_lon=0.0, from_lat=0.0, to_lon=1.0, to_lat=2.0, travel_s=250.0,
                      every_s=60.0)
    assert [round(t) for t, _, _ in pts] == [60, 120, 180, 240, 250]
    assert pts[-1][1:] == (1.0, 2.0)
    assert pts[1][1:] == pytest.approx((0.48, 0.96))
    assert path_points(from_lon=0, from_lat=0, to_lon=1, to_lat=1, travel_s=0,
                       every_s=1) == [(0.0, 1, 1)]


def test_nearest_and_hold() -> None:
    pts = {"H1": (118.0, 32.0), "H2": (118.5, 32.0)}
    assert nearest(lon=118.4, lat=32.0, points=pts) == "H2"
    assert nearest(lon=118.4, lat=32.0, points={}) is None
    assert hold_for(rate=1000, fleet=100) == pytest.approx(0.05)
    assert hold_for(rate=1, fleet=100) == 5.0
