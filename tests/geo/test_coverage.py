"""Coverage on hand-made cities whose answers are known, and brute-force cross-checks."""

from __future__ import annotations

import random
from collections.abc import Callable

import h3
import numpy as np
import orjson
import pytest
from shapely.geometry import Point, box

from dispatch.errors import GeoError
from dispatch.geo import coverage as coverage_module
from dispatch.geo.coverage import (
    DEFAULT_TARGETS_S,
    cell_districts,
    cells_of_polygon,
    coverage,
    coverage_geojson,
    covered_cells,
    demand_grid,
    reachable_mask,
    summarise,
)
from dispatch.geo.distance import haversine_m

# A 2-district city on the Yangtze: West (Gulou-ish) and East, split at lon 118.80.
WEST = box(118.70, 32.00, 118.80, 32.08)
EAST = box(118.80, 32.00, 118.90, 32.08)
DISTRICTS = [("west", WEST), ("east", EAST)]


def _crow(v_per_s: float) -> Callable[[float, float, float, float], float]:
    def travel(a: float, b: float, c: float, d: float) -> float:
        return haversine_m(a, b, c, d) / v_per_s
    return travel


def _river(a: float, b: float, c: float, d: float) -> float:
    """One minute on your own bank, an hour across: the river has no bridge."""
    return 60.0 if (a < 118.80) == (c < 118.80) else 3600.0


def test_two_bank_city_answer_is_known() -> None:
    calls = [(118.75, 32.04)] * 30 + [(118.85, 32.04)] * 10
    demand = demand_grid(past_calls=calls, districts=DISTRICTS, prior_weight=0.5)
    cd = cell_districts(districts=DISTRICTS)
    west_cells = [c for c in demand if h3.cell_to_latlng(c)[1] < 118.80]
    east_cells = [c for c in demand if h3.cell_to_latlng(c)[1] >= 118.80]
    # the cells tile each ~84 km2 district (9.4 km x 8.9 km) to within a ring of edge cells
    for side in (west_cells, east_cells):
        assert sum(h3.cell_area(c, "km^2") for c in side) == pytest.approx(84.0, rel=0.1)
    west_demand = 0.5 * len(west_cells) + 30
    east_demand = 0.5 * len(east_cells) + 10

    result = coverage(demand=demand, vehicles=[(118.72, 32.01)], target_s=480.0,
                      travel_s=_river, cell_district=cd)
    assert result.total_demand == pytest.approx(west_demand + east_demand)
    assert result.covered_demand == pytest.approx(west_demand)
    assert result.share == pytest.approx(west_demand / (west_demand + east_demand))
    assert result.covered == frozenset(west_cells)
    assert result.uncovered == frozenset(east_cells)
    by = {d.district_id: d for d in result.by_district}
    assert by["west"].share == 1.0 and by["east"].share == 0.0
    assert by["east"].demand == pytest.approx(east_demand)

    both = coverage(demand=demand, vehicles=[(118.72, 32.01), (118.88, 32.07)],
                    target_s=480.0, travel_s=_river, cell_district=cd)
    assert both.share == 1.0 and not both.uncovered
    none = coverage(demand=demand, vehicles=[], target_s=480.0, travel_s=_river)
    assert none.share == 0.0 and none.by_district == ()


def test_disc_city_matches_brute_force() -> None:
    centre = (118.78, 32.04)
    cells = h3.grid_disk(h3.latlng_to_cell(centre[1], centre[0], 8), 12)
    demand = {c: 1.0 + (i % 3) for i, c in enumerate(sorted(cells))}
    travel = _crow(10.0)
    for target in DEFAULT_TARGETS_S:
        result = coverage(demand=demand, vehicles=[centre], target_s=target, travel_s=travel)
        expected = {c for c in cells
                    if travel(centre[0], centre[1], *h3.cell_to_latlng(c)[::-1]) <= target}
        assert result.covered == expected
        assert 0 < len(expected) < len(cells)
        assert result.covered_demand == pytest.approx(sum(demand[c] for c in expected))


