"""The widening search read from one wide search, and the first radius learned."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dispatch.errors import GeoError
from dispatch.geo.widening import RadiusMemory, settle

RADII = [2_000.0, 4_000.0, 8_000.0, 16_000.0, 60_000.0]


@dataclass(frozen=True)
class Near:
    distance_m: float


def near(*distances: float) -> list[Near]:
    return [Near(d) for d in distances]


def test_stops_at_the_first_radius_where_the_kinds_together_offer_enough() -> None:
    als, bls = near(1_500, 3_000, 9_000), near(3_500, 3_900)
    assert settle([als, bls], radii=RADII, searched_m=60_000, count=4) == 4_000.0
    assert settle([als, bls], radii=RADII, searched_m=60_000, count=2) == 4_000.0
    assert settle([als, bls], radii=RADII, searched_m=60_000, count=1) == 2_000.0
    assert settle([als, bls], radii=RADII, searched_m=60_000, count=5) == 16_000.0


def test_a_radius_is_counted_inclusively() -> None:
    assert settle([near(2_000.0)], radii=RADII, searched_m=60_000, count=1) == 2_000.0


def test_each_kind_offers_at_most_count_as_a_step_search_would() -> None:
    # a step's search returns at most `count` per kind, so a crowd of one kind counts once
    crowd = near(*[100.0 * i for i in range(1, 9)])
    assert settle([crowd, near(5_000)], radii=RADII, searched_m=60_000, count=8) == 2_000.0
    assert settle([crowd[:3], near(5_000)], radii=RADII, searched_m=60_000,
                  count=8) == 60_000.0


def test_too_few_anywhere_stops_at_the_last_radius() -> None:
    assert settle([near(1_000), []], radii=RADII, searched_m=60_000, count=8) == 60_000.0
    assert settle([], radii=RADII, searched_m=60_000, count=8) == 60_000.0


def test_a_search_too_narrow_to_judge_says_so() -> None:
    # within 8 km only 2 of the 3 wanted: the steps would go on beyond what was searched
    assert settle([near(1_000, 7_000)], radii=RADII, searched_m=8_000, count=3) is None
    # enough within the searched radius: judged without searching wider
    assert settle([near(1_000, 3_000, 7_000)], radii=RADII, searched_m=8_000,
                  count=3) == 8_000.0


def test_settle_refuses_an_empty_schedule_or_count() -> None:
    with pytest.raises(GeoError):
        settle([], radii=[], searched_m=1.0, count=1)
    with pytest.raises(GeoError):
        settle([], radii=RADII, searched_m=1.0, count=0)


def test_memory_starts_at_the_widest_radius_until_it_has_seen_enough() -> None:
    memory = RadiusMemory(min_seen=3)
    assert memory.first("s", RADII) == 60_000.0
    memory.note("s", 4_000.0)
    memory.note("s", 4_000.0)
    assert memory.first("s", RADII) == 60_000.0
    memory.note("s", 4_000.0)
    assert memory.first("s", RADII) == 4_000.0


def test_memory_covers_the_chosen_share_of_recent_stops() -> None:
    memory = RadiusMemory(memory=10, cover=0.9, min_seen=10)
    for stop in [2_000.0] * 8 + [8_000.0, 60_000.0]:
        memory.note("s", stop)
    assert memory.first("s", RADII) == 8_000.0  # 9 of 10 stopped within 8 km
    memory.note("s", 16_000.0)  # the oldest 2 km stop leaves the window
    assert memory.first("s", RADII) == 16_000.0


def test_memory_snaps_up_to_the_searchs_own_schedule_and_keeps_shapes_apart() -> None:
    memory = RadiusMemory(min_seen=1)
    memory.note(("als",), 6_000.0)  # a stop of a schedule starting at 6 km
    assert memory.first(("als",), RADII) == 8_000.0
    assert memory.first(("als",), [2_000.0, 5_000.0]) == 5_000.0
    assert memory.first(("bls",), RADII) == 60_000.0


def test_memory_refuses_settings_it_cannot_honour() -> None:
    for kwargs in ({"cover": 0.0}, {"cover": 1.5}, {"memory": 0}, {"min_seen": 0},
                   {"memory": 4, "min_seen": 5}):
        with pytest.raises(GeoError):
            RadiusMemory(**kwargs)  # type: ignore[arg-type]
