"""Move-up on hand-made cities: the right vehicle to the right station, and the safety rule."""

from __future__ import annotations

import itertools
import random

import h3
import orjson
import pytest
from shapely.geometry import box

from dispatch.errors import GeoError
from dispatch.geo.coverage import cell_districts, coverage, demand_grid
from dispatch.geo.distance import haversine_m
from dispatch.geo.moveup import (
    AvailableVehicle,
    Move,
    Station,
    _better,
    _Choice,
    recommend_moves,
)
from dispatch.geo.reasons import localised

# Four districts side by side, 0.04 deg (~3.8 km) wide each.
EDGES = [118.70, 118.74, 118.78, 118.82, 118.86]
NAMES = ["w", "m", "e", "x"]
DISTRICTS = [(n, box(EDGES[i], 32.00, EDGES[i + 1], 32.04)) for i, n in enumerate(NAMES)]
CELL_DISTRICT = cell_districts(districts=DISTRICTS)
STATIONS = [Station(f"s_{n}", (EDGES[i] + EDGES[i + 1]) / 2, 32.02, n)
            for i, n in enumerate(NAMES)]
TARGET_S = 1800.0


def _zone(lon: float) -> int:
    return sum(lon >= e for e in EDGES[1:-1])


def _travel(a: float, b: float, c: float, d: float) -> float:
    """Within a district: 10 m/s straight line (< 10 min). Across a border: an extra hour."""
    return haversine_m(a, b, c, d) / 10.0 + (0.0 if _zone(a) == _zone(c) else 3600.0)


def _demand(weights: dict[str, float]) -> dict[str, float]:
    """Uniform demand per cell in each district, scaled per district."""
    base = demand_grid(past_calls=[], districts=DISTRICTS, prior_weight=1.0)
    return {c: weights[CELL_DISTRICT[c]] for c in base}


def _district_demand(demand: dict[str, float], name: str) -> float:
    return sum(w for c, w in demand.items() if CELL_DISTRICT[c] == name)


def _at(vid: str, station: Station, dlon: float = 0.0) -> AvailableVehicle:
    return AvailableVehicle(vid, station.lon + dlon, station.lat, station.station_id,
                            station.district)


def _moves(vehicles: list[AvailableVehicle], demand: dict[str, float], **kw: object) -> list[Move]:
    args: dict[str, object] = {"vehicles": vehicles, "stations": STATIONS, "demand": demand,
                               "target_s": TARGET_S, "travel_s": _travel,
                               "cell_district": CELL_DISTRICT}
    args.update(kw)
    return recommend_moves(**args)  # type: ignore[arg-type]


def test_empty_station_is_refilled_from_the_district_with_two() -> None:
    demand = _demand({"w": 1.0, "m": 1.0, "e": 1.0, "x": 1.0})
    w, m, e, x = STATIONS
    fleet = [_at("a", w), _at("b", w, 0.005), _at("c", e), _at("d", x)]
    total = sum(demand.values())
    (move,) = _moves(fleet, demand)
    assert (move.to_station_id, move.from_station_id) == ("s_m", "s_w")
    assert move.gain_demand == pytest.approx(_district_demand(demand, "m"))
    assert move.coverage_before == pytest.approx(1 - _district_demand(demand, "m") / total)
    assert move.coverage_after == pytest.approx(1.0)
    assert "w keeps 1 vehicle(s)" in move.reason
    # tie between a and b (same gain): the one with the shorter relocation moves (b is 500 m
    # nearer the middle station)
    assert move.vehicle_id == "b"
    assert orjson.loads(orjson.dumps(move.to_dict())) == {
        "vehicle_id": "b", "from_station_id": "s_w", "to_station_id": "s_m",
        "gain_demand": move.gain_demand, "coverage_before": move.coverage_before,
        "coverage_after": move.coverage_after, "reason": move.reason,
        "why": localised(move.reason),
    }


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.8, []),  # moving w's only vehicle would leave w at 0% < 80%: forbidden
        (0.0, [("a", "s_m")]),  # no threshold: the busier middle gets w's vehicle
    ],
)
def test_last_vehicle_of_a_district_is_kept_below_threshold(
    threshold: float, expected: list[tuple[str, str]]
) -> None:
    # w is the quietest district, so with no threshold its vehicle is the cheapest to take
    demand = _demand({"w": 0.5, "m": 3.0, "e": 1.0, "x": 1.0})
    w, m, e, x = STATIONS
    fleet = [_at("a", w), _at("c", e), _at("d", x)]
    moves = _moves(fleet, demand, default_threshold=threshold, max_moves=1)
    assert [(mv.vehicle_id, mv.to_station_id) for mv in moves] == expected
    if moves:
        gain = _district_demand(demand, "m") - _district_demand(demand, "w")
        assert moves[0].gain_demand == pytest.approx(gain)
        assert "w keeps 0% coverage, at or above its 0% threshold" in moves[0].reason