@pytest.mark.parametrize("seed", range(4))
def test_pruning_bound_gives_the_same_answer_with_fewer_calls(seed: int) -> None:
    rng = random.Random(seed)
    demand = demand_grid(past_calls=[], districts=DISTRICTS, prior_weight=1.0)
    vehicles = [(rng.uniform(118.7, 118.9), rng.uniform(32.0, 32.08)) for _ in range(6)]
    calls = {"n": 0}

    def travel(a: float, b: float, c: float, d: float) -> float:
        calls["n"] += 1
        # circuity 1.3 at 12 m/s: never faster than 12/1.3 m/s in a straight line
        return haversine_m(a, b, c, d) * 1.3 / 12.0

    slow = coverage(demand=demand, vehicles=vehicles, target_s=300.0, travel_s=travel)
    n_slow = calls["n"]
    calls["n"] = 0
    fast = coverage(demand=demand, vehicles=vehicles, target_s=300.0, travel_s=travel,
                    max_crow_speed_mps=12.0 / 1.3)
    assert fast.covered == slow.covered and fast.share == slow.share
    assert calls["n"] < n_slow
    # the brute force over every vehicle for every cell
    brute = {c for c in demand if any(
        travel(v[0], v[1], *h3.cell_to_latlng(c)[::-1]) <= 300.0 for v in vehicles)}
    assert fast.covered == brute


def test_reachable_mask_matches_brute_force() -> None:
    rng = random.Random(11)
    cells = sorted(demand_grid(past_calls=[], districts=[("w", WEST)], prior_weight=1.0))
    points = [(rng.uniform(118.7, 118.8), rng.uniform(32.0, 32.08)) for _ in range(5)]
    travel = _crow(8.0)
    mask = reachable_mask(cells=cells, points=points, target_s=400.0, travel_s=travel,
                          max_crow_speed_mps=8.0)
    for i, c in enumerate(cells):
        lat, lon = h3.cell_to_latlng(c)
        for j, p in enumerate(points):
            assert bool(mask[i, j]) == (travel(p[0], p[1], lon, lat) <= 400.0)


def test_demand_grid_counts_calls_and_spreads_the_prior() -> None:
    inside = (118.75, 32.04)
    outside = (120.0, 31.0)  # a call outside every district still counts
    demand = demand_grid(past_calls=[inside, inside, inside, outside], districts=DISTRICTS,
                         prior_weight=0.25)
    c_in = h3.latlng_to_cell(inside[1], inside[0], 8)
    c_out = h3.latlng_to_cell(outside[1], outside[0], 8)
    assert demand[c_in] == 3.25 and demand[c_out] == 1.0
    district_cells = set(cell_districts(districts=DISTRICTS))
    assert set(demand) == district_cells | {c_out}
    assert all(demand[c] == 0.25 for c in district_cells - {c_in})
    # without a prior only cells with history carry demand
    assert demand_grid(past_calls=[inside], districts=DISTRICTS, prior_weight=0.0) == {c_in: 1.0}


def test_tiny_district_still_gets_a_cell_and_bad_input_raises() -> None:
    islet = Point(118.95, 32.1).buffer(0.0005)  # ~50 m: smaller than a hexagon
    assert cells_of_polygon(polygon=islet) == [h3.latlng_to_cell(32.1, 118.95, 8)]
    assert cells_of_polygon(polygon=box(0, 0, 0, 0).buffer(0)) == []
    with pytest.raises(GeoError):
        demand_grid(past_calls=[], districts=DISTRICTS, prior_weight=-1.0)
    with pytest.raises(GeoError):
        coverage(demand={"8830911969fffff": -1.0}, vehicles=[], target_s=1.0, travel_s=_river)
    for bad in ({"target_s": 0.0}, {"max_crow_speed_mps": 0.0}):
        kw = {"target_s": 10.0, **bad}
        with pytest.raises(GeoError):
            coverage(demand={"8830911969fffff": 1.0}, vehicles=[(118.7, 32.0)],
                     travel_s=_river, **kw)  # type: ignore[arg-type]


