"""The intake's ranking, computed the cheap way, is the reference ranking exactly: the
candidates' expected ETAs over the sample points (areas looked up together, the model's
factors once per point) and a ranking of only the units kept."""

from __future__ import annotations

import asyncio
import functools
import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from dispatch.cli import demo_collection
from dispatch.config import Settings
from dispatch.domain import VehicleKind
from dispatch.flows.candidates import uncertain_eta
from dispatch.geo.districts import DistrictIndex
from dispatch.geo.eta import EtaModel
from dispatch.geo.places import Places
from dispatch.geo.policy import RankingPolicy
from dispatch.geo.ranking import Candidate, Ranked, rank
from dispatch.geo.reasons import Because
from dispatch.geo.uncertainty import sample_points
from dispatch.routing import EtaModelTimes, StraightLineTimes, travel_times
from dispatch.routing.travel import ranks_by_prefix

NOW = datetime(2025, 6, 2, 1, 30, tzinfo=UTC)
KINDS = [VehicleKind.ALS, VehicleKind.BLS, VehicleKind.NET]


@functools.cache
def places() -> Places:
    features: list[dict[str, Any]] = demo_collection()["features"]  # type: ignore[assignment]
    return Places(districts=DistrictIndex.from_geojson(
        [f for f in features if f["properties"]["type"] == "district"]))


def reference(candidates: list[Candidate], lon: float, lat: float, radius_m: float,
              kinds: list[VehicleKind], model: EtaModel, top: int) -> list[Ranked]:
    """The ranking as first written: each unit's ETA to each sample point, one by one."""
    points = sample_points(lon, lat, radius_m)

    def expected(c: Candidate) -> float:
        return sum(model.eta_s(from_lon=c.lon, from_lat=c.lat, to_lon=x, to_lat=y,
                               area_type=places().area_type_at(x, y), at=NOW)
                   for x, y in points) / len(points)

    ranked = rank(candidates=candidates, lon=lon, lat=lat, kinds=kinds,
                  required_capabilities=frozenset(), eta=expected, now=NOW,
                  max_position_age_s=Settings().max_position_age_s, top=top)
    if radius_m >= 50.0:
        note = Because("location_uncertain", radius_m=radius_m, points=len(points))
        ranked = [Ranked(r.vehicle_id, r.kind, r.distance_m, r.eta_s, (*r.reasons, note),
                         r.stale) for r in ranked]
    return ranked


def random_case(rng: random.Random) -> tuple[list[Candidate], float, float, float,
                                              list[VehicleKind]]:
    lon, lat = rng.uniform(118.4, 119.2), rng.uniform(31.3, 32.6)
    candidates = [
        Candidate(vehicle_id=f"V{i:03d}", kind=rng.choice(KINDS),
                  lon=lon + rng.uniform(-0.2, 0.2), lat=lat + rng.uniform(-0.2, 0.2),
                  capabilities=frozenset(), crew_count=rng.choice([1, 2, 3]),
                  position_at=rng.choice([None, NOW - timedelta(seconds=rng.uniform(0, 400))]))
        for i in range(rng.randrange(0, 40))]
    radius = rng.choice([0.0, 20.0, 50.0, 400.0, 2_500.0, 9_000.0])
    kinds = rng.sample(KINDS, rng.randrange(1, 3))
    return candidates, lon, lat, radius, kinds


@pytest.mark.parametrize("model", [EtaModel.default(), EtaModel.default().calibrated([])])
def test_intake_ranking_is_the_reference_ranking(model: EtaModel) -> None:
    rng = random.Random(7)
    rt = SimpleNamespace(eta=SimpleNamespace(model=model))
    engine = EtaModelTimes(max_position_age_s=Settings().max_position_age_s)
    for _ in range(150):
        candidates, lon, lat, radius, kinds = random_case(rng)
        top = rng.choice([1, 5, 8, 32])
        where = uncertain_eta(rt=rt, call={"lon": lon, "lat": lat, "radius_m": radius},  # type: ignore[arg-type]
                              places=places(), now=NOW)
        got = asyncio.run(engine.rank(candidates=candidates, where=where, kinds=kinds,
                                      now=NOW, top=top))
        assert got == reference(candidates, lon, lat, radius, kinds, model, top)
        # the reasons' codes and values too, not only their English text
        want = reference(candidates, lon, lat, radius, kinds, model, top)
        assert [[getattr(x, "params", None) for x in r.reasons] for r in got] == \
            [[getattr(x, "params", None) for x in r.reasons] for r in want]


def test_ranking_fewer_is_the_first_of_ranking_more() -> None:
    rng = random.Random(8)
    rt = SimpleNamespace(eta=SimpleNamespace(model=EtaModel.default()))
    for engine in (EtaModelTimes(max_position_age_s=120.0),
                   StraightLineTimes(max_position_age_s=120.0)):
        assert ranks_by_prefix(engine)
        for _ in range(100):
            candidates, lon, lat, radius, kinds = random_case(rng)
            where = uncertain_eta(rt=rt, call={"lon": lon, "lat": lat, "radius_m": radius},  # type: ignore[arg-type]
                                  places=places(), now=NOW)
            few, many = (asyncio.run(engine.rank(candidates=candidates, where=where,
                                                 kinds=kinds, now=NOW, top=top))
                         for top in (5, rng.choice([8, 16, 32])))
            assert few == many[:5]


def test_the_routed_engine_ranks_its_whole_shortlist() -> None:
    routed = travel_times(Settings(osrm_url="http://127.0.0.1:9"))  # type: ignore[call-arg]
    try:
        assert not ranks_by_prefix(routed)
    finally:
        asyncio.run(routed.aclose())
    assert ranks_by_prefix(travel_times(Settings()))
    assert ranks_by_prefix(travel_times(
        Settings(ranking_policy=RankingPolicy.STRAIGHT)))  # type: ignore[call-arg]
