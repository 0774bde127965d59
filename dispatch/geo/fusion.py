"""Fuse a call's location fixes into one best estimate with a confidence radius.

One call yields several fixes of different quality: AML from the handset (GNSS, Wi-Fi or
cell), the network's cell location, a geocoded address, a dispatcher's pin on the map. This
module turns them into a single point and radius that improves as better fixes arrive.

Conventions
- Every radius here (Fix.accuracy_m, FusedLocation.radius_m) is the radius of the circle
  holding the true position with ACCURACY_CONFIDENCE_PCT = 68 % probability, the Android
  convention (android.location.Location#getAccuracy) that most handset fixes arrive in.
  Positions are modelled as circular bivariate normal, so a radius at confidence p is
  sigma * sqrt(-2 ln(1 - p)) (Rayleigh distribution); `rescale_radius` converts.

Rules
1. The newest dispatcher pin (FixSource.MANUAL) wins outright: the dispatcher has spoken to
   the caller and placed the patient, which outranks any handset estimate.
2. Otherwise fixes are weighted by inverse variance (1 / sigma^2). A handset fix is aged
   first: its radius grows in quadrature by AGE_GROWTH_M_PER_S * age, a brisk walking pace
   (comfortable adult gait speed 1.3-1.5 m/s, Bohannon 1997, Age and Ageing 26:15-19),
   because a caller on foot may have moved that far since the fix. Addresses and pins are
   places, not handsets, and do not age.
3. A fix that contradicts the others is rejected: with the others' weighted mean as the
   consensus, if the distance between the fix and the consensus exceeds what their combined
   uncertainty allows at CONSISTENCY_CONFIDENCE = 99 % (chi-square, 2 degrees of freedom),
   the worst such fix is dropped and the test repeats. With only two fixes left that
   disagree, there is no majority, and the less precise one is dropped.
4. The fused radius is the inverse-variance radius, inflated by the Birge ratio when the
   used fixes scatter more than their radii claim (the Particle Data Group's scale factor
   for combining inconsistent measurements), so agreeing fixes shrink it and scattered
   ones do not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dispatch.domain import FixSource
from dispatch.errors import GeoError
from dispatch.geo.distance import EARTH_RADIUS_M, haversine_m

ACCURACY_CONFIDENCE_PCT = 68
AGE_GROWTH_M_PER_S = 1.4
CONSISTENCY_CONFIDENCE = 0.99
# No fix places a caller better than this: a smaller radius (1e-170 from a broken gateway)
# would square to a zero variance and an infinite weight.
MIN_ACCURACY_M = 1.0

# Sources that locate a place rather than a handset: they do not age.
_PLACE_SOURCES = frozenset({FixSource.MANUAL, FixSource.ADDRESS})

# Chi-square (2 dof) quantile for CONSISTENCY_CONFIDENCE: -2 ln(1 - p) = 9.21 at 99 %.
_CONSISTENCY_CHI2 = -2.0 * math.log(1.0 - CONSISTENCY_CONFIDENCE)


def _radius_per_sigma(pct: float) -> float:
    return math.sqrt(-2.0 * math.log(1.0 - pct / 100.0))


_K68 = _radius_per_sigma(ACCURACY_CONFIDENCE_PCT)  # 1.5096: 68 % radius / sigma


def rescale_radius(radius_m: float, *, from_pct: float, to_pct: float) -> float:
    """Convert a circular confidence radius from one confidence level (%) to another."""
    for name, pct in (("from_pct", from_pct), ("to_pct", to_pct)):
        if not 0.0 < pct < 100.0:
            raise GeoError(f"confidence {pct} must be strictly between 0 and 100", field=name)
    return radius_m * _radius_per_sigma(to_pct) / _radius_per_sigma(from_pct)


@dataclass(frozen=True, slots=True)
class Fix:
    """One location fix for a call, already converted to WGS-84."""

    fix_id: int | str
    lon: float
    lat: float
    accuracy_m: float  # radius of 68 % confidence
    source: FixSource
    observed_at: datetime

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise GeoError(f"fix {self.fix_id}: bad longitude {self.lon!r}", field="lon")
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise GeoError(f"fix {self.fix_id}: bad latitude {self.lat!r}", field="lat")
        if not (math.isfinite(self.accuracy_m) and self.accuracy_m > 0.0):
            raise GeoError(
                f"fix {self.fix_id}: accuracy must be a positive number of metres",
                field="accuracy_m",
            )
        if self.observed_at.tzinfo is None or self.observed_at.utcoffset() is None:
            raise GeoError(f"fix {self.fix_id}: observed_at has no timezone", field="observed_at")


@dataclass(frozen=True, slots=True)
class FusedLocation:
    """The best estimate of where the caller is, and which fixes made it."""

    lon: float
    lat: float
    radius_m: float  # radius of 68 % confidence
    used: tuple[int | str, ...]
    rejected: tuple[int | str, ...]  # contradicted the consensus
    method: str  # "manual", "weighted" or "single"
    superseded: tuple[int | str, ...] = field(default=())  # set aside by a manual pin

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "lon": self.lon,
            "lat": self.lat,
            "radius_m": self.radius_m,
            "used": list(self.used),
            "rejected": list(self.rejected),
            "superseded": list(self.superseded),
            "method": self.method,
        }


def aged_accuracy_m(fix: Fix, *, now: datetime) -> float:
    """The fix's 68 % radius grown for its age (handset sources only)."""
    accuracy_m = max(fix.accuracy_m, MIN_ACCURACY_M)
    if fix.source in _PLACE_SOURCES:
        return accuracy_m
    # A fix stamped in the future means the handset clock is ahead; treat it as fresh.
    age_s = max(0.0, (now - fix.observed_at).total_seconds())
    return math.hypot(accuracy_m, AGE_GROWTH_M_PER_S * age_s)


