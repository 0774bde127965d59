"""Travel time of an ambulance with lights and siren: better than a straight line, and learning.

travel time = great-circle distance x road circuity(area) / speed(area, hour) x scale(area, band)

The circuity and speed tables are priors. `EtaModel.calibrated` replaces the `scale` from the
service's own completed trips (dispatched -> on scene against distance), so the model gets
better as the centre uses it. All times here are *travel* only: turnout (dispatched ->
departed) is measured separately as the 3-minute departure indicator and is not added.
"""

from __future__ import annotations

import functools
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from dispatch.errors import GeoError
from dispatch.geo.distance import distances_from_m, haversine_m, prepared

AREA_TYPES: tuple[str, ...] = ("urban", "suburban", "rural")

# China Standard Time has no daylight saving, so a fixed offset is exact and needs no tzdata.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), name="CST")

# Hour bands used for calibration cells: a separate scale per hour would need 24x the trips.
# The peaks follow the usual commuting peaks of Chinese cities (07-10 and 17-20 local time).
HOUR_BANDS: tuple[tuple[str, range], ...] = (
    ("night", range(0, 7)),
    ("am_peak", range(7, 10)),
    ("day", range(10, 17)),
    ("pm_peak", range(17, 20)),
    ("evening", range(20, 24)),
)
_BAND_OF_HOUR: tuple[str, ...] = tuple(
    next(name for name, hours in HOUR_BANDS if h in hours) for h in range(24)
)

# Calibration guards. A trip shorter than 300 m is dominated by GPS error and the time to
# pull out of the station; an implied straight-line speed outside 1-45 m/s (3.6-162 km/h)
# means a bad timestamp or a trip that did not start where we think it did.
MIN_TRIP_M = 300.0
MIN_CROW_SPEED_MPS = 1.0
MAX_CROW_SPEED_MPS = 45.0
DEFAULT_MIN_SAMPLES = 30  # below this a cell's median is too noisy to trust; fall back


def band_of_hour(hour: int) -> str:
    """The calibration band ('night', 'am_peak', 'day', 'pm_peak', 'evening') of a local hour."""
    if not 0 <= hour <= 23:
        raise GeoError(f"hour must be 0-23, got {hour}", field="hour")
    return _BAND_OF_HOUR[hour]


def _by_band(**kmh: float) -> tuple[float, ...]:
    """Expand a speed per band to a 24-hour profile."""
    return tuple(kmh[_BAND_OF_HOUR[h]] for h in range(24))


@dataclass(frozen=True, slots=True)
class AreaProfile:
    """Road circuity and an hour-of-day speed profile (km/h) for one area type."""

    circuity: float
    speed_kmh_by_hour: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.circuity < 1.0:
            raise GeoError("circuity is road distance / straight line, so >= 1")
        if len(self.speed_kmh_by_hour) != 24 or min(self.speed_kmh_by_hour) <= 0:
            raise GeoError("speed profile needs 24 positive hourly speeds")


# Circuity (road distance / great-circle distance). Ballou, Rahardja & Sakai 2002 (Transp. Res.
# A 36:843) measured national averages mostly between 1.12 and 1.4; Boscoe, Henry & Zdeb 2012
# (Prof. Geogr. 64:188) found ~1.4 for US trips to hospitals, higher for short trips. Dense
# urban cores have short trips, one-way streets, rivers and rail lines to cross (Nanjing: the
# Yangtze and the Qinhuai), so urban is highest; rural roads are straighter over long hops.
#
# Speeds (km/h) for an ambulance using lights and siren. Peak-hour traffic in large Chinese
# cities moves at roughly 20-30 km/h; lights and siren buy less than is often assumed (Hunt
# et al. 1995, Ann Emerg Med 25:507: a mean 43.5 s saved on urban runs), so urban peak speeds
# sit just above traffic. Night speeds are limited by junctions, not congestion. These are
# priors only: calibration against the centre's own trips replaces them with `scale`.
DEFAULT_URBAN = AreaProfile(
    circuity=1.40,
    speed_kmh_by_hour=_by_band(night=42.0, am_peak=24.0, day=30.0, pm_peak=23.0, evening=34.0),
)
DEFAULT_SUBURBAN = AreaProfile(
    circuity=1.32,
    speed_kmh_by_hour=_by_band(night=58.0, am_peak=36.0, day=44.0, pm_peak=35.0, evening=48.0),
)
DEFAULT_RURAL = AreaProfile(
    circuity=1.25,
    speed_kmh_by_hour=_by_band(night=68.0, am_peak=58.0, day=60.0, pm_peak=56.0, evening=62.0),
)


