"""Ranking under location uncertainty: where the caller may be, not only the circle's centre.

A fused location is a centre and a 68 % confidence radius (dispatch.geo.fusion: circular
bivariate normal). A unit that is nearest to the centre of an 8 km circle is not reliably
nearest to the caller, so:

1. A unit is ranked by its expected ETA over the circle: the mean of its ETA to
   SAMPLE_RINGS x SAMPLE_SPOKES points that split the normal distribution into equal-mass
   cells (ring radii at the median of equal-probability annuli of the Rayleigh distance;
   spokes evenly spread, every other ring rotated half a step). Expected ETAs of near and
   far units converge as the radius grows, so a preferred kind or a fresh position counts
   for more when the distance advantage is uncertain. A radius under EXACT_BELOW_M moves an
   ETA by well under a second at city distances: the centre alone is used.
2. The search starts at the 99 % radius (the caller is inside it 99 times in 100) and
   the shortlist grows with the radius (more units to compare when nearest-to-centre is a
   poor guide), up to SHORTLIST_CAP_FACTOR times the configured size.
3. A correction is worth telling the crew about when it changes their ETA by more than a
   set amount, whether or not the new centre is inside the old circle.

Pure: no I/O; ETAs come from the caller's function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dispatch.errors import GeoError
from dispatch.geo.distance import EARTH_RADIUS_M
from dispatch.geo.fusion import ACCURACY_CONFIDENCE_PCT, rescale_radius
from dispatch.geo.reasons import Because

__all__ = [
    "EXACT_BELOW_M",
    "SEARCH_CONFIDENCE_PCT",
    "UncertainEta",
    "eta_correction",
    "sample_points",
    "search_start_m",
    "shortlist_size",
]

EXACT_BELOW_M = 50.0
SAMPLE_RINGS = 3
SAMPLE_SPOKES = 6
SEARCH_CONFIDENCE_PCT = 99.0
SHORTLIST_CAP_FACTOR = 4


def _sigma_m(radius_m: float) -> float:
    """Per-axis standard deviation of a 68 % confidence radius."""
    return radius_m / math.sqrt(-2.0 * math.log(1.0 - ACCURACY_CONFIDENCE_PCT / 100.0))


def sample_points(lon: float, lat: float, radius_m: float) -> list[tuple[float, float]]:
    """Equally likely points (lon, lat) standing for where the caller may be."""
    if not math.isfinite(radius_m) or radius_m < 0:
        raise GeoError("radius_m must be a finite number >= 0", field="radius_m")
    if radius_m < EXACT_BELOW_M:
        return [(lon, lat)]
    sigma = _sigma_m(radius_m)
    metres_per_deg = math.radians(1.0) * EARTH_RADIUS_M
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    points = []
    for ring in range(SAMPLE_RINGS):
        # Median distance of the ring's equal-probability annulus (Rayleigh quantile).
        p = (ring + 0.5) / SAMPLE_RINGS
        r = sigma * math.sqrt(-2.0 * math.log(1.0 - p))
        offset = 0.5 if ring % 2 else 0.0
        for spoke in range(SAMPLE_SPOKES):
            angle = 2.0 * math.pi * (spoke + offset) / SAMPLE_SPOKES
            dy, dx = r * math.cos(angle), r * math.sin(angle)
            points.append((lon + dx / (metres_per_deg * cos_lat), lat + dy / metres_per_deg))
    return points


@dataclass(frozen=True, slots=True)
class UncertainEta:
    """A unit's expected ETA over a location's uncertainty.

    `eta_at(from_lon, from_lat, to_lon, to_lat)` is the ETA model for one trip (a pure
    function: an origin's expected ETA is worked out once).
    `trips`, when given, takes the sample points and returns a function giving the ETAs
    from an origin to every one of them at once, the same floats `eta_at` gives (ranking
    times every unit to every point: the model's lookups are then done once per point).
    """

    lon: float
    lat: float
    radius_m: float
    eta_at: Callable[[float, float, float, float], float]
    trips: Callable[[Sequence[tuple[float, float]]], Callable[[float, float], list[float]]] \
        | None = field(default=None, repr=False, compare=False)
    points: tuple[tuple[float, float], ...] = field(init=False, repr=False, compare=False)
    _etas_from: Callable[[float, float], list[float]] | None = field(
        init=False, repr=False, compare=False)
    # origin -> expected ETA: units waiting at one station share their position
    _expected: dict[tuple[float, float], float] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        points = tuple(sample_points(self.lon, self.lat, self.radius_m))
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "_etas_from", self.trips(points) if self.trips else None)
        object.__setattr__(self, "_expected", {})

    @property
    def sampled(self) -> bool:
        return self.radius_m >= EXACT_BELOW_M

    def expected_s(self, from_lon: float, from_lat: float) -> float:
        """Mean ETA from (from_lon, from_lat) to the equally likely points."""
        known = self._expected.get((from_lon, from_lat))
        if known is not None:
            return known
        points = self.points
        if self._etas_from is not None:
            mean = sum(self._etas_from(from_lon, from_lat)) / len(points)
        else:
            mean = sum(self.eta_at(from_lon, from_lat, x, y) for x, y in points) / len(points)
        self._expected[(from_lon, from_lat)] = mean
        return mean

    def centre_s(self, from_lon: float, from_lat: float) -> float:
        return self.eta_at(from_lon, from_lat, self.lon, self.lat)

    def reason(self) -> str | None:
        """What the dispatcher reads beside a unit ranked this way (None when exact)."""
        if not self.sampled:
            return None
        return Because("location_uncertain", radius_m=self.radius_m, points=len(self.points))


def search_start_m(radius_m: float | None, *, base_m: float) -> float:
    """The first search radius: never inside the caller's 99 % circle."""
    if not radius_m or radius_m <= 0:
        return base_m
    wide = rescale_radius(radius_m, from_pct=ACCURACY_CONFIDENCE_PCT,
                          to_pct=SEARCH_CONFIDENCE_PCT)
    return max(base_m, wide)


def shortlist_size(radius_m: float | None, *, base: int, base_search_m: float) -> int:
    """How many units to compare: one more base shortlist per base search radius of
    uncertainty, capped at SHORTLIST_CAP_FACTOR times the base."""
    if base < 1 or base_search_m <= 0:
        raise GeoError("base and base_search_m must be positive", field="base")
    if not radius_m or radius_m < EXACT_BELOW_M:
        return base
    grow = math.ceil(radius_m / base_search_m)
    return base * min(SHORTLIST_CAP_FACTOR, 1 + grow)


def eta_correction(
    before: UncertainEta, after: UncertainEta, *, from_lon: float, from_lat: float,
    threshold_s: float,
) -> dict[str, float] | None:
    """A unit's expected ETA before and after a location correction, when it moves by more
    than `threshold_s` either way (None otherwise); + is later."""
    old_s = before.expected_s(from_lon, from_lat)
    new_s = after.expected_s(from_lon, from_lat)
    if not abs(new_s - old_s) > threshold_s:
        return None
    return {"eta_before_s": round(old_s, 1), "eta_after_s": round(new_s, 1),
            "eta_change_s": round(new_s - old_s, 1)}