def test_per_district_threshold_overrides_the_default() -> None:
    demand = _demand({"w": 1.0, "m": 3.0, "e": 1.0, "x": 1.0})
    w, _, e, x = STATIONS
    fleet = [_at("a", w), _at("c", e), _at("d", x)]
    # w may be stripped, e and x may not: w's vehicle goes to m
    moves = _moves(fleet, demand, district_threshold={"w": 0.0}, max_moves=3)
    assert [(mv.vehicle_id, mv.to_station_id) for mv in moves] == [("a", "s_m")]


def test_greedy_fills_the_biggest_gap_first_and_respects_max_moves() -> None:
    demand = _demand({"w": 1.0, "m": 2.0, "e": 4.0, "x": 3.0})
    w = STATIONS[0]
    fleet = [_at("a", w), _at("b", w, 0.002), _at("c", w, 0.004), _at("d", w, 0.006)]
    moves = _moves(fleet, demand)
    assert [mv.to_station_id for mv in moves] == ["s_e", "s_x", "s_m"]
    gains = [mv.gain_demand for mv in moves]
    assert gains == sorted(gains, reverse=True)
    for prev, nxt in itertools.pairwise(moves):
        assert nxt.coverage_before == pytest.approx(prev.coverage_after)
    assert moves[-1].coverage_after == pytest.approx(1.0)
    assert len({mv.vehicle_id for mv in moves}) == 3  # no vehicle moves twice
    assert [mv.to_station_id for mv in _moves(fleet, demand, max_moves=1)] == ["s_e"]
    assert _moves(fleet, demand, max_moves=0) == []


def test_small_gains_are_not_worth_a_move() -> None:
    demand = _demand({"w": 1.0, "m": 0.001, "e": 1.0, "x": 1.0})
    w, _, e, x = STATIONS
    fleet = [_at("a", w), _at("b", w, 0.005), _at("c", e), _at("d", x)]
    assert _moves(fleet, demand) == []  # m's share is far below 0.5% of demand
    assert len(_moves(fleet, demand, min_gain_share=0.0)) == 1


@pytest.mark.parametrize("seed", range(5))
def test_first_move_is_the_brute_force_best(seed: int) -> None:
    rng = random.Random(seed)
    demand = _demand({n: rng.uniform(0.1, 3.0) for n in NAMES})
    fleet = [
        _at(f"v{i}", st, rng.uniform(-0.01, 0.01))
        for i, st in enumerate(rng.choices(STATIONS, k=rng.randint(2, 5)))
    ]
    found = _moves(fleet, demand, max_moves=1, default_threshold=0.0, min_gain_share=0.0)
    move = found[0] if found else None
    base = coverage(demand=demand, vehicles=[(v.lon, v.lat) for v in fleet], target_s=TARGET_S,
                    travel_s=_travel).covered_demand
    best = 0.0
    for v, s in itertools.product(fleet, STATIONS):
        if s.station_id == v.station_id:
            continue
        others = [(o.lon, o.lat) for o in fleet if o is not v] + [(s.lon, s.lat)]
        got = coverage(demand=demand, vehicles=others, target_s=TARGET_S,
                       travel_s=_travel).covered_demand
        best = max(best, got - base)
    if best <= 1e-9:
        assert move is None
    else:
        assert move is not None and move.gain_demand == pytest.approx(best)


def test_bad_input() -> None:
    demand = _demand({n: 1.0 for n in NAMES})
    w = STATIONS[0]
    with pytest.raises(GeoError):
        _moves([_at("a", w), _at("a", w)], demand)
    with pytest.raises(GeoError):
        _moves([_at("a", w)], demand, max_moves=-1)
    assert _moves([], demand) == []
    assert _moves([_at("a", w)], {}) == []
    assert h3.is_valid_cell(next(iter(demand)))


