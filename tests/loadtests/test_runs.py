"""A short run of each mode against real local instances (PostgreSQL, Redis, uvicorn).

Small volumes: these check that the harness drives the service end to end, that its figures
agree with what it recorded, and that the invariants hold; they are not performance runs, so
the latency targets are set loose enough for a busy CI machine.
"""

from __future__ import annotations

import argparse
import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtests import bench_handover
from loadtests.cityday import DayConfig, run_day, run_policies
from loadtests.client import Api, Tokens
from loadtests.figures import percentile
from loadtests.intake import IntakeConfig, run_intake, run_surge
from loadtests.local import local_service
from loadtests.sweep import sweep_local
from tests.service.calls import call_body
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(300)


async def _crew_links(url: str, expected: int) -> bool:
    """Whether the instance at `url` has `expected` crew websocket subscriptions (its
    Prometheus gauge)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    return expected == sum(int(sample.value) for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "dispatch_websocket_subscribers"
               and sample.labels.get("channel") == "vehicle")


async def test_intake_short_run() -> None:
    async with local_service() as svc:
        api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret))
        try:
            f = await run_intake(api=api, config=IntakeConfig(rate=10, seconds=3, hold_s=0.5,
                                                              p99_ms=60_000,
                                                              min_rate_share=0.5),
                                 show_progress=False)
        finally:
            await api.aclose()
    assert f["calls_sent"] == 30
    assert f["invariants"] == {"acknowledged": 30, "ok": True, "lost": 0, "duplicated": 0,
                               "double_assignments": 0, "undelivered": 0, "unacknowledged": 0,
                               "examples": {}}
    assert f["outcomes"]["assigned"] + f["outcomes"].get("queued", 0) == 30
    intake_ms = f["_samples"]["intake_ms"]
    assert f["intake_latency_ms"]["n"] == 30
    assert f["intake_latency_ms"]["p99"] == percentile(intake_ms, 99)
    assert f["intake_latency_ms"]["max"] == max(intake_ms)
    assert f["never_assigned"] == 0
    assert f["request_to_assignment_ms"]["n"] == 30
    assert f["crew_status_latency_ms"]["n"] == f["outcomes"]["assigned"]
    assert sum(f["throughput_per_s"]) == pytest.approx(30)
    assert f["passed"] is True


async def test_a_second_intake_run_against_the_same_service_measures_only_its_calls() -> None:
    """A live service keeps the calls of earlier runs: a second run sends fresh keys and
    numbers and is judged on its own calls only; a run sent with an earlier run's keys is
    not answered with this run's calls and fails instead of reporting figures."""
    config = IntakeConfig(rate=10, seconds=2, hold_s=0.3, p99_ms=60_000, min_rate_share=0.5)
    async with local_service() as svc:
        api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret))
        try:
            first = await run_intake(api=api, config=config, show_progress=False)
            api.samples.clear()
            api.errors.clear()
            second = await run_intake(api=api, config=config, show_progress=False)
            api.samples.clear()
            api.errors.clear()
            replayed = await run_intake(api=api, config=config, show_progress=False,
                                        run_id=first.get("run_id"))
        finally:
            await api.aclose()
    for f in (first, second):
        assert f["passed"] is True, f["targets"]
        assert f["invariants"]["acknowledged"] == 20 and f["outcomes"].get("error", 0) == 0
        assert f["request_to_assignment_ms"]["n"] == 20
        assert f["request_to_assignment_ms"]["p50"] >= 0
    assert first["run_id"] != second["run_id"]
    # The earlier run's keys with new bodies: the service refuses them (422), and the run
    # measures nothing and fails rather than reporting the earlier calls' figures.
    assert replayed["passed"] is False
    assert replayed["outcomes"]["error"] == 20 and replayed["intake_latency_ms"]["n"] == 0
    assert replayed["errors"] == {"intake:422": 20}
    assert replayed["request_to_assignment_ms"]["n"] == 0
    assert replayed["invariants"]["acknowledged"] == 0