@dataclass(frozen=True, slots=True)
class Trip:
    """A completed run: straight-line distance from the unit to the scene and its travel time."""

    distance_m: float
    duration_s: float
    area_type: str
    hour: int  # local hour (0-23) at dispatch


@dataclass(frozen=True, slots=True)
class CellScale:
    """A fitted multiplier on the prior travel time for an area type and hour band."""

    area_type: str
    band: str  # an HOUR_BANDS name, or "*" for the whole area type
    scale: float
    samples: int


# Ranking asks the hour of one instant per trip: the conversion is remembered for the few
# instants in use (a naive `at` raises, and a raise is never remembered). `fold` is part of
# the key: wall times a DST change repeats compare equal within their zone.
@functools.lru_cache(maxsize=64)
def _local_hour(at: datetime, fold: int, tz: tzinfo) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise GeoError("datetimes must carry a timezone", field="at")
    return at.astimezone(tz).hour


class TripsTo:
    """Travel times from any origin to fixed destinations (EtaModel.trips_to)."""

    __slots__ = ("_legs", "_to")

    def __init__(self, to: list[tuple[float, float, float]],
                 legs: list[tuple[float, float, float]]) -> None:
        self._to, self._legs = to, legs

    def from_point(self, lon: float, lat: float) -> list[float]:
        """Seconds from (lon, lat) to each destination, in order."""
        return [d * circuity / speed_mps * scale for d, (circuity, speed_mps, scale)
                in zip(distances_from_m(lon, lat, self._to), self._legs, strict=True)]