def test_geojson_is_valid_and_flags_cells() -> None:
    demand = demand_grid(past_calls=[(118.75, 32.04)], districts=DISTRICTS, prior_weight=1.0)
    result = coverage(demand=demand, vehicles=[(118.72, 32.01)], target_s=480.0,
                      travel_s=_river, cell_district=cell_districts(districts=DISTRICTS))
    gj = orjson.loads(orjson.dumps(coverage_geojson(result)))
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(demand)
    for f in gj["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 7
        lon, lat = ring[0]
        assert 118.6 < lon < 119.0 and 31.9 < lat < 32.2  # [lon, lat] order, as RFC 7946 says
        assert f["properties"]["covered"] == (f["id"] in result.covered)
        assert f["properties"]["demand"] == demand[f["id"]]
        assert f["properties"]["district_id"] in {"west", "east"}
        assert (f["type"], f["geometry"]["type"]) == ("Feature", "Polygon")
        assert f["properties"]["cell"] == f["id"]
    assert gj["share"] == result.share
    assert gj["target_s"] == 480.0
    figures = result.to_dict()
    assert figures["covered_cells"] + figures["uncovered_cells"] == len(demand)
    assert [d["district_id"] for d in figures["by_district"]] == ["east", "west"]


def test_blocked_distance_matrix_gives_the_unblocked_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Real cities exceed _CELL_BLOCK cells; a block of 7 (not dividing the cell count) makes
    # these small ones cross block edges, so a wrong row offset would cover the wrong cells.
    rng = random.Random(12)
    cells = sorted(demand_grid(past_calls=[], districts=DISTRICTS, prior_weight=1.0))
    points = [(rng.uniform(118.7, 118.9), rng.uniform(32.0, 32.08)) for _ in range(4)]
    travel = _crow(8.0)
    whole_mask = reachable_mask(cells=cells, points=points, target_s=400.0, travel_s=travel,
                                max_crow_speed_mps=8.0)
    whole_covered = covered_cells(cells=cells, vehicles=points, target_s=400.0, travel_s=travel,
                                  max_crow_speed_mps=8.0)
    assert len(cells) % 7 != 0 and 0 < whole_covered.sum() < len(cells)
    monkeypatch.setattr(coverage_module, "_CELL_BLOCK", 7)
    blocked_mask = reachable_mask(cells=cells, points=points, target_s=400.0, travel_s=travel,
                                  max_crow_speed_mps=8.0)
    blocked_covered = covered_cells(cells=cells, vehicles=points, target_s=400.0,
                                    travel_s=travel, max_crow_speed_mps=8.0)
    assert (blocked_mask == whole_mask).all()
    assert (blocked_covered == whole_covered).all()
    assert (whole_mask.any(axis=1) == whole_covered).all()


def test_cell_districts_at_another_resolution() -> None:
    cells = cell_districts(districts=[("w", WEST)], resolution=7)
    assert cells and {h3.get_resolution(c) for c in cells} == {7}
    assert set(cells) == set(cells_of_polygon(polygon=WEST, resolution=7))


def test_summarise_exactly_with_a_cell_outside_every_district() -> None:
    # "a" is outside every district and sorts first; "c" has no demand
    result = summarise(cells=["a", "b", "c", "d", "e"],
                       covered=np.array([True, False, True, True, False]),
                       demand={"a": 1.0, "b": 2.0, "c": 0.0, "d": 0.5, "e": 0.5}, target_s=480.0,
                       cell_district={"b": "d1", "c": "d2", "d": "d1", "e": "d3"})
    assert result.to_dict() == {
        "target_s": 480.0, "total_demand": 4.0, "covered_demand": 1.5, "share": 1.5 / 4.0,
        "covered_cells": 3, "uncovered_cells": 2,
        "by_district": [
            {"district_id": "d1", "demand": 2.5, "covered_demand": 0.5, "share": 0.2},
            {"district_id": "d2", "demand": 0.0, "covered_demand": 0.0, "share": 1.0},
            {"district_id": "d3", "demand": 0.5, "covered_demand": 0.0, "share": 0.0},
        ],
    }
    assert (result.covered, result.uncovered) == (frozenset("acd"), frozenset("be"))


def test_no_demand_at_all_is_fully_covered() -> None:
    result = summarise(cells=["a"], covered=np.array([False]), demand={"a": 0.0},
                       target_s=60.0, cell_district=None)
    assert (result.share, result.by_district) == (1.0, ())
    small = summarise(cells=["a"], covered=np.array([False]), demand={"a": 0.5},
                      target_s=60.0, cell_district=None)
    assert small.share == 0.0


def test_coverage_refuses_negative_demand_but_takes_zero() -> None:
    with pytest.raises(GeoError) as info:
        coverage(demand={"8830911969fffff": -0.5}, vehicles=[], target_s=60.0, travel_s=_river)
    assert (info.value.field, info.value.message) == ("demand", "demand must be >= 0")
    result = coverage(demand={"8830911969fffff": 0.0}, vehicles=[], target_s=60.0,
                      travel_s=_river)
    assert (result.total_demand, result.share, result.target_s) == (0.0, 1.0, 60.0)


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"target_s": 0.0}, "target_s", "target_s must be > 0"),
    ({"max_crow_speed_mps": 0.0}, "max_crow_speed_mps", "max_crow_speed_mps must be > 0"),
])
def test_coverage_refusals_say_why(kw: dict[str, float], field: str, message: str) -> None:
    args: dict[str, object] = {"demand": {"8830911969fffff": 1.0}, "vehicles": [(118.7, 32.0)],
                               "target_s": 60.0, "travel_s": _river}
    args.update(kw)
    with pytest.raises(GeoError) as info:
        coverage(**args)  # type: ignore[arg-type]
    assert (info.value.field, info.value.message) == (field, message)


