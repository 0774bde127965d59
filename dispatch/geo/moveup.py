"""Move-up: when a station empties, which available vehicle should move to which station.

The objective is the maximal covering location problem (Church & ReVelle 1974, Papers of
the Regional Science Association 32:101): maximise the demand within the travel-time target
of at least one vehicle. Relocating vehicles in real time to keep that coverage follows
Gendreau, Laporte & Semet 2001 (Parallel Computing 27:1641), who also penalise long and
repeated relocations; here each vehicle moves at most once per recommendation, a move must
gain at least `min_gain_share` of all demand, and ties go to the shorter relocation.

Greedy, with its bound stated: each step takes the one move with the largest gain in covered
demand. Filling k empty stations is a monotone submodular maximisation, for which greedy is
within (1 - 1/e) ~ 63% of the best k-move answer (Nemhauser, Wolsey & Fisher 1978, Math.
Programming 14:265); because a move also uncovers the cells only its vehicle covered, that
guarantee holds for the filling part and the whole is a heuristic. Work is bounded: at most
`max_moves` steps (default 3, as many as a dispatcher can supervise at once), each over
vehicles x stations x cells in numpy.

Safety rule: a move never takes the last vehicle of a district when that district's own
coverage (by every vehicle, its neighbours' included) would then fall below its threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.errors import GeoError
from dispatch.geo.coverage import Cell, TravelS, reachable_mask
from dispatch.geo.reasons import Because, localised

DEFAULT_MAX_MOVES = 3
DEFAULT_MIN_GAIN_SHARE = 0.005  # half a percent of demand: below this, a move is churn
# Share of a district's demand that must stay covered before its last vehicle may leave.
# The project's operational default; a centre sets its own per district.
DEFAULT_DISTRICT_THRESHOLD = 0.8


@dataclass(frozen=True, slots=True)
class AvailableVehicle:
    """An available emergency vehicle, where it is, and the district it serves now."""

    vehicle_id: str
    lon: float
    lat: float
    station_id: str | None  # the station it is at or belongs to
    district: str


@dataclass(frozen=True, slots=True)
class Station:
    """A station a vehicle can be posted to."""

    station_id: str
    lon: float
    lat: float
    district: str


@dataclass(frozen=True, slots=True)
class Move:
    """A recommended relocation and what it buys (shares are of all demand, 0-1)."""

    vehicle_id: str
    from_station_id: str | None
    to_station_id: str
    gain_demand: float
    coverage_before: float
    coverage_after: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "vehicle_id": self.vehicle_id,
            "from_station_id": self.from_station_id,
            "to_station_id": self.to_station_id,
            "gain_demand": self.gain_demand,
            "coverage_before": self.coverage_before,
            "coverage_after": self.coverage_after,
            "reason": self.reason,
            "why": localised(self.reason),
        }


@dataclass(frozen=True, slots=True)
class _Choice:
    gain: float
    relocation_s: float
    vehicle: int
    station: int
    district_share_after: float


def recommend_moves(
    *,
    vehicles: Sequence[AvailableVehicle],
    stations: Sequence[Station],
    demand: Mapping[Cell, float],
    target_s: float,
    travel_s: TravelS,
    cell_district: Mapping[Cell, str],
    district_threshold: Mapping[str, float] | None = None,
    default_threshold: float = DEFAULT_DISTRICT_THRESHOLD,
    max_moves: int = DEFAULT_MAX_MOVES,
    min_gain_share: float = DEFAULT_MIN_GAIN_SHARE,
    max_crow_speed_mps: float | None = None,
) -> list[Move]:
    """Moves (vehicle -> station) that restore the most covered demand, best first."""
    if max_moves < 0 or min_gain_share < 0:
        raise GeoError("max_moves and min_gain_share must be >= 0")
    if len({v.vehicle_id for v in vehicles}) != len(vehicles):
        raise GeoError("duplicate vehicle ids", field="vehicles")
    cells = sorted(demand)
    total = float(sum(demand[c] for c in cells))
    if not cells or not vehicles or not stations or total <= 0 or max_moves == 0:
        return []
    weights = np.array([demand[c] for c in cells], dtype=np.float64)
    reach = reachable_mask(
        cells=cells,
        points=[(v.lon, v.lat) for v in vehicles] + [(s.lon, s.lat) for s in stations],
        target_s=target_s,
        travel_s=travel_s,
        max_crow_speed_mps=max_crow_speed_mps,
    )
    n_v = len(vehicles)
    reach_v, reach_s = reach[:, :n_v], reach[:, n_v:]
    count = reach_v.sum(axis=1).astype(np.int64)  # vehicles covering each cell
    districts = sorted({*cell_district.values(), *(v.district for v in vehicles)})
    in_district = {d: np.array([cell_district.get(c) == d for c in cells]) for d in districts}
    serving = {v.vehicle_id: v.district for v in vehicles}  # updated as moves are applied
    thresholds = dict(district_threshold or {})
    moved: set[int] = set()
    moves: list[Move] = []
    for _ in range(max_moves):
        covered_now = float(weights[count > 0].sum())
        fleet_of = Counter(serving.values())  # vehicles serving each district now
        best: _Choice | None = None
        for vi, v in enumerate(vehicles):
            if vi in moved:
                continue
            choice = _best_move_for(
                vi=vi,
                vehicle=v,
                stations=stations,
                weights=weights,
                count=count,
                reach_v=reach_v,
                reach_s=reach_s,
                covered_now=covered_now,
                home_mask=in_district.get(serving[v.vehicle_id]),
                is_last=fleet_of[serving[v.vehicle_id]] == 1,
                threshold=thresholds.get(serving[v.vehicle_id], default_threshold),
                travel_s=travel_s,
            )
            if choice is not None and (best is None or _better(choice, best)):
                best = choice
        if best is None or best.gain < min_gain_share * total or best.gain <= 0:
            break
        v = vehicles[best.vehicle]
        st = stations[best.station]
        count = count - reach_v[:, best.vehicle] + reach_s[:, best.station]
        covered_after = float(weights[count > 0].sum())
        home = serving[v.vehicle_id]
        left = fleet_of[home] - 1
        serving[v.vehicle_id] = st.district
        moved.add(best.vehicle)
        moves.append(
            Move(
                vehicle_id=v.vehicle_id,
                from_station_id=v.station_id,
                to_station_id=st.station_id,
                gain_demand=best.gain,
                coverage_before=covered_now / total,
                coverage_after=covered_after / total,
                reason=_why(best, home, left, target_s=target_s,
                            before=covered_now / total, after=covered_after / total,
                            threshold=thresholds.get(home, default_threshold)),
            )
        )
    return moves


def _why(best: _Choice, home: str, left: int, *, target_s: float, before: float,
         after: float, threshold: float) -> Because:
    """What a move buys, and what its home district keeps (a vehicle, or its threshold)."""
    bought = {"gain": best.gain, "target_min": target_s / 60, "before": before,
              "after": after, "relocation_min": best.relocation_s / 60, "home": home}
    if left:
        return Because("moveup_keeps", **bought, left=left)
    return Because("moveup_threshold", **bought, share=best.district_share_after,
                   threshold=threshold)


def _better(a: _Choice, b: _Choice) -> bool:
    """Larger gain first; on an equal gain the shorter relocation, then input order."""
    if not np.isclose(a.gain, b.gain, rtol=1e-12, atol=1e-9):
        return a.gain > b.gain
    return (a.relocation_s, a.vehicle, a.station) < (b.relocation_s, b.vehicle, b.station)


def _best_move_for(
    *,
    vi: int,
    vehicle: AvailableVehicle,
    stations: Sequence[Station],
    weights: np.ndarray[Any, np.dtype[np.float64]],
    count: np.ndarray[Any, np.dtype[np.int64]],
    reach_v: np.ndarray[Any, np.dtype[np.bool_]],
    reach_s: np.ndarray[Any, np.dtype[np.bool_]],
    covered_now: float,
    home_mask: np.ndarray[Any, np.dtype[np.bool_]] | None,
    is_last: bool,
    threshold: float,
    travel_s: TravelS,
) -> _Choice | None:
    """The best allowed station for one vehicle, all stations evaluated at once."""
    without = (count - reach_v[:, vi]) > 0  # coverage if this vehicle left
    after = without[:, None] | reach_s  # cells x stations
    gains = weights @ after - covered_now
    allowed = np.array([s.station_id != vehicle.station_id for s in stations])
    home_share = np.ones(len(stations))
    if home_mask is not None:
        home_total = float(weights[home_mask].sum())
        if home_total > 0:
            home_share = (weights * home_mask) @ after / home_total
    if is_last:
        allowed &= home_share >= threshold
    best: _Choice | None = None
    for si in np.nonzero(allowed)[0].tolist():
        s = stations[si]
        cand = _Choice(
            gain=float(gains[si]),
            relocation_s=travel_s(vehicle.lon, vehicle.lat, s.lon, s.lat),
            vehicle=vi,
            station=si,
            district_share_after=float(home_share[si]),
        )
        if best is None or _better(cand, best):
            best = cand
    return best