async def test_surge_stops_at_the_first_broken_step() -> None:
    async with local_service() as svc:
        api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret))
        try:
            # An unreachable p99 target: the first step breaks and nothing is sustained.
            broken = await run_surge(api=api, config=IntakeConfig(
                rate=5, seconds=1, p99_ms=0.001, positions_per_s=5), show_progress=False)
            ok = await run_surge(api=api, config=IntakeConfig(
                rate=5, seconds=1, p99_ms=60_000, min_rate_share=0.3, positions_per_s=5,
                seed=2), factor=2.0, max_steps=2, show_progress=False)
        finally:
            await api.aclose()
    assert len(broken["steps"]) == 1 and broken["highest_sustained_calls_per_s"] is None
    assert broken["steps"][0]["positions_sent"] == 5
    assert [s["offered_calls_per_s"] for s in ok["steps"]] == [5, 10]
    assert ok["highest_sustained_calls_per_s"] == 10
    assert all(s["invariants"]["ok"] for s in ok["steps"] + broken["steps"])


async def test_a_sweep_runs_each_rate_on_one_service_and_meters_every_part() -> None:
    """One row per rate with the CPU of every part per call, the read-back's CPU apart
    from the run's, the invariants held, and the highest rate that met the targets; the
    warm-up's calls in no row."""
    result = await sweep_local(config=IntakeConfig(rate=4, seconds=2, hold_s=0.3,
                                                   p99_ms=60_000, min_rate_share=0.5),
                               rates=[4.0, 8.0], warmup_s=1.0)
    assert [r["offered_per_s"] for r in result["rows"]] == [4.0, 8.0]
    assert result["warmup_s"] == 1.0
    for r in result["rows"]:
        assert r["calls"] == 2 * r["offered_per_s"] and r["invariants_ok"], r
        assert r["cpu_ms_per_call"]["harness"] > 0 and r["verify_cpu_ms_per_call"] > 0
        assert set(r["cpu_ms_per_call"]) == {"service", "pg", "pg_cluster", "redis",
                                             "harness"}
        assert r["slow"]["calls"] == r["calls"]
    assert result["highest_rate_meeting_targets"] == 8.0 and result["passed"]


async def test_city_day_short_run_under_two_policies() -> None:
    config = DayConfig(calls=24, compress=600.0, seed=3, start_hour=9.0, hours=1.0,
                       drain_wall_s=30.0, intake_p99_ms=60_000, crew_p99_ms=60_000,
                       departure_rate_min=0.0)
    results = await run_policies(config=config, policies=["straight", "eta"], url=None,
                                 token=None, jwt_secret=None, start_local=True, instances=2,
                                 show_progress=False)
    assert set(results) == {"straight", "eta"}
    for f in results.values():
        assert f["calls_acknowledged"] == 24
        inv = f["invariants"]
        assert (inv["lost"], inv["duplicated"], inv["double_assignments"]) == (0, 0, 0)
        assert f["calls_dispatched"] >= 20
        assert f["missions_completed"] >= 1
        # figures agree with their parts
        by_district = f["response_time_by_district_s"]
        assert sum(d["n"] for d in by_district.values()) == f["response_time_s"]["n"]
        assert f["response_time_s"]["n"] == f["calls_reached"]
        rate = f["departure_rate_3min"]
        assert rate is not None and 0.0 <= rate <= 1.0
        assert all(r is None or 0 <= r <= 1 for r in f["departure_rate_3min_by_hour"])
        assert f["departure_rate_3min_by_hour"][9] is not None or \
            f["departure_rate_3min_by_hour"][10] is not None
        assert f["requests"]["crew_status"] > 0 and f["requests"]["crew_position"] > 0
        # crews and screens on the websockets; the listing read back every call once
        ws = f["handover_ws"]
        assert (ws["crew_links"], ws["screens"]) == (112, 11)
        assert inv["undelivered"] == 0 and inv["unacknowledged"] == 0
        assert ws["vitals_shown"] >= ws["vitals_acked_for_a_screen"]
        assert f["read_back"]["listed"] == 24 and f["read_back"]["timelines_read"] == 24
        assert f["crew_message_latency_ms"]["n"] == sum(
            f["requests"][k] for k in ("crew_status", "crew_position", "crew_vitals")) - sum(
            v for k, v in f["errors"].items() if k.startswith(("crew_status", "crew_position",
                                                                "crew_vitals")))
        assert f["service"]["DISPATCH_RANKING_POLICY"] in ("straight", "eta")
        assert f["passed"] is True
    # ED screens took part: pre-alerts acknowledged, handovers declared and seen by crews
    screens = [f["handover_ws"] for f in results.values()]
    assert sum(w.get("prealerts_acknowledged", 0) for w in screens) >= 1
    assert sum(w.get("handovers_declared_by_screen", 0) for w in screens) >= 1
    assert sum(w.get("handovers_seen_by_crew", 0) for w in screens) >= 1
    # same seed, same day: the same calls under both policies
    assert results["straight"]["calls_planned"] == results["eta"]["calls_planned"]


