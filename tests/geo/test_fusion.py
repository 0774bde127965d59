"""Location fusion: weighting, ageing, contradiction, manual pins, re-ranking trigger."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, tzinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.domain import FixSource
from dispatch.errors import GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.fusion import (
    AGE_GROWTH_M_PER_S,
    Fix,
    FusedLocation,
    aged_accuracy_m,
    fuse,
    moved_beyond,
    rescale_radius,
)

NOW = datetime(2024, 3, 1, 8, 30, 0, tzinfo=UTC)
XINJIEKOU = (118.7784, 32.0415)
M_PER_DEG_LAT = 111_195.0  # metres per degree of latitude on the mean sphere


def at(north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """A point offset from Xinjiekou by metres north and east."""
    lon, lat = XINJIEKOU
    return (
        lon + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
        lat + north_m / M_PER_DEG_LAT,
    )


def fix(
    fix_id: int | str,
    point: tuple[float, float],
    accuracy_m: float,
    source: FixSource = FixSource.GNSS,
    age_s: float = 0.0,
) -> Fix:
    return Fix(
        fix_id=fix_id,
        lon=point[0],
        lat=point[1],
        accuracy_m=accuracy_m,
        source=source,
        observed_at=NOW - timedelta(seconds=age_s),
    )


def test_no_fixes_no_location():
    assert fuse([], now=NOW) is None


def test_single_fix():
    result = fuse([fix(1, XINJIEKOU, 12.0)], now=NOW)
    assert result is not None
    assert result.method == "single"
    assert (result.lon, result.lat) == pytest.approx(XINJIEKOU, abs=1e-9)
    assert result.radius_m == pytest.approx(12.0)
    assert (result.used, result.rejected, result.superseded) == ((1,), (), ())


def test_inverse_variance_mean_matches_the_closed_form():
    # Two fixes 11.1 m apart on one meridian, radii 10 and 20 m: weights 1/100 and 1/400,
    # so the estimate sits one fifth of the way from the precise fix to the other.
    a = fix("a", at(), 10.0)
    b = fix("b", at(north_m=11.1), 20.0)
    result = fuse([a, b], now=NOW)
    assert result is not None
    assert result.method == "weighted"
    assert result.lat == pytest.approx(a.lat + (b.lat - a.lat) * 0.2, abs=1e-9)
    assert result.lon == pytest.approx(a.lon, abs=1e-9)
    # Consistent fixes: radius is the inverse-variance one, 1/sqrt(1/10^2 + 1/20^2).
    assert result.radius_m == pytest.approx(1.0 / math.sqrt(1 / 100 + 1 / 400), rel=1e-6)


def test_radius_shrinks_as_better_fixes_arrive():
    arrivals = [
        fix("cell", at(north_m=120, east_m=-80), 800.0, FixSource.CELL),
        fix("wifi", at(north_m=20, east_m=15), 60.0, FixSource.WIFI),
        fix("aml-gnss", at(north_m=3), 12.0, FixSource.GNSS),
        fix("gnss-2", at(east_m=2), 8.0, FixSource.GNSS),
    ]
    radii = []
    for n in range(1, len(arrivals) + 1):
        result = fuse(arrivals[:n], now=NOW)
        assert result is not None
        assert result.rejected == ()
        radii.append(result.radius_m)
    assert all(later < earlier for earlier, later in zip(radii, radii[1:], strict=False))
    assert radii[-1] < 8.0
    final = fuse(arrivals, now=NOW)
    assert final is not None
    assert haversine_m(final.lon, final.lat, *XINJIEKOU) < 5.0


CONTRADICTIONS = [
    # (case, fixes, expected used, expected rejected)
    (
        "far cell against two agreeing GNSS",
        [
            fix("g1", at(), 10.0),
            fix("g2", at(north_m=6, east_m=4), 12.0),
            fix("cell", at(north_m=5000), 300.0, FixSource.CELL),
        ],
        ("g1", "g2"),
        ("cell",),
    ),
    (
        "stale-looking GNSS against agreeing Wi-Fi and cell",
        [
            fix("wifi", at(), 40.0, FixSource.WIFI),
            fix("cell", at(north_m=150), 400.0, FixSource.CELL),
            fix("gnss", at(east_m=3000), 8.0, FixSource.GNSS),
        ],
        ("wifi", "cell"),
        ("gnss",),
    ),
    (
        "two that disagree: keep the more precise",
        [
            fix("cell", at(north_m=4000), 500.0, FixSource.CELL),
            fix("gnss", at(), 10.0),
        ],
        ("gnss",),
        ("cell",),
    ),
    (
        "two equally precise that disagree: keep the newer",
        [
            fix("old", at(north_m=2000), 10.0, age_s=5.0),
            fix("new", at(), 10.0, age_s=0.0),
        ],
        ("new",),
        ("old",),
    ),
    (
        # Two 10 m fixes: sigma 6.62 m each, so 99 % consistency allows 28.4 m (25 m passes
        # in test_scattered_fixes_inflate_the_radius); 35 m does not.
        "two 10 m fixes 35 m apart are just beyond 99 %",
        [
            fix("older", at(north_m=35), 10.0, age_s=1e-3),
            fix("newer", at(), 10.0),
        ],
        ("newer",),
        ("older",),
    ),
    (
        "a coarse cell fix whose circle covers the GNSS is consistent, not rejected",
        [
            fix("gnss", at(), 10.0),
            fix("cell", at(north_m=1500), 1500.0, FixSource.CELL),
        ],
        ("gnss", "cell"),
        (),
    ),
    (
        "two outliers, one on each side",
        [
            fix("g1", at(), 10.0),
            fix("g2", at(north_m=5), 10.0),
            fix("g3", at(east_m=5), 10.0),
            fix("bad-n", at(north_m=3000), 50.0, FixSource.WIFI),
            fix("bad-s", at(north_m=-3000), 50.0, FixSource.WIFI),
        ],
        ("g1", "g2", "g3"),
        ("bad-n", "bad-s"),
    ),
]


@pytest.mark.parametrize(("case", "fixes", "used", "rejected"), CONTRADICTIONS)
def test_contradicting_fixes_are_rejected(case, fixes, used, rejected):
    result = fuse(fixes, now=NOW)
    assert result is not None
    assert result.used == used, case
    assert result.rejected == rejected, case
    kept = [f for f in fixes if f.fix_id in used]
    # The estimate comes from the kept fixes only: it lies among them.
    assert min(haversine_m(result.lon, result.lat, f.lon, f.lat) for f in kept) < 1000.0


def test_order_of_fixes_does_not_change_the_estimate():
    rng = random.Random(11)
    fixes = [
        fix(i, at(rng.uniform(-40, 40), rng.uniform(-40, 40)), rng.uniform(10, 80), age_s=i)
        for i in range(8)
    ] + [fix("far", at(north_m=6000), 30.0, FixSource.WIFI)]
    reference = fuse(fixes, now=NOW)
    assert reference is not None
    for _ in range(20):
        shuffled = fixes[:]
        rng.shuffle(shuffled)
        result = fuse(shuffled, now=NOW)
        assert result is not None
        assert (result.lon, result.lat) == pytest.approx((reference.lon, reference.lat), abs=1e-9)
        assert result.radius_m == pytest.approx(reference.radius_m)
        assert set(result.used) == set(reference.used)
        assert set(result.rejected) == {"far"}


def test_scattered_fixes_inflate_the_radius():
    # Two 10 m fixes 25 m apart are consistent at 99 % but scatter more than their radii
    # claim, so the radius grows past the naive 10/sqrt(2).
    together = fuse([fix(1, at(), 10.0), fix(2, at(), 10.0)], now=NOW)
    apart = fuse([fix(1, at(), 10.0), fix(2, at(north_m=25), 10.0)], now=NOW)
    assert together is not None and apart is not None
    assert apart.rejected == ()
    assert together.radius_m == pytest.approx(10.0 / math.sqrt(2))
    assert apart.radius_m > 1.5 * together.radius_m


AGEING = [
    # (case, source, accuracy, age s, expected aged accuracy)
    ("fresh", FixSource.GNSS, 10.0, 0.0, 10.0),
    ("one minute", FixSource.GNSS, 10.0, 60.0, math.hypot(10.0, AGE_GROWTH_M_PER_S * 60)),
    ("ten minutes of cell", FixSource.CELL, 500.0, 600.0, math.hypot(500.0, 840.0)),
    ("stamped in the future", FixSource.WIFI, 30.0, -20.0, 30.0),
    ("an address does not move", FixSource.ADDRESS, 50.0, 900.0, 50.0),
    ("a pin does not move", FixSource.MANUAL, 25.0, 900.0, 25.0),
]


@pytest.mark.parametrize(("case", "source", "accuracy", "age_s", "expected"), AGEING)
def test_ageing(case, source, accuracy, age_s, expected):
    f = fix(case, XINJIEKOU, accuracy, source, age_s=age_s)
    assert aged_accuracy_m(f, now=NOW) == pytest.approx(expected)


def test_an_old_precise_fix_yields_to_a_fresh_coarser_one():
    old = fix("old-gnss", at(), 5.0, FixSource.GNSS, age_s=600)
    fresh = fix("wifi", at(north_m=200), 30.0, FixSource.WIFI)
    result = fuse([old, fresh], now=NOW)
    assert result is not None
    assert result.rejected == ()
    assert haversine_m(result.lon, result.lat, fresh.lon, fresh.lat) < 5.0
    # The same two fixes both fresh would pull the estimate to the GNSS fix instead.
    both_fresh = fuse([fix("gnss", at(), 5.0), fresh], now=NOW)
    assert both_fresh is not None
    assert both_fresh.rejected == ("wifi",)


def test_a_single_fix_ages_too():
    result = fuse([fix(1, XINJIEKOU, 10.0, age_s=120)], now=NOW)
    assert result is not None
    assert result.radius_m == pytest.approx(math.hypot(10.0, AGE_GROWTH_M_PER_S * 120))


def test_manual_pin_wins_outright():
    fixes = [
        fix("gnss", at(), 5.0),
        fix("pin", at(north_m=700), 30.0, FixSource.MANUAL, age_s=30),
        fix("cell", at(north_m=100), 400.0, FixSource.CELL),
    ]
    result = fuse(fixes, now=NOW)
    assert result == FusedLocation(
        lon=fixes[1].lon,
        lat=fixes[1].lat,
        radius_m=30.0,
        used=("pin",),
        rejected=(),
        method="manual",
        superseded=("gnss", "cell"),
    )


def test_newest_manual_pin_wins_over_older_pins():
    fixes = [
        fix("pin-new", at(north_m=300), 20.0, FixSource.MANUAL, age_s=10),
        fix("pin-old", at(north_m=900), 20.0, FixSource.MANUAL, age_s=90),
        fix("gnss", at(), 5.0),
    ]
    result = fuse(fixes, now=NOW)
    assert result is not None
    assert result.used == ("pin-new",)
    assert (result.lon, result.lat) == (fixes[0].lon, fixes[0].lat)
    assert set(result.superseded) == {"pin-old", "gnss"}


def test_to_dict():
    result = fuse([fix(1, at(), 10.0), fix(2, at(north_m=9000), 10.0, age_s=1)], now=NOW)
    assert result is not None
    assert result.to_dict() == {
        "lon": result.lon,
        "lat": result.lat,
        "radius_m": result.radius_m,
        "used": [1],
        "rejected": [2],
        "superseded": [],
        "method": "single",
    }


def _loc(point: tuple[float, float], radius_m: float) -> FusedLocation:
    return FusedLocation(point[0], point[1], radius_m, used=(1,), rejected=(), method="single")


MOVES = [
    # (case, previous, current, moved beyond)
    ("same place", _loc(at(), 50.0), _loc(at(), 10.0), False),
    ("inside the old circle", _loc(at(), 50.0), _loc(at(north_m=40), 10.0), False),
    ("just outside", _loc(at(), 50.0), _loc(at(north_m=60), 10.0), True),
    ("far away", _loc(at(), 800.0), _loc(at(east_m=3000), 30.0), True),
    ("a tight old estimate moved a little", _loc(at(), 5.0), _loc(at(east_m=8), 5.0), True),
]


@pytest.mark.parametrize(("case", "previous", "current", "expected"), MOVES)
def test_moved_beyond(case, previous, current, expected):
    assert moved_beyond(previous, current) is expected


RESCALE = [
    # (radius, from %, to %, expected): Rayleigh radius = sigma * sqrt(-2 ln(1 - p))
    (10.0, 68, 68, 10.0),
    (10.0, 68, 95, 10.0 * 2.4477 / 1.5096),
    (50.0, 90, 68, 50.0 * 1.5096 / 2.1460),
    (10.0, 39.35, 68, 10.0 * 1.5096 / 1.0),  # 39.35 % is exactly one sigma
]


@pytest.mark.parametrize(("radius", "from_pct", "to_pct", "expected"), RESCALE)
def test_rescale_radius(radius, from_pct, to_pct, expected):
    assert rescale_radius(radius, from_pct=from_pct, to_pct=to_pct) == pytest.approx(
        expected, rel=1e-3
    )


IMPOSSIBLE_CONFIDENCES = [(0, 68, "from_pct"), (68, 100, "to_pct")]


@pytest.mark.parametrize(("from_pct", "to_pct", "field"), IMPOSSIBLE_CONFIDENCES)
def test_rescale_radius_rejects_impossible_confidences(from_pct, to_pct, field):
    with pytest.raises(GeoError) as err:
        rescale_radius(10.0, from_pct=from_pct, to_pct=to_pct)
    assert err.value.field == field


BAD_FIXES = [
    ("nan longitude", {"lon": math.nan}, "lon"),
    ("latitude 100", {"lat": 100.0}, "lat"),
    ("zero accuracy", {"accuracy_m": 0.0}, "accuracy_m"),
    ("infinite accuracy", {"accuracy_m": math.inf}, "accuracy_m"),
    ("naive time", {"observed_at": datetime(2024, 3, 1, 8, 0)}, "observed_at"),  # noqa: DTZ001
]


@pytest.mark.parametrize(("case", "changes", "field"), BAD_FIXES)
def test_bad_fixes_are_refused(case, changes, field):
    values = {
        "fix_id": 1,
        "lon": XINJIEKOU[0],
        "lat": XINJIEKOU[1],
        "accuracy_m": 10.0,
        "source": FixSource.GNSS,
        "observed_at": NOW,
        **changes,
    }
    with pytest.raises(GeoError) as err:
        Fix(**values)
    assert err.value.field == field, case


def test_fuse_needs_an_aware_now():
    with pytest.raises(GeoError) as err:
        fuse([fix(1, XINJIEKOU, 10.0)], now=datetime(2024, 3, 1, 8, 30))  # noqa: DTZ001
    assert err.value.field == "now"


@pytest.mark.parametrize("source", [FixSource.AML, FixSource.ADDRESS])
def test_a_vanishing_accuracy_is_floored_not_divided_by(source: FixSource) -> None:
    # issue 14: accuracy_m 1e-170 squared to a zero variance (ZeroDivisionError, a 500)
    tiny = fix(1, at(), accuracy_m=1e-170, source=source)
    other = fix(2, at(north_m=30), accuracy_m=20.0)
    for fixes in ([tiny], [tiny, other]):
        fused = fuse(fixes, now=NOW)
        assert fused is not None
        assert math.isfinite(fused.lon) and math.isfinite(fused.lat)
        assert fused.radius_m >= 1.0


# --- Boundaries (issue 21: cases a mutation run showed untested) -------------------------

# 68 % radius per sigma, written out rather than imported: sqrt(-2 ln 0.32)
K68 = 1.509592
# 2**-10 degree is exact in binary, so offsets built from it are symmetric to the last bit
STEP_DEG = 2.0**-10
STEP_M = math.radians(STEP_DEG) * 6_371_008.8


def place(fix_id: int | str, lon: float, lat: float, accuracy_m: float,
          age_s: float = 0.0) -> Fix:
    """An address fix: a place, so it does not age and ties stay ties."""
    return Fix(fix_id=fix_id, lon=lon, lat=lat, accuracy_m=accuracy_m,
               source=FixSource.ADDRESS, observed_at=NOW - timedelta(seconds=age_s))


@pytest.mark.parametrize("axis", ["north", "east"])
def test_the_inflated_radius_of_scattered_fixes_is_exact(axis: str) -> None:
    # Three equal fixes D apart on a line with D^2 = 4 sigma^2: consistent (the worst
    # chi-square is 1.5 D^2/sigma^2 = 6 < 9.21), chi-square about the mean 2 D^2/sigma^2 = 8
    # over 2 (n - 1) = 4 degrees of freedom: Birge ratio 2. The mean's variance
    # sigma^2/3 * 2 = D^2/6, whatever sigma was: the radius is K68 * D / sqrt(6).
    accuracy = K68 * STEP_M / 2.0
    if axis == "north":
        points = [(118.0, 30.0 + k * STEP_DEG) for k in range(3)]
    else:  # on the equator a degree of longitude is a degree of latitude
        points = [(118.0 + k * STEP_DEG, 0.0) for k in range(3)]
    result = fuse([place(k, lon, lat, accuracy) for k, (lon, lat) in enumerate(points)],
                  now=NOW)
    assert result is not None
    assert (result.used, result.rejected, result.method) == ((0, 1, 2), (), "weighted")
    assert (result.lon, result.lat) == pytest.approx(points[1], abs=1e-12)
    assert result.radius_m == pytest.approx(K68 * STEP_M / math.sqrt(6.0), rel=1e-6)


def test_the_mean_longitude_away_from_the_equator() -> None:
    # At 60 N a degree of longitude is half as long; the mean of two equal fixes is still
    # the midpoint in longitude, and their east-west gap sets the Birge-inflated radius.
    fixes = [place("w", 10.0, 60.0, 100.0), place("e", 10.0 + 4 * STEP_DEG, 60.0, 100.0)]
    result = fuse(fixes, now=NOW)
    assert result is not None
    assert result.lon == pytest.approx(10.0 + 2 * STEP_DEG, abs=1e-12)
    assert result.lat == pytest.approx(60.0, abs=1e-12)
    gap_m = 4 * STEP_M * math.cos(math.radians(60.0))
    # two fixes: chi-square (gap/2)^2 * 2 / sigma^2 over 2 dof; inflated variance gap^2 / 8
    sigma = 100.0 / K68
    birge = 2 * (gap_m / 2) ** 2 / sigma**2 / 2
    assert birge > 1.0
    assert result.radius_m == pytest.approx(K68 * gap_m / math.sqrt(8.0), rel=1e-6)


def test_two_equal_disagreeing_places_drop_the_older() -> None:
    # Equal precision, no majority: the tie goes against the older fix.
    for ages in ((10.0, 50.0), (50.0, 10.0)):
        a = place("a", 118.0, 30.0, 20.0, age_s=ages[0])
        b = place("b", 118.0, 30.0 + 8 * STEP_DEG, 20.0, age_s=ages[1])
        older = "b" if ages[1] > ages[0] else "a"
        newer = "a" if older == "b" else "b"
        for order in ([a, b], [b, a]):
            result = fuse(order, now=NOW)
            assert result is not None
            assert (result.used, result.rejected) == ((newer,), (older,))


def test_a_tie_for_the_worst_misfit_drops_the_first() -> None:
    # A centre fix with one equal fix either side, symmetric to the last bit: both outer
    # fixes misfit equally (1.5 D^2/sigma^2 = 16 > 9.21). The first listed goes; the
    # centre and the other then agree (D^2 / 2 sigma^2 = 5.4 <= 9.21) and both stay.
    accuracy = 50.0
    centre = place("centre", 118.0, 30.0, accuracy)
    up = place("up", 118.0, 30.0 + STEP_DEG, accuracy)
    down = place("down", 118.0, 30.0 - STEP_DEG, accuracy)
    for fixes, dropped in (([centre, up, down], "up"), ([centre, down, up], "down")):
        result = fuse(fixes, now=NOW)
        assert result is not None
        assert result.rejected == (dropped,)
        assert set(result.used) == {"centre"} | ({"up", "down"} - {dropped})


@pytest.mark.parametrize(("chi2", "consistent"), [(9.20, True), (9.22, False)])
def test_pairs_either_side_of_the_consistency_threshold(chi2: float, consistent: bool) -> None:
    # Two fixes: chi-square = d^2 / (sigma_a^2 + sigma_b^2), rejected above
    # -2 ln(0.01) = 9.2103.
    sigma = 20.0 / K68
    d = math.sqrt(chi2 * 2 * sigma**2)
    fixes = [fix("gnss", at(), 20.0), fix("wifi", at(north_m=d), 20.0, FixSource.WIFI)]
    result = fuse(fixes, now=NOW)
    assert result is not None
    if consistent:
        assert (result.used, result.rejected) == (("gnss", "wifi"), ())
    else:
        assert len(result.used) == 1 and len(result.rejected) == 1


def test_manual_pins_stamped_at_the_same_instant_the_last_listed_wins() -> None:
    first = fix("pin-1", at(north_m=100), 15.0, FixSource.MANUAL, age_s=30)
    second = fix("pin-2", at(north_m=400), 25.0, FixSource.MANUAL, age_s=30)
    for pins, winner in (([first, second], second), ([second, first], first)):
        result = fuse([fix("gnss", at(), 5.0), *pins], now=NOW)
        assert result is not None
        assert result.used == (winner.fix_id,)
        assert (result.lon, result.lat, result.radius_m) == (
            winner.lon, winner.lat, winner.accuracy_m)


@pytest.mark.parametrize(("lon", "lat"), [(-180.0, 0.0), (180.0, 0.0), (0.0, -90.0),
                                          (0.0, 90.0)])
def test_coordinates_on_the_range_edges_are_valid(lon: float, lat: float) -> None:
    f = place(1, lon, lat, 10.0)
    assert (f.lon, f.lat) == (lon, lat)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"lon": -180.001}, "lon", "fix f7: bad longitude -180.001"),
    ({"lon": 180.001}, "lon", "fix f7: bad longitude 180.001"),
    ({"lon": math.inf}, "lon", "fix f7: bad longitude inf"),
    ({"lat": -90.001}, "lat", "fix f7: bad latitude -90.001"),
    ({"lat": 90.001}, "lat", "fix f7: bad latitude 90.001"),
    ({"lat": -math.inf}, "lat", "fix f7: bad latitude -inf"),
])
def test_coordinates_just_past_the_edges_are_refused(changes, field, message) -> None:
    values = {"fix_id": "f7", "lon": 0.0, "lat": 0.0, "accuracy_m": 10.0,
              "source": FixSource.GNSS, "observed_at": NOW, **changes}
    with pytest.raises(GeoError) as err:
        Fix(**values)
    # the message names the fix and the value a dispatcher has to look for
    assert (err.value.field, err.value.message) == (field, message)


class _NoOffset(tzinfo):
    """A tzinfo that cannot say its offset: as unusable as no timezone at all."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_timezone_without_an_offset_counts_as_none() -> None:
    unknown = datetime(2024, 3, 1, 8, 30, tzinfo=_NoOffset())
    with pytest.raises(GeoError) as err:
        Fix(fix_id="f8", lon=0.0, lat=0.0, accuracy_m=10.0, source=FixSource.GNSS,
            observed_at=unknown)
    assert (err.value.field, err.value.message) == (
        "observed_at", "fix f8: observed_at has no timezone")
    with pytest.raises(GeoError) as err:
        fuse([place(1, 0.0, 0.0, 10.0)], now=unknown)
    assert (err.value.field, err.value.message) == ("now", "now has no timezone")


