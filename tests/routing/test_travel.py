"""The travel-time engines behind one protocol: which one the settings choose, and what
each ranks by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.config import Settings
from dispatch.domain import VehicleKind
from dispatch.geo.eta import EtaModel
from dispatch.geo.policy import RankingPolicy
from dispatch.geo.ranking import Candidate
from dispatch.geo.uncertainty import UncertainEta
from dispatch.routing import (
    EtaModelTimes,
    RoutedTimes,
    StraightLineTimes,
    TravelTimes,
    travel_times,
)
from tests.routing.fake_osrm import FakeOsrm

NOW = datetime(2025, 6, 2, 2, 30, tzinfo=UTC)
SCENE = (118.78, 32.04)
MODEL = EtaModel.default()
KINDS = (VehicleKind.ALS,)


def where(radius_m: float = 0.0) -> UncertainEta:
    def trip_s(a: float, b: float, c: float, d: float) -> float:
        # urban roads east of the scene, rural west: the model and the straight line disagree
        area = "urban" if a > SCENE[0] else "rural"
        return MODEL.eta_s(from_lon=a, from_lat=b, to_lon=c, to_lat=d, area_type=area, at=NOW)

    return UncertainEta(SCENE[0], SCENE[1], radius_m, trip_s)


def cand(vid: str, lon: float) -> Candidate:
    return Candidate(vid, VehicleKind.ALS, lon, SCENE[1], frozenset(),
                     NOW - timedelta(seconds=10), 2)


# "near" is nearer in a straight line, "far" is quicker by the model (rural roads)
CANDS = [cand("near", SCENE[0] + 0.030), cand("far", SCENE[0] - 0.045)]


@pytest.mark.parametrize(("policy", "osrm_url", "engine"), [
    (RankingPolicy.STRAIGHT, None, StraightLineTimes),
    (RankingPolicy.STRAIGHT, "http://r", StraightLineTimes),  # straight line is never routed
    (RankingPolicy.ETA, None, EtaModelTimes),
    (RankingPolicy.COVERAGE, None, EtaModelTimes),
    (RankingPolicy.ETA, "http://r", RoutedTimes),
    (RankingPolicy.COVERAGE, "http://r", RoutedTimes),
])
async def test_settings_choose_the_engine(
    policy: RankingPolicy, osrm_url: str | None, engine: type[TravelTimes],
) -> None:
    chosen = travel_times(Settings(ranking_policy=policy, osrm_url=osrm_url))
    try:
        assert type(chosen) is engine
    finally:
        await chosen.aclose()


async def test_straight_line_and_model_disagree_as_they_should() -> None:
    straight = await StraightLineTimes(max_position_age_s=300).rank(
        candidates=CANDS, where=where(), kinds=KINDS, now=NOW, top=2)
    model = await EtaModelTimes(max_position_age_s=300).rank(
        candidates=CANDS, where=where(), kinds=KINDS, now=NOW, top=2)
    assert [r.vehicle_id for r in straight] == ["near", "far"]
    assert [r.vehicle_id for r in model] == ["far", "near"]


async def test_the_model_says_when_the_location_is_uncertain() -> None:
    engine = EtaModelTimes(max_position_age_s=300)
    exact = await engine.rank(candidates=CANDS, where=where(0.0), kinds=KINDS, now=NOW, top=2)
    wide = await engine.rank(candidates=CANDS, where=where(2000.0), kinds=KINDS, now=NOW,
                             top=2)
    assert not any("location uncertain" in reason for r in exact for reason in r.reasons)
    assert all(any("location uncertain" in reason for reason in r.reasons) for r in wide)


async def test_routed_times_reorder_the_model_shortlist(osrm: FakeOsrm) -> None:
    # the fake routes at 10 m/s in a straight line: "near" wins again once routed
    engine = travel_times(Settings(ranking_policy=RankingPolicy.ETA,
                                   osrm_url=osrm.base + "/ok", osrm_shortlist=2))
    try:
        ranked = await engine.rank(candidates=CANDS, where=where(), kinds=KINDS, now=NOW,
                                   top=2)
    finally:
        await engine.aclose()
    assert [r.vehicle_id for r in ranked] == ["near", "far"]
    assert all(any(reason.startswith("routed ETA") for reason in r.reasons) for r in ranked)