def test_refusals_say_why() -> None:
    w = STATIONS[0]
    with pytest.raises(GeoError) as info:
        _moves([_at("a", w), _at("a", w, 0.001)], _demand(dict.fromkeys(NAMES, 1.0)))
    assert (info.value.field, info.value.message) == ("vehicles", "duplicate vehicle ids")
    with pytest.raises(GeoError) as negative:
        _moves([_at("a", w)], _demand(dict.fromkeys(NAMES, 1.0)), max_moves=-1)
    assert negative.value.message == "max_moves and min_gain_share must be >= 0"


@pytest.mark.parametrize("scale", [1.0, 1e-4])
def test_thresholds_hold_whatever_the_demand_scale(scale: float) -> None:
    # a city whose whole demand is below 1 (shares, not counts) keeps the same rules
    demand = {c: w * scale for c, w in _demand({"w": 0.5, "m": 3.0, "e": 1.0, "x": 1.0}).items()}
    w, _, e, x = STATIONS
    fleet = [_at("a", w), _at("c", e), _at("d", x)]
    assert _moves(fleet, demand, default_threshold=0.8, max_moves=1) == []
    moved = _moves(fleet, demand, default_threshold=0.0, max_moves=1)
    assert [(mv.vehicle_id, mv.to_station_id) for mv in moved] == [("a", "s_m")]


def _choice(gain: float, relocation_s: float, vehicle: int = 0) -> _Choice:
    return _Choice(gain=gain, relocation_s=relocation_s, vehicle=vehicle, station=0,
                   district_share_after=1.0)


@pytest.mark.parametrize(("a", "b", "better"), [
    ((1.5, 600.0), (1.0, 60.0), True),  # more gain wins over a shorter relocation
    ((1000.001, 600.0), (1000.0, 60.0), True),  # a relative difference of 1e-6 is a gain
    ((5e-9, 600.0), (0.0, 60.0), True),  # so is an absolute one of 5e-9
    ((1.0, 60.0), (1.0 + 1e-13, 600.0), True),  # equal gains: the shorter relocation
    ((1.0, 600.0), (1.0, 60.0), False),
])
def test_better_choice(a: tuple[float, float], b: tuple[float, float], better: bool) -> None:
    assert _better(_choice(*a), _choice(*b, vehicle=1)) is better


def test_reasons_exactly() -> None:
    w, _, e, x = STATIONS
    demand = _demand(dict.fromkeys(NAMES, 1.0))
    fleet = [_at("a", w), _at("b", w, 0.005), _at("c", e), _at("d", x)]
    (move,) = _moves(fleet, demand)
    assert move.reason == ("covers 30.0 more expected demand within 30 min (74.4% -> 100.0%); "
                           "relocation 65 min; w keeps 1 vehicle(s)")
    demand = _demand({"w": 0.5, "m": 3.0, "e": 1.0, "x": 1.0})
    fleet = [_at("a", w), _at("c", e), _at("d", x)]
    (own,) = _moves(fleet, demand, district_threshold={"w": 0.0}, default_threshold=0.9,
                    max_moves=1)
    assert own.reason == ("covers 75.0 more expected demand within 30 min (44.4% -> 90.7%); "
                          "relocation 66 min; w keeps 0% coverage, at or above its 0% threshold")
    assert own.to_dict()["why"]["text"]["zh-CN"] == (
        "30 分钟内多覆盖 75.0 个预计需求（44.4% → 90.7%）；前移约 66 分钟；w 覆盖率保持 0%，"
        "不低于其阈值 0%")
    assert move.to_dict()["why"] == {
        "code": "moveup_keeps",
        "params": {"gain": move.gain_demand, "target_min": 30.0,
                   "before": move.coverage_before, "after": move.coverage_after,
                   "relocation_min": pytest.approx(65, abs=0.5),
                   "home": "w", "left": 1},
        "text": {"zh-CN": "30 分钟内多覆盖 30.0 个预计需求（74.4% → 100.0%）；前移约 65 分钟；"
                          "w 仍留 1 辆车",
                 "en": move.reason}}