def test_refusals_say_why() -> None:
    with pytest.raises(GeoError) as err:
        Fix(fix_id="f9", lon=0.0, lat=0.0, accuracy_m=-1.0, source=FixSource.GNSS,
            observed_at=NOW)
    assert err.value.message == "fix f9: accuracy must be a positive number of metres"
    with pytest.raises(GeoError) as err:
        rescale_radius(10.0, from_pct=68, to_pct=100)
    assert err.value.message == "confidence 100 must be strictly between 0 and 100"


def test_rescale_accepts_any_confidence_strictly_inside_0_100() -> None:
    # a 0.5 % circle is tiny but meaningful: sqrt(-2 ln 0.995) sigma
    assert rescale_radius(10.0, from_pct=68, to_pct=0.5) == pytest.approx(
        10.0 * math.sqrt(-2 * math.log(0.995)) / K68, rel=1e-6)


def test_moved_beyond_is_strictly_outside_the_radius() -> None:
    before, after = at(), at(north_m=40.0)
    distance = haversine_m(*before, *after)
    assert not moved_beyond(_loc(before, distance), _loc(after, 5.0))
    assert moved_beyond(_loc(before, math.nextafter(distance, 0.0)), _loc(after, 5.0))


_fix_strategy = st.builds(
    lambda k, north, east, accuracy, age, source: fix(
        k, at(north_m=north, east_m=east), accuracy, source, age_s=age),
    k=st.integers(),
    north=st.floats(-3000, 3000), east=st.floats(-3000, 3000),
    accuracy=st.floats(1.0, 2000.0), age=st.floats(0.0, 1800.0),
    source=st.sampled_from([FixSource.GNSS, FixSource.WIFI, FixSource.CELL,
                            FixSource.ADDRESS, FixSource.AML]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_fix_strategy, min_size=1, max_size=6))
