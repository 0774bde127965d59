"""Great-circle distance on the WGS-84 mean sphere."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance in metres between two WGS-84 points (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# A point as `distances_from_m` takes it: lon (degrees), lat (radians), cos(lat).
Prepared = tuple[float, float, float]


def prepared(lon: float, lat: float) -> Prepared:
    """A destination's trigonometry, computed once for many origins."""
    p = math.radians(lat)
    return lon, p, math.cos(p)


def distances_from_m(lon: float, lat: float, to: list[Prepared]) -> list[float]:
    """`haversine_m(lon, lat, x, y)` to each prepared (x, y), the same floats, with the
    origin's trigonometry done once (ranking times every unit to every sample point)."""
    p1 = math.radians(lat)
    c1 = math.cos(p1)
    sin, asin, sqrt, radians = math.sin, math.asin, math.sqrt, math.radians
    return [2 * EARTH_RADIUS_M * asin(min(1.0, sqrt(
        sin((p2 - p1) / 2) ** 2 + c1 * c2 * sin(radians(lon2 - lon) / 2) ** 2)))
        for lon2, p2, c2 in to]