def test_small_targets_and_speeds_are_allowed_and_the_limit_is_inclusive() -> None:
    cell = h3.latlng_to_cell(32.04, 118.75, 8)
    lat, lon = h3.cell_to_latlng(cell)
    unit = (lon + 0.001, lat)  # about 94 m east of the centre
    metres = haversine_m(*unit, lon, lat)
    # exactly at the target, and exactly at the crow bound (speed x target = distance)
    at_target = coverage(demand={cell: 1.0}, vehicles=[unit], target_s=0.5,
                         travel_s=lambda *_: 0.5, max_crow_speed_mps=metres / 0.5)
    assert at_target.share == 1.0
    slow = coverage(demand={cell: 1.0}, vehicles=[unit], target_s=0.5,
                    travel_s=lambda *_: 0.5, max_crow_speed_mps=0.5)
    assert slow.share == 0.0  # 0.25 m in the time: pruned
    mask = reachable_mask(cells=[cell], points=[unit], target_s=0.5, travel_s=lambda *_: 0.5,
                          max_crow_speed_mps=metres / 0.5)
    assert mask.tolist() == [[True]]


def test_demand_grid_refusal_and_resolution() -> None:
    with pytest.raises(GeoError) as info:
        demand_grid(past_calls=[], districts=DISTRICTS, prior_weight=-0.5)
    assert (info.value.field, info.value.message) == ("prior_weight", "prior_weight must be >= 0")
    grid = demand_grid(past_calls=[], districts=[("w", WEST)], prior_weight=1.0, resolution=7)
    assert {h3.get_resolution(c) for c in grid} == {7}
