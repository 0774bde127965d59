"""How a caller's location arrives: a coarse cell fix first, then AML or a dispatcher's pin.

Pure: the random source is passed in. Offsets are drawn so that the true point lies inside
the stated accuracy radius about 68% of the time (the radius as one standard deviation of the
horizontal error), as handsets and networks report it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from dispatch.domain import CoordSystem, FixSource
from dispatch.geo.coords import wgs84_to_gcj02

_M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True, slots=True)
class SimFix:
    """One fix as the harness sends it, and when (simulated seconds after the answer)."""

    after_answer_s: float
    lon: float
    lat: float
    accuracy_m: float
    source: FixSource
    coord_system: CoordSystem

    def body(self, *, observed_at_iso: str) -> dict[str, object]:
        """The fix as the service's FixIn JSON."""
        return {"lon": self.lon, "lat": self.lat, "accuracy_m": self.accuracy_m,
                "source": self.source.value, "coord_system": self.coord_system.value,
                "observed_at": observed_at_iso}


@dataclass(frozen=True, slots=True)
class FixProfile:
    """The shape of a call's fix sequence.

    Cell fixes in cities are good to 1-3 km (the sector of a macro cell). AML (ETSI TS 103 625)
    sends the handset's GNSS/Wi-Fi fix, typically 10-50 m, once it has a good fix or 20 s into
    the call. Handsets without AML leave the dispatcher to pin the spoken address on an AMap
    or Tencent console, which works in GCJ-02.
    """

    cell_accuracy_m: tuple[float, float] = (1_000.0, 3_000.0)
    aml_accuracy_m: tuple[float, float] = (10.0, 50.0)
    aml_delay_s: tuple[float, float] = (6.0, 20.0)
    aml_share: float = 0.8
    pin_accuracy_m: tuple[float, float] = (30.0, 120.0)
    pin_delay_s: tuple[float, float] = (20.0, 60.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.aml_share <= 1.0:
            raise ValueError("aml_share must be within 0-1")


def offset(*, lon: float, lat: float, sigma_m: float, rng: random.Random) -> tuple[float, float]:
    """A point displaced by a 2-D Gaussian error with `sigma_m` per axis."""
    dx = rng.gauss(0.0, sigma_m / math.sqrt(2.0))
    dy = rng.gauss(0.0, sigma_m / math.sqrt(2.0))
    return (lon + dx / (_M_PER_DEG_LAT * math.cos(math.radians(lat))),
            lat + dy / _M_PER_DEG_LAT)


def fix_sequence(*, lon: float, lat: float, profile: FixProfile,
                 rng: random.Random) -> list[SimFix]:
    """The fixes of one call at a true WGS-84 point: cell, then AML or a GCJ-02 map pin."""
    cell_acc = rng.uniform(*profile.cell_accuracy_m)
    c_lon, c_lat = offset(lon=lon, lat=lat, sigma_m=cell_acc, rng=rng)
    fixes = [SimFix(0.0, c_lon, c_lat, round(cell_acc, 1), FixSource.CELL, CoordSystem.WGS84)]
    if rng.random() < profile.aml_share:
        acc = rng.uniform(*profile.aml_accuracy_m)
        a_lon, a_lat = offset(lon=lon, lat=lat, sigma_m=acc, rng=rng)
        fixes.append(SimFix(rng.uniform(*profile.aml_delay_s), a_lon, a_lat, round(acc, 1),
                            FixSource.AML, CoordSystem.WGS84))
    else:
        acc = rng.uniform(*profile.pin_accuracy_m)
        p_lon, p_lat = offset(lon=lon, lat=lat, sigma_m=acc, rng=rng)
        g_lon, g_lat = wgs84_to_gcj02(p_lon, p_lat)
        fixes.append(SimFix(rng.uniform(*profile.pin_delay_s), g_lon, g_lat, round(acc, 1),
                            FixSource.MANUAL, CoordSystem.GCJ02))
    return fixes
