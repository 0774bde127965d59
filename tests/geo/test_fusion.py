"""Location fusion: weighting, ageing, contradiction, manual pins, re-ranking trigger."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

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