def test_fusion_relations_hold_for_any_handset_fixes(raw: list[Fix]) -> None:
    fixes = [Fix(fix_id=i, lon=f.lon, lat=f.lat, accuracy_m=f.accuracy_m, source=f.source,
                 observed_at=f.observed_at) for i, f in enumerate(raw)]
    result = fuse(fixes, now=NOW)
    assert result is not None
    # every fix is either used or rejected, never both; something is always used
    assert sorted([*result.used, *result.rejected]) == list(range(len(fixes)))
    assert result.used and result.superseded == ()
    used = [fixes[i] for i in result.used]
    aged = [aged_accuracy_m(f, now=NOW) for f in used]
    # never more certain than inverse-variance weighting of the used fixes allows
    # (agreeing fixes may shrink it below the best one's; scatter only inflates it)
    floor = 1.0 / math.sqrt(sum(1.0 / a**2 for a in aged))
    assert result.radius_m >= floor * (1 - 1e-9)
    if len(used) == 1:
        assert result.radius_m == pytest.approx(aged[0])
    # a weighted mean lies within the used fixes' bounding box
    eps = 1e-9
    assert min(f.lon for f in used) - eps <= result.lon <= max(f.lon for f in used) + eps
    assert min(f.lat for f in used) - eps <= result.lat <= max(f.lat for f in used) + eps