@dataclass(frozen=True, slots=True)
class EtaModel:
    """Circuity x hourly speed x calibrated scale, per area type."""

    urban: AreaProfile = DEFAULT_URBAN
    suburban: AreaProfile = DEFAULT_SUBURBAN
    rural: AreaProfile = DEFAULT_RURAL
    scales: tuple[CellScale, ...] = ()
    local_tz: tzinfo = CHINA_STANDARD_TIME
    _scale_of: dict[tuple[str, str], float] = field(
        init=False, repr=False, compare=False, hash=False
    )
    # (area type, local hour) -> (circuity, speed m/s, scale): travel_s's factors, so eta_s
    # computes the same floats without looking them up per trip
    _legs: dict[tuple[str, int], tuple[float, float, float]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        lookup: dict[tuple[str, str], float] = {}
        for s in self.scales:
            if s.area_type not in AREA_TYPES or (s.band != "*" and s.band not in _BAND_OF_HOUR):
                raise GeoError(f"unknown calibration cell {s.area_type}/{s.band}")
            if s.scale <= 0:
                raise GeoError("calibration scale must be positive")
            lookup[(s.area_type, s.band)] = s.scale
        # Cached lookup for the hot path (ranking calls this per candidate).
        object.__setattr__(self, "_scale_of", lookup)
        object.__setattr__(self, "_legs", {
            (area, hour): (self.profile(area).circuity,
                           self.profile(area).speed_kmh_by_hour[hour] / 3.6,
                           self.scale(area_type=area, hour=hour))
            for area in AREA_TYPES for hour in range(24)})

    @classmethod
    def default(cls) -> EtaModel:
        """The uncalibrated prior model."""
        return cls()

    def profile(self, area_type: str) -> AreaProfile:
        """The circuity and speed profile of an area type."""
        if area_type == "urban":
            return self.urban
        if area_type == "suburban":
            return self.suburban
        if area_type == "rural":
            return self.rural
        raise GeoError(f"unknown area type {area_type!r}", field="area_type")

    def scale(self, *, area_type: str, hour: int) -> float:
        """Calibrated multiplier: the area-and-band cell, else the whole area, else 1."""
        band = band_of_hour(hour)
        s = self._scale_of.get((area_type, band))
        if s is None:
            s = self._scale_of.get((area_type, "*"), 1.0)
        return s

    def prior_travel_s(self, *, distance_m: float, area_type: str, hour: int) -> float:
        """Uncalibrated travel time for a straight-line distance."""
        p = self.profile(area_type)
        speed_mps = p.speed_kmh_by_hour[hour] / 3.6
        return distance_m * p.circuity / speed_mps

    def travel_s(self, *, distance_m: float, area_type: str, hour: int) -> float:
        """Turnout-free travel time (s) for a straight-line distance, calibrated."""
        if distance_m < 0:
            raise GeoError("distance must be >= 0", field="distance_m")
        prior = self.prior_travel_s(distance_m=distance_m, area_type=area_type, hour=hour)
        return prior * self.scale(area_type=area_type, hour=hour)

    def local_hour(self, at: datetime) -> int:
        """Local hour of day of a timezone-aware instant."""
        return _local_hour(at, at.fold, self.local_tz)

    def eta_s(
        self,
        *,
        from_lon: float,
        from_lat: float,
        to_lon: float,
        to_lat: float,
        area_type: str,
        at: datetime,
    ) -> float:
        """Turnout-free travel time (s) between two WGS-84 points starting at `at`."""
        d = haversine_m(from_lon, from_lat, to_lon, to_lat)
        circuity, speed_mps, scale = self._leg(area_type, self.local_hour(at))
        # travel_s's arithmetic, in its order: the same float
        return d * circuity / speed_mps * scale

    def _leg(self, area_type: str, hour: int) -> tuple[float, float, float]:
        """travel_s's factors: circuity, speed (m/s) and scale."""
        try:
            return self._legs[(area_type, hour)]
        except KeyError:
            self.profile(area_type)  # refuses the unknown area type (hours are 0-23 here)
            raise

    def trips_to(
        self, destinations: Sequence[tuple[float, float, str]], *, at: datetime
    ) -> TripsTo:
        """Trips to fixed (lon, lat, area type) destinations starting at `at`: for every
        origin, the same floats as `eta_s` to each, computed together."""
        hour = self.local_hour(at)
        return TripsTo([prepared(lon, lat) for lon, lat, _ in destinations],
                       [self._leg(area, hour) for _, _, area in destinations])

    def max_crow_speed_mps(self) -> float:
        """The fastest straight-line speed the model can produce (a bound for pruning searches)."""
        best = 0.0
        for area in AREA_TYPES:
            p = self.profile(area)
            for hour in range(24):
                v = p.speed_kmh_by_hour[hour] / 3.6 / p.circuity
                best = max(best, v / self.scale(area_type=area, hour=hour))
        return best

    def calibrated(
        self, trips: Sequence[Trip], *, min_samples: int = DEFAULT_MIN_SAMPLES
    ) -> EtaModel:
        """A model whose scales are the median observed/prior ratio per area and hour band.

        The median of ratios is a robust regression through the origin: up to half the trips
        can be outliers (a wrong start point, a missed status button) without moving it.
        Ratios are taken against the *prior* (scale 1), so recalibrating never compounds.
        A cell with fewer than `min_samples` plausible trips falls back to its area's median,
        and an area with too few to the prior.
        """
        if min_samples < 1:
            raise GeoError("min_samples must be >= 1", field="min_samples")
        by_cell: dict[tuple[str, str], list[float]] = defaultdict(list)
        by_area: dict[str, list[float]] = defaultdict(list)
        for t in trips:
            ratio = self._plausible_ratio(t)
            if ratio is None:
                continue
            by_cell[(t.area_type, band_of_hour(t.hour))].append(ratio)
            by_area[t.area_type].append(ratio)
        fitted: list[CellScale] = []
        for area in AREA_TYPES:
            ratios = by_area.get(area, [])
            if len(ratios) >= min_samples:
                fitted.append(CellScale(area, "*", statistics.median(ratios), len(ratios)))
            for band, _ in HOUR_BANDS:
                cell = by_cell.get((area, band), [])
                if len(cell) >= min_samples:
                    fitted.append(CellScale(area, band, statistics.median(cell), len(cell)))
        return EtaModel(
            urban=self.urban,
            suburban=self.suburban,
            rural=self.rural,
            scales=tuple(fitted),
            local_tz=self.local_tz,
        )

    def _plausible_ratio(self, t: Trip) -> float | None:
        """observed / prior for a trip that passes the guards, else None."""
        if t.area_type not in AREA_TYPES:
            raise GeoError(f"unknown area type {t.area_type!r} in trip", field="area_type")
        if t.distance_m < MIN_TRIP_M or t.duration_s <= 0:
            return None
        crow_speed = t.distance_m / t.duration_s
        if not MIN_CROW_SPEED_MPS <= crow_speed <= MAX_CROW_SPEED_MPS:
            return None
        prior = self.prior_travel_s(distance_m=t.distance_m, area_type=t.area_type, hour=t.hour)
        return t.duration_s / prior
