"""ETA model: prior tables, local time, calibration that recovers a known scale."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from dispatch.errors import GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import (
    AREA_TYPES,
    DEFAULT_MIN_SAMPLES,
    HOUR_BANDS,
    AreaProfile,
    CellScale,
    EtaModel,
    Trip,
    _by_band,
    band_of_hour,
)

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("hour", "band"),
    [(0, "night"), (6, "night"), (7, "am_peak"), (9, "am_peak"), (10, "day"), (16, "day"),
     (17, "pm_peak"), (19, "pm_peak"), (20, "evening"), (23, "evening")],
)
def test_band_of_hour(hour: int, band: str) -> None:
    assert band_of_hour(hour) == band


@pytest.mark.parametrize("hour", [-1, 24])
def test_band_of_hour_rejects_bad_hours(hour: int) -> None:
    with pytest.raises(GeoError):
        band_of_hour(hour)


@pytest.mark.parametrize(
    ("area", "hour", "expected_s"),
    [
        # 1 km straight line x circuity / speed
        ("urban", 3, 1000 * 1.40 / (42 / 3.6)),
        ("urban", 8, 1000 * 1.40 / (24 / 3.6)),
        ("urban", 18, 1000 * 1.40 / (23 / 3.6)),
        ("suburban", 12, 1000 * 1.32 / (44 / 3.6)),
        ("rural", 22, 1000 * 1.25 / (62 / 3.6)),
    ],
)
def test_prior_travel_time(area: str, hour: int, expected_s: float) -> None:
    m = EtaModel.default()
    assert m.travel_s(distance_m=1000, area_type=area, hour=hour) == pytest.approx(expected_s)


def test_peak_is_slower_than_night_everywhere() -> None:
    m = EtaModel.default()
    for area in AREA_TYPES:
        night = m.travel_s(distance_m=5000, area_type=area, hour=3)
        for peak in (8, 18):
            assert m.travel_s(distance_m=5000, area_type=area, hour=peak) > night


def test_eta_uses_local_china_time_and_great_circle_distance() -> None:
    m = EtaModel.default()
    a, b = (118.78, 32.04), (118.80, 32.06)
    d = haversine_m(*a, *b)
    # 23:00 UTC is 07:00 in Nanjing: morning peak
    at = datetime(2025, 3, 1, 23, 0, tzinfo=UTC)
    got = m.eta_s(from_lon=a[0], from_lat=a[1], to_lon=b[0], to_lat=b[1], area_type="urban", at=at)
    assert got == pytest.approx(m.travel_s(distance_m=d, area_type="urban", hour=7))
    assert got == pytest.approx(
        m.eta_s(from_lon=a[0], from_lat=a[1], to_lon=b[0], to_lat=b[1], area_type="urban",
                at=at.astimezone(CST))
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.eta_s(from_lon=0, from_lat=0, to_lon=0, to_lat=0.01, area_type="urban",
                          at=datetime(2025, 1, 1)),  # noqa: DTZ001 - the naive case under test
        lambda m: m.travel_s(distance_m=100, area_type="downtown", hour=3),
        lambda m: m.travel_s(distance_m=-1, area_type="urban", hour=3),
        lambda m: m.calibrated([Trip(1000, 100, "moon", 3)]),
        lambda m: m.calibrated([], min_samples=0),
        lambda m: EtaModel(scales=(CellScale("urban", "rush", 1.2, 40),)),
        lambda m: EtaModel(scales=(CellScale("urban", "*", 0.0, 40),)),
    ],
)
def test_bad_input_raises_geo_error(call) -> None:
    with pytest.raises(GeoError):
        call(EtaModel.default())


def _synthetic_trips(
    *, model: EtaModel, area: str, hours: range, scale: float, n: int, seed: int,
    outlier_share: float = 0.0,
) -> list[Trip]:
    """Trips whose true time is prior x scale with 15% noise, some grossly wrong."""
    rng = random.Random(seed)
    trips = []
    for _ in range(n):
        d = rng.uniform(800, 15000)
        h = rng.choice(list(hours))
        t = model.prior_travel_s(distance_m=d, area_type=area, hour=h) * scale
        t *= rng.lognormvariate(0, 0.15)
        if rng.random() < outlier_share:
            t *= rng.choice([0.3, 2.5])  # wrong start point, status pressed late
        trips.append(Trip(distance_m=d, duration_s=t, area_type=area, hour=h))
    return trips


@pytest.mark.parametrize(
    ("area", "scale", "outliers"),
    [("urban", 1.3, 0.0), ("urban", 0.8, 0.25), ("suburban", 1.6, 0.2), ("rural", 1.0, 0.3)],
)
def test_calibration_recovers_a_known_scale(area: str, scale: float, outliers: float) -> None:
    prior = EtaModel.default()
    trips = _synthetic_trips(model=prior, area=area, hours=range(24), scale=scale, n=2000,
                             seed=7, outlier_share=outliers)
    fitted = prior.calibrated(trips)
    for hour in (3, 8, 12, 18, 22):
        assert fitted.scale(area_type=area, hour=hour) == pytest.approx(scale, rel=0.05)
        ratio = fitted.travel_s(distance_m=5000, area_type=area, hour=hour) / prior.travel_s(
            distance_m=5000, area_type=area, hour=hour)
        assert ratio == pytest.approx(scale, rel=0.05)
    others = [a for a in AREA_TYPES if a != area]
    for other in others:  # untouched areas keep the prior
        assert fitted.scale(area_type=other, hour=12) == 1.0


def test_calibration_per_band_with_area_fallback() -> None:
    prior = EtaModel.default()
    trips = (
        _synthetic_trips(model=prior, area="urban", hours=range(7, 10), scale=1.5, n=300, seed=1)
        + _synthetic_trips(model=prior, area="urban", hours=range(10, 17), scale=1.1, n=300,
                           seed=2)
        + _synthetic_trips(model=prior, area="urban", hours=range(0, 7), scale=0.7, n=10, seed=3)
    )
    fitted = prior.calibrated(trips)
    assert fitted.scale(area_type="urban", hour=8) == pytest.approx(1.5, rel=0.05)
    assert fitted.scale(area_type="urban", hour=12) == pytest.approx(1.1, rel=0.05)
    # night has only 10 trips: not trusted, the whole-area median is used instead
    night = fitted.scale(area_type="urban", hour=3)
    area_cell = next(s for s in fitted.scales if s.area_type == "urban" and s.band == "*")
    assert night == area_cell.scale and area_cell.samples == 610
    assert {s.band for s in fitted.scales} == {"*", "am_peak", "day"}


@pytest.mark.parametrize(("n", "trusted"), [(DEFAULT_MIN_SAMPLES - 1, False),
                                            (DEFAULT_MIN_SAMPLES, True)])
def test_calibration_needs_a_minimum_sample(n: int, trusted: bool) -> None:
    prior = EtaModel.default()
    trips = _synthetic_trips(model=prior, area="rural", hours=range(10, 17), scale=2.0, n=n,
                             seed=5)
    fitted = prior.calibrated(trips)
    assert (fitted.scale(area_type="rural", hour=12) != 1.0) is trusted
    # exactly min_samples trusts both the band's cell and the area's
    assert {s.band for s in fitted.scales} == ({"*", "day"} if trusted else set())


def test_implausible_trips_are_ignored() -> None:
    prior = EtaModel.default()
    good = _synthetic_trips(model=prior, area="urban", hours=range(10, 17), scale=1.2, n=40,
                            seed=9)
    junk = (
        [Trip(100, 600, "urban", 12)] * 100  # shorter than the GPS noise floor
        + [Trip(5000, 10, "urban", 12)] * 100  # 500 m/s
        + [Trip(5000, 0, "urban", 12)] * 100
        + [Trip(5000, 20000, "urban", 12)] * 100  # 0.25 m/s: a unit that never left
    )
    fitted = prior.calibrated(good + junk)
    assert fitted.scale(area_type="urban", hour=12) == pytest.approx(1.2, rel=0.08)
    assert all(s.samples == 40 for s in fitted.scales)


def test_recalibration_does_not_compound() -> None:
    prior = EtaModel.default()
    trips = _synthetic_trips(model=prior, area="urban", hours=range(24), scale=1.4, n=500, seed=4)
    once = prior.calibrated(trips)
    assert once.calibrated(trips) == once


def test_max_crow_speed_bounds_every_eta() -> None:
    rng = random.Random(3)
    prior = EtaModel.default()
    trips = _synthetic_trips(model=prior, area="rural", hours=range(24), scale=0.6, n=200, seed=6)
    for m in (prior, prior.calibrated(trips)):
        vmax = m.max_crow_speed_mps()
        for _ in range(500):
            area = rng.choice(AREA_TYPES)
            d = rng.uniform(0, 30000)
            t = m.travel_s(distance_m=d, area_type=area, hour=rng.randrange(24))
            assert t >= d / vmax - 1e-9
    assert len(HOUR_BANDS) == 5


def test_a_speed_per_band_covers_the_day_hour_by_hour() -> None:
    speeds = dict(zip([name for name, _ in HOUR_BANDS], [1.0, 2.0, 3.0, 4.0, 5.0], strict=True))
    profile = _by_band(**speeds)
    assert profile == tuple(speeds[band_of_hour(h)] for h in range(24))
    assert len(profile) == 24


@pytest.mark.parametrize(("circuity", "speeds", "message"), [
    (0.99, (30.0,) * 24, "circuity is road distance / straight line, so >= 1"),
    (1.0, (30.0,) * 23, "speed profile needs 24 positive hourly speeds"),
    (1.0, (30.0,) * 25, "speed profile needs 24 positive hourly speeds"),
    (1.0, (30.0,) * 23 + (0.0,), "speed profile needs 24 positive hourly speeds"),
])
def test_an_area_profile_refuses_what_cannot_be(circuity: float, speeds: tuple[float, ...],
                                                message: str) -> None:
    with pytest.raises(GeoError) as info:
        AreaProfile(circuity=circuity, speed_kmh_by_hour=speeds)
    assert info.value.message == message


def test_the_least_an_area_profile_takes() -> None:
    profile = AreaProfile(circuity=1.0, speed_kmh_by_hour=(0.1,) * 24)
    assert profile.circuity == 1.0


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: as ambiguous as no timezone."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


@pytest.mark.parametrize("at", [datetime(2025, 3, 1, 8, 0),  # noqa: DTZ001
                                datetime(2025, 3, 1, 8, 0, tzinfo=_NoOffset())])
def test_local_hour_needs_a_known_offset(at: datetime) -> None:
    with pytest.raises(GeoError) as info:
        EtaModel().local_hour(at)
    assert (info.value.field, info.value.message) == ("at", "datetimes must carry a timezone")


def test_max_crow_speed_is_the_fastest_profile_hour() -> None:
    # rural night: 68 km/h over a circuity of 1.25
    assert EtaModel().max_crow_speed_mps() == pytest.approx(68.0 / 3.6 / 1.25)
    crawl = AreaProfile(circuity=2.0, speed_kmh_by_hour=(0.72,) * 24)  # 0.1 m/s crow
    assert EtaModel(urban=crawl, suburban=crawl, rural=crawl).max_crow_speed_mps() == (
        pytest.approx(0.1))


def test_travel_from_zero_distance_and_refused_below() -> None:
    model = EtaModel()
    assert model.travel_s(distance_m=0.0, area_type="urban", hour=3) == 0.0
    half = model.travel_s(distance_m=0.5, area_type="urban", hour=3)
    assert half == pytest.approx(0.5 * 1.40 / (42.0 / 3.6))  # urban night: 42 km/h
    with pytest.raises(GeoError) as info:
        model.travel_s(distance_m=-0.1, area_type="urban", hour=3)
    assert (info.value.field, info.value.message) == ("distance_m", "distance must be >= 0")


@pytest.mark.parametrize("hour", [-1, 24])
def test_bad_hour_says_why(hour: int) -> None:
    with pytest.raises(GeoError) as info:
        band_of_hour(hour)
    assert (info.value.field, info.value.message) == ("hour", f"hour must be 0-23, got {hour}")


def test_calibration_refusals_say_why() -> None:
    with pytest.raises(GeoError) as info:
        EtaModel().calibrated([Trip(1000.0, 100.0, "lunar", 3)])
    assert (info.value.field, info.value.message) == (
        "area_type", "unknown area type 'lunar' in trip")
    with pytest.raises(GeoError) as few:
        EtaModel().calibrated([], min_samples=0)
    assert (few.value.field, few.value.message) == ("min_samples", "min_samples must be >= 1")
    assert EtaModel().calibrated([], min_samples=1).scales == ()


def test_model_refusals_say_why() -> None:
    with pytest.raises(GeoError) as unknown:
        EtaModel(scales=(CellScale("urban", "rush", 1.2, 40),))
    assert unknown.value.message == "unknown calibration cell urban/rush"
    with pytest.raises(GeoError) as zero:
        EtaModel(scales=(CellScale("urban", "*", 0.0, 40),))
    assert zero.value.message == "calibration scale must be positive"
    with pytest.raises(GeoError) as area:
        EtaModel().profile("lunar")
    assert (area.value.field, area.value.message) == ("area_type", "unknown area type 'lunar'")


def test_calibration_keeps_the_profiles_and_the_zone() -> None:
    crawl = AreaProfile(circuity=2.0, speed_kmh_by_hour=(10.0,) * 24)
    model = EtaModel(urban=crawl, suburban=crawl, rural=crawl, local_tz=UTC)
    fitted = model.calibrated([])
    assert (fitted.urban, fitted.suburban, fitted.rural, fitted.local_tz) == (
        crawl, crawl, crawl, UTC)


def _reference_eta_s(m: EtaModel, from_lon: float, from_lat: float, to_lon: float,
                     to_lat: float, area: str, at: datetime) -> float:
    """eta_s as it was first written: distance, local hour, then travel_s."""
    hour = at.astimezone(m.local_tz).hour
    return m.travel_s(distance_m=haversine_m(from_lon, from_lat, to_lon, to_lat),
                      area_type=area, hour=hour)


def _calibrated() -> EtaModel:
    rng = random.Random(5)
    trips = [Trip(rng.uniform(500, 9000), rng.uniform(100, 900), rng.choice(AREA_TYPES),
                  rng.randrange(24)) for _ in range(2000)]
    return EtaModel.default().calibrated(trips, min_samples=20)


@pytest.mark.parametrize("calibrated", [False, True])
def test_eta_and_trips_to_are_the_reference_floats_exactly(calibrated: bool) -> None:
    # built in the test, not at collection: a mutant of the model's set-up must reach it
    model = _calibrated() if calibrated else EtaModel.default()
    assert calibrated == any(s.scale != 1.0 for s in model.scales)
    rng = random.Random(11)
    for _ in range(300):
        at = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(2000))
        dests = [(rng.uniform(118.3, 119.3), rng.uniform(31.2, 32.7), rng.choice(AREA_TYPES))
                 for _ in range(rng.randrange(1, 20))]
        trips = model.trips_to(dests, at=at)
        for _ in range(5):
            lon, lat = rng.uniform(118.3, 119.3), rng.uniform(31.2, 32.7)
            expected = [_reference_eta_s(model, lon, lat, x, y, a, at) for x, y, a in dests]
            assert [model.eta_s(from_lon=lon, from_lat=lat, to_lon=x, to_lat=y, area_type=a,
                                at=at) for x, y, a in dests] == expected
            assert trips.from_point(lon, lat) == expected


def test_trips_to_and_eta_refuse_an_unknown_area_and_a_naive_time() -> None:
    m = EtaModel.default()
    at = datetime(2025, 6, 1, 3, tzinfo=UTC)
    with pytest.raises(GeoError) as err:
        m.trips_to([(118.8, 32.0, "lunar")], at=at)
    assert err.value.field == "area_type" and "'lunar'" in str(err.value)
    with pytest.raises(GeoError):
        m.eta_s(from_lon=118.8, from_lat=32.0, to_lon=118.9, to_lat=32.1, area_type="lunar",
                at=at)
    for _ in range(2):  # a refusal is not remembered as an hour
        with pytest.raises(GeoError):
            m.local_hour(at.replace(tzinfo=None))
        with pytest.raises(GeoError):
            m.trips_to([(118.8, 32.0, "urban")], at=at.replace(tzinfo=None))


def test_local_hour_of_a_repeated_wall_time_follows_fold() -> None:
    from zoneinfo import ZoneInfo

    # 01:30 happens twice in New York on 2025-11-02: 05:30 and 06:30 UTC
    first = datetime(2025, 11, 2, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    second = first.replace(fold=1)
    m = EtaModel(local_tz=UTC)
    assert (m.local_hour(first), m.local_hour(second)) == (5, 6)
    assert (m.local_hour(second), m.local_hour(first)) == (6, 5)


def test_distances_from_are_haversine_exactly() -> None:
    from dispatch.geo.distance import distances_from_m, prepared

    rng = random.Random(2)
    to = [(rng.uniform(-180, 180), rng.uniform(-90, 90)) for _ in range(200)]
    for _ in range(50):
        lon, lat = rng.uniform(-180, 180), rng.uniform(-90, 90)
        assert distances_from_m(lon, lat, [prepared(x, y) for x, y in to]) == [
            haversine_m(lon, lat, x, y) for x, y in to]