async def test_city_days_against_a_live_service_touch_only_their_own_calls() -> None:
    """Two days played on one service that also takes a call of its own during the first:
    that call's crew is left to it (never cleared by the harness), and the second day's
    read-back does not count the first day's calls as duplicates of its own."""
    config = DayConfig(calls=10, compress=600.0, seed=3, start_hour=9.0, hours=1.0,
                       drain_wall_s=20.0, intake_p99_ms=60_000, crew_p99_ms=60_000,
                       departure_rate_min=0.0)
    async with local_service() as svc:
        api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret))
        try:
            city = await api.city()
            day = asyncio.create_task(run_day(api=api, config=config, run_tag="first",
                                              show_progress=False))
            # the day runs: every vehicle's crew is on its link
            await eventually(lambda: _crew_links(svc.urls[0], len(city.vehicles)),
                             within_s=60.0, what=f"{len(city.vehicles)} crew links")
            station = next(iter(city.stations.values()))
            body = call_body(station.lon, station.lat, number="13812345678")
            other = await api.request("POST", "/v1/calls", label="other", body=body)
            assert other is not None and other.status_code == 201, other
            other_call = other.json()
            assert other_call["assignments"], other_call
            first = await day
            second = await run_day(api=api, config=config, run_tag="second",
                                   show_progress=False)
            after = await api.request("GET", f"/v1/calls/{other_call['id']}", label="other")
        finally:
            await api.aclose()
    for f in (first, second):
        inv = f["invariants"]
        assert (inv["lost"], inv["duplicated"], inv["double_assignments"]) == (0, 0, 0), inv
        assert f["calls_acknowledged"] == 10 and f["read_back"]["timelines_read"] == 10
    assert first["handover_ws"]["missions_of_unknown_calls"] >= 1
    assert after is not None and after.status_code == 200
    view = after.json()
    assert view["status"] == "assigned"
    assert not [e for e in view["timeline"] if e["kind"] in ("departed", "cleared")]


async def test_handover_short_run_delivers_every_vitals_frame_to_every_screen() -> None:
    args = argparse.Namespace(crews=6, hospitals=3, screens=2, consoles=1, seconds=2.0,
                              ramp=0.5, seed=7, ws_deflate=None)
    async with local_service(instances=2) as svc:
        f = await bench_handover.bench(urls=list(svc.urls), secret=svc.jwt_secret, args=args)
    assert (f["crews"], f["centres"], f["errors"]) == (6, 3, 0)
    assert f["crew_messages_sent"] >= 6 * 2  # a position and a vitals frame per crew a second
    # every measured vitals frame reached both screens of its centre, each once
    assert f["vitals_expected"] == f["crew_messages_sent"] // 2 * 2
    assert f["vitals_delivered"] == f["vitals_expected"]
    assert f["delivered_share"] == 1.0
    assert f["acked"] >= f["crew_messages_sent"]
    assert f["end_to_end_ms"]["p50"] is not None
    assert f["console_position_batches"] >= 1
    # the instances it measures are found among the processes (children of this one)
    assert f["service_cpu_s"] > 0
    assert bench_handover._stores_cpu_s()["postgres"] > 0  # the tests' server has run
