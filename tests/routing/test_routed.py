"""Re-ranking the shortlist by routed durations, against a fake OSRM server on port 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dispatch.domain import VehicleKind
from dispatch.errors import GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import EtaModel
from dispatch.geo.ranking import Candidate, Ranked, rank
from dispatch.routing.routed import rerank_by_routes
from tests.routing.fake_osrm import FakeOsrm

NOW = datetime(2025, 6, 2, 2, 30, tzinfo=UTC)
SCENE = (118.78, 32.04)
MODEL = EtaModel.default()
KINDS = (VehicleKind.ALS, VehicleKind.BLS)


def cand(vid: str, lon: float, lat: float, kind: VehicleKind = VehicleKind.ALS) -> Candidate:
    return Candidate(vid, kind, lon, lat, frozenset(), NOW - timedelta(seconds=10), 2)


def model_eta(c: Candidate) -> float:
    return MODEL.eta_s(from_lon=c.lon, from_lat=c.lat, to_lon=SCENE[0], to_lat=SCENE[1],
                       area_type="urban", at=NOW)


def first_ranking(cands: list[Candidate]) -> list[Ranked]:
    return rank(candidates=cands, lon=SCENE[0], lat=SCENE[1], kinds=KINDS,
                required_capabilities=frozenset(), eta=model_eta, now=NOW, top=5)


def fake_duration(c: Candidate) -> float:
    """What FakeOsrm answers: straight line at 10 m/s, rounded to 0.1 s."""
    return round(haversine_m(c.lon, c.lat, *SCENE) / 10.0, 1)


# The fake routes at 10 m/s straight line; the model's urban day speed (30 km/h over a 1.4
# circuity) is ~6 m/s straight line. Same order by distance, different gaps in seconds.
CANDS = [
    cand("a", SCENE[0] + 0.010, SCENE[1]),
    cand("b", SCENE[0] + 0.020, SCENE[1]),
    cand("c", SCENE[0] - 0.030, SCENE[1]),
    cand("d", SCENE[0] + 0.040, SCENE[1]),
    cand("e", SCENE[0] - 0.050, SCENE[1]),
]


async def test_shortlist_gets_routed_etas_and_the_tail_keeps_model_order(osrm: FakeOsrm) -> None:
    ranked = first_ranking(CANDS)
    async with httpx.AsyncClient() as client:
        got = await rerank_by_routes(ranked=ranked, candidates=CANDS, lon=SCENE[0], lat=SCENE[1],
                                     kinds=KINDS, now=NOW, client=client,
                                     base_url=osrm.base + "/ok", shortlist=3)
    assert len(osrm.paths) == 1  # one table request for the whole shortlist
    assert [r.vehicle_id for r in got] == ["a", "b", "c", "d", "e"]
    by_id = {c.vehicle_id: c for c in CANDS}
    for r in got[:3]:
        assert r.eta_s == pytest.approx(fake_duration(by_id[r.vehicle_id]))
        assert r.reasons[-1].startswith("routed ETA")
    assert got[3:] == ranked[3:]


async def test_routing_reorders_across_the_kind_margin(osrm: FakeOsrm) -> None:
    # BLS 0.3 km, ALS 1.3 km away. Model: 50 s vs 218 s, the BLS is more than the 120 s
    # kind margin sooner, so it goes first. Routed: 30 s vs 130 s, only 100 s sooner, so the
    # preferred ALS goes first.
    cands = [cand("als", SCENE[0] + 1.3 / 94.3, SCENE[1]),
             cand("bls", SCENE[0] + 0.3 / 94.3, SCENE[1], VehicleKind.BLS)]
    ranked = first_ranking(cands)
    assert [r.vehicle_id for r in ranked] == ["bls", "als"]
    assert ranked[1].eta_s - ranked[0].eta_s == pytest.approx(168, abs=1)
    async with httpx.AsyncClient() as client:
        got = await rerank_by_routes(ranked=ranked, candidates=cands, lon=SCENE[0], lat=SCENE[1],
                                     kinds=KINDS, now=NOW, client=client,
                                     base_url=osrm.base + "/ok", shortlist=2)
    assert [r.vehicle_id for r in got] == ["als", "bls"]
    assert [round(r.eta_s) for r in got] == [130, 30]
    assert got[0].reasons[0].startswith("#1 by ETA 130 s")
    assert got[1].reasons[1].endswith("(ranked as if 120 s later)")


@pytest.mark.parametrize("mode", ["refuse", "badjson", "nosegment", "short"])
async def test_any_routing_failure_falls_back_to_the_model(osrm: FakeOsrm, mode: str) -> None:
    ranked = first_ranking(CANDS)
    async with httpx.AsyncClient() as client:
        got = await rerank_by_routes(ranked=ranked, candidates=CANDS, lon=SCENE[0], lat=SCENE[1],
                                     kinds=KINDS, now=NOW, client=client,
                                     base_url=f"{osrm.base}/{mode}", shortlist=3)
    assert [(r.vehicle_id, r.eta_s) for r in got] == [(r.vehicle_id, r.eta_s) for r in ranked]
    assert all(r.reasons[-1].startswith("routing unavailable") for r in got[:3])
    assert got[3:] == ranked[3:]


async def test_timeout_falls_back_to_the_model(osrm: FakeOsrm) -> None:
    ranked = first_ranking(CANDS)
    async with httpx.AsyncClient() as client:
        got = await rerank_by_routes(ranked=ranked, candidates=CANDS, lon=SCENE[0], lat=SCENE[1],
                                     kinds=KINDS, now=NOW, client=client,
                                     base_url=osrm.base + "/slow", timeout_s=0.05)
    assert [r.eta_s for r in got] == [r.eta_s for r in ranked]
    assert "timed out" in got[0].reasons[-1]


async def test_unroutable_vehicle_keeps_its_model_eta(osrm: FakeOsrm) -> None:
    island = cand("island", 119.6, 32.04)  # the fake has no road east of 119.5
    cands = [*CANDS[:2], island]
    ranked = first_ranking(cands)
    async with httpx.AsyncClient() as client:
        got = await rerank_by_routes(ranked=ranked, candidates=cands, lon=SCENE[0], lat=SCENE[1],
                                     kinds=KINDS, now=NOW, client=client,
                                     base_url=osrm.base + "/ok", shortlist=3)
    [isl] = [r for r in got if r.vehicle_id == "island"]
    assert isl.eta_s == pytest.approx(model_eta(island))
    assert isl.reasons[-1].startswith("no route found")


async def test_empty_and_bad_input() -> None:
    async with httpx.AsyncClient() as client:
        assert await rerank_by_routes(ranked=[], candidates=[], lon=SCENE[0], lat=SCENE[1],
                                      kinds=KINDS, now=NOW, client=client,
                                      base_url="http://127.0.0.1:9") == []
        with pytest.raises(GeoError):
            await rerank_by_routes(ranked=first_ranking(CANDS), candidates=CANDS[:1],
                                   lon=SCENE[0], lat=SCENE[1], kinds=KINDS, now=NOW,
                                   client=client, base_url="http://127.0.0.1:9")
        with pytest.raises(GeoError):
            await rerank_by_routes(ranked=first_ranking(CANDS), candidates=CANDS, lon=SCENE[0],
                                   lat=SCENE[1], kinds=KINDS, now=NOW, client=client,
                                   base_url="http://127.0.0.1:9", shortlist=0)


async def test_location_uncertainty_is_added_to_routed_times(osrm: FakeOsrm) -> None:
    """Routes go to the circle's centre; what the doubt about the caller costs each unit
    (dispatch.geo.uncertainty) is added, so it can reorder across the kind margin."""
    bls, als = (cand("bls", SCENE[0] + 0.010, SCENE[1], VehicleKind.BLS),
                cand("als", SCENE[0] - 0.028, SCENE[1]))
    ranked = first_ranking([bls, als])
    async with httpx.AsyncClient() as client:
        precise = await rerank_by_routes(
            ranked=ranked, candidates=[bls, als], lon=SCENE[0], lat=SCENE[1], kinds=KINDS,
            now=NOW, client=client, base_url=osrm.base + "/ok")
        vague = await rerank_by_routes(
            ranked=ranked, candidates=[bls, als], lon=SCENE[0], lat=SCENE[1], kinds=KINDS,
            now=NOW, client=client, base_url=osrm.base + "/ok",
            uncertainty_s={"bls": 1_400.0, "als": 1_300.0})
    assert [r.vehicle_id for r in precise] == ["bls", "als"]  # BLS ~170 s sooner routed
    assert [r.vehicle_id for r in vague] == ["als", "bls"]  # ~70 s apart: under the margin
    assert vague[0].eta_s == pytest.approx(fake_duration(als) + 1_300.0)