@dataclass(frozen=True, slots=True)
class _Point:
    index: int
    x: float  # metres east of the reference point
    y: float  # metres north of the reference point
    var: float  # per-axis variance, m^2

    @property
    def weight(self) -> float:
        return 1.0 / self.var


def _weighted_mean(points: Sequence[_Point]) -> tuple[float, float, float]:
    """(x, y, variance of the mean) of points by inverse variance."""
    total = sum(p.weight for p in points)
    x = sum(p.x * p.weight for p in points) / total
    y = sum(p.y * p.weight for p in points) / total
    return x, y, 1.0 / total


def _worst_misfit(points: Sequence[_Point]) -> tuple[_Point, float]:
    """The point least consistent with the others, and its chi-square (2 dof)."""
    worst, worst_chi2 = points[0], -1.0
    for p in points:
        others = [q for q in points if q is not p]
        x, y, var_rest = _weighted_mean(others)
        chi2 = ((p.x - x) ** 2 + (p.y - y) ** 2) / (p.var + var_rest)
        if chi2 > worst_chi2:
            worst, worst_chi2 = p, chi2
    return worst, worst_chi2


def _reject_contradictions(points: list[_Point], fixes: Sequence[Fix]) -> list[_Point]:
    """Points left after repeatedly dropping the worst contradicting one."""
    rejected: list[_Point] = []
    while len(points) >= 2:
        worst, chi2 = _worst_misfit(points)
        if chi2 <= _CONSISTENCY_CHI2:
            break
        if len(points) == 2:
            # No majority: drop the less precise; on a tie, the older.
            a, b = points
            worst = max(
                (a, b), key=lambda p: (p.var, -fixes[p.index].observed_at.timestamp(), p.index)
            )
        rejected.append(worst)
        points = [p for p in points if p is not worst]
    return rejected


def _newest(fixes: Sequence[Fix]) -> Fix:
    return max(enumerate(fixes), key=lambda pair: (pair[1].observed_at, pair[0]))[1]


def fuse(fixes: Sequence[Fix], *, now: datetime) -> FusedLocation | None:
    """Best location from a call's fixes (None when there are none)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise GeoError("now has no timezone", field="now")
    if not fixes:
        return None

    pins = [f for f in fixes if f.source == FixSource.MANUAL]
    if pins:
        pin = _newest(pins)
        return FusedLocation(
            lon=pin.lon,
            lat=pin.lat,
            radius_m=pin.accuracy_m,
            used=(pin.fix_id,),
            rejected=(),
            method="manual",
            superseded=tuple(f.fix_id for f in fixes if f is not pin),
        )

    # Local tangent plane (equirectangular) around the most precise fix: at city scale its
    # distortion is far below any fix's accuracy.
    ref = min(fixes, key=lambda f: aged_accuracy_m(f, now=now))
    metres_per_deg = math.radians(1.0) * EARTH_RADIUS_M
    cos_ref = math.cos(math.radians(ref.lat))
    points = [
        _Point(
            index=i,
            x=((f.lon - ref.lon + 540.0) % 360.0 - 180.0) * metres_per_deg * cos_ref,
            y=(f.lat - ref.lat) * metres_per_deg,
            var=(aged_accuracy_m(f, now=now) / _K68) ** 2,
        )
        for i, f in enumerate(fixes)
    ]
    rejected = _reject_contradictions(list(points), fixes)
    rejected_ids = {p.index for p in rejected}
    kept = [p for p in points if p.index not in rejected_ids]

    x, y, var = _weighted_mean(kept)
    if len(kept) >= 2:
        chi2 = sum(((p.x - x) ** 2 + (p.y - y) ** 2) * p.weight for p in kept)
        birge = chi2 / (2 * (len(kept) - 1))
        var *= max(1.0, birge)

    lat = ref.lat + y / metres_per_deg
    lon = ref.lon + x / (metres_per_deg * cos_ref)
    lon = (lon + 540.0) % 360.0 - 180.0
    return FusedLocation(
        lon=lon,
        lat=lat,
        radius_m=_K68 * math.sqrt(var),
        used=tuple(fixes[p.index].fix_id for p in kept),
        rejected=tuple(fixes[p.index].fix_id for p in sorted(rejected, key=lambda p: p.index)),
        method="single" if len(kept) == 1 else "weighted",
    )


def moved_beyond(previous: FusedLocation, current: FusedLocation) -> bool:
    """True when the new estimate lies outside the previous confidence radius."""
    distance = haversine_m(previous.lon, previous.lat, current.lon, current.lat)
    return distance > previous.radius_m
