"""Conversions between the three coordinate systems used in China: WGS-84, GCJ-02, BD-09.

Phones and GNSS report WGS-84; AMap and Tencent maps use GCJ-02 (the "Mars" offset the
Chinese surveying authority requires of published maps); Baidu uses BD-09, a further
rotation-and-shift of GCJ-02. dispatch stores WGS-84 only, so every fix that arrives in
another system is converted here.

Algorithms (both are the well-known public reverse-engineered forms, not official specs):
- GCJ-02: the Krasovsky-1940 ellipsoid offset polynomial first published in the
  "eviltransform" code (googollee/eviltransform, 2013, from the on4wp7 / emq Converter.java
  sources), reproduced by every open implementation (wandergis/coordtransform,
  hujiulong/gcoord). Outside mainland China no offset is applied.
- BD-09: Baidu's polar shift of GCJ-02 (constants 0.00002, 0.000003, x_pi = pi * 3000 / 180,
  shift 0.0065 / 0.006), as published in the same libraries.

The forward transforms are closed form. Their published one-step inverses are only good to
about 1-2 m, so the inverses here iterate the forward transform to a fixed point, which
converges to well under a millimetre in a few steps (the offset's derivative is ~1e-4).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dispatch.domain import CoordSystem
from dispatch.errors import GeoError

# Krasovsky 1940 ellipsoid, which GCJ-02's offset formula is written against.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# Baidu's angular constant (eviltransform / coordtransform: x_pi = pi * 3000 / 180).
_X_PI = math.pi * 3000.0 / 180.0

# The rectangle inside which GCJ-02 applies an offset (googollee/eviltransform, also used
# by hujiulong/gcoord): outside it the forward and inverse transforms are the identity.
_CHINA_LON_MIN, _CHINA_LON_MAX = 72.004, 137.8347
_CHINA_LAT_MIN, _CHINA_LAT_MAX = 0.8293, 55.8271

# Inverse iteration stops when a step moves less than this (degrees; ~1 mm at any latitude).
_INVERSE_TOLERANCE_DEG = 1e-8
_INVERSE_MAX_STEPS = 30

_Transform = Callable[[float, float], tuple[float, float]]


def in_china(lon: float, lat: float) -> bool:
    """True when GCJ-02 applies its offset at this point (the eviltransform rectangle)."""
    return _CHINA_LON_MIN <= lon <= _CHINA_LON_MAX and _CHINA_LAT_MIN <= lat <= _CHINA_LAT_MAX


def _offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 -> GCJ-02 (identity outside China)."""
    if not in_china(lon, lat):
        return lon, lat
    d_lat = _offset_lat(lon - 105.0, lat - 35.0)
    d_lon = _offset_lon(lon - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    # Offsets are metres on the Krasovsky ellipsoid; convert to degrees with the meridian
    # and prime-vertical radii of curvature at this latitude.
    meridian_radius = (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic)
    d_lat = (d_lat * 180.0) / (meridian_radius * math.pi)
    d_lon = (d_lon * 180.0) / (_KRASOVSKY_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lon + d_lon, lat + d_lat


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 -> BD-09."""
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _bd09_to_gcj02_one_step(lon: float, lat: float) -> tuple[float, float]:
    """The published closed-form approximation of BD-09 -> GCJ-02 (~1 m)."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def _invert(
    forward: _Transform, target_lon: float, target_lat: float, start: tuple[float, float]
) -> tuple[float, float]:
    """Solve forward(p) == target by fixed-point iteration from start."""
    lon, lat = start
    for _ in range(_INVERSE_MAX_STEPS):
        f_lon, f_lat = forward(lon, lat)
        step_lon, step_lat = target_lon - f_lon, target_lat - f_lat
        lon += step_lon
        lat += step_lat
        if abs(step_lon) < _INVERSE_TOLERANCE_DEG and abs(step_lat) < _INVERSE_TOLERANCE_DEG:
            break
    return lon, lat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 -> WGS-84 by iterating the forward transform (identity outside China)."""
    if not in_china(lon, lat):
        return lon, lat
    return _invert(wgs84_to_gcj02, lon, lat, (lon, lat))


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 -> GCJ-02, refining the closed-form approximation by iteration."""
    return _invert(gcj02_to_bd09, lon, lat, _bd09_to_gcj02_one_step(lon, lat))


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 -> BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 -> WGS-84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: float, lat: float) -> tuple[float, float]:
    return lon, lat


_TO_WGS84: dict[CoordSystem, _Transform] = {
    CoordSystem.WGS84: _identity,
    CoordSystem.GCJ02: gcj02_to_wgs84,
    CoordSystem.BD09: bd09_to_wgs84,
}
_FROM_WGS84: dict[CoordSystem, _Transform] = {
    CoordSystem.WGS84: _identity,
    CoordSystem.GCJ02: wgs84_to_gcj02,
    CoordSystem.BD09: wgs84_to_bd09,
}


def _check_point(lon: float, lat: float) -> None:
    if not math.isfinite(lon) or not -180.0 <= lon <= 180.0:
        raise GeoError(f"longitude {lon!r} is not a finite value in [-180, 180]", field="lon")
    if not math.isfinite(lat) or not -90.0 <= lat <= 90.0:
        raise GeoError(f"latitude {lat!r} is not a finite value in [-90, 90]", field="lat")


def to_wgs84(*, lon: float, lat: float, system: CoordSystem) -> tuple[float, float]:
    """Convert a point given in `system` to WGS-84 (lon, lat)."""
    _check_point(lon, lat)
    return _TO_WGS84[CoordSystem(system)](lon, lat)


def from_wgs84(*, lon: float, lat: float, system: CoordSystem) -> tuple[float, float]:
    """Convert a WGS-84 point to `system` (lon, lat), e.g. to draw it on an AMap or Baidu map."""
    _check_point(lon, lat)
    return _FROM_WGS84[CoordSystem(system)](lon, lat)
