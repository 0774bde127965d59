"""`GET /v1/indicators` and `/metrics` through the HTTP API on a real call chain."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.domain import Role
from tests.conftest import Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}


class _Clock:
    """The requests' clock: the wall clock, or a time a test sets."""

    at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)


CLOCK = _Clock()


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    async with running_service(clock=CLOCK) as s:
        yield s


async def _run_call(service: Service, *, turnout_s: float, now: datetime) -> str:
    """One call through the chain with controlled crew clocks; returns its id."""
    body = call_body(*CENTRE, answers=CHEST_PAIN, now=now)
    call = (await service.client.post("/v1/calls", json=body, headers=service.auth())).json()
    vehicle = call["assignments"][0]["vehicle_id"]
    crew = service.auth(Role.CREW, vehicle_id=vehicle)
    dispatched = next(e for e in (await service.client.get(
        f"/v1/calls/{call['id']}", headers=service.auth())).json()["timeline"]
        if e["kind"] == "dispatched")["occurred_at"]
    t0 = datetime.fromisoformat(dispatched)
    for status, offset in [("en_route", turnout_s), ("on_scene", turnout_s + 300),
                           ("available", turnout_s + 900)]:
        at = t0 + timedelta(seconds=offset)
        CLOCK.at = at  # the crew reports each status when it happens
        try:
            r = await service.client.post(f"/v1/vehicles/{vehicle}/status",
                                          json={"status": status, "at": at.isoformat()},
                                          headers=crew)
        finally:
            CLOCK.at = None
        assert r.status_code == 200, r.text
    return str(call["id"])


async def test_three_minute_departure_rate_from_the_api(service: Service) -> None:
    await service.load(city(n_vehicles=4))
    now = datetime.now(UTC)
    for turnout in (60, 170, 181, 240):  # two within 180 s, two not
        await _run_call(service, turnout_s=turnout, now=now)
    params = {"from": (now - timedelta(hours=1)).isoformat(),
              "to": (now + timedelta(hours=1)).isoformat()}
    r = await service.client.get("/v1/indicators", params=params, headers=service.auth())
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    assert total["calls"] == 4
    assert (total["departed_in_time_num"], total["departed_in_time_den"]) == (2, 4)
    assert total["departed_in_time_rate"] == 0.5
    # answered 5 s after the ring in call_body: every call within 10 s
    assert total["answered_in_time_rate"] == 1.0
    by = await service.client.get("/v1/indicators", params={**params, "by": "acuity",
                                                             "format": "csv", "lang": "en"},
                                  headers=service.auth())
    assert by.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(by.text.removeprefix("\ufeff"))))
    assert rows[0]["acuity"] == "II critical"
    assert rows[0]["3-minute departure rate: met"] == "2"


async def test_indicator_queries_refuse_bad_windows(service: Service) -> None:
    now = datetime.now(UTC).isoformat()
    r = await service.client.get("/v1/indicators", params={"from": now, "to": now},
                                 headers=service.auth())
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "to"
    r = await service.client.get("/v1/indicators", params={
        "from": now, "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "by": "planet"}, headers=service.auth())
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "by"
    r = await service.client.get("/v1/indicators", params={
        "from": now, "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "tz": "Mars/Olympus"}, headers=service.auth())
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "tz"
    r = await service.client.get("/v1/indicators", params={"from": now, "to": now},
                                 headers=service.auth(Role.HOSPITAL, hospital_id="H1"))
    assert r.status_code == 403


async def test_prometheus_exposition(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    await service.client.post("/v1/calls", json=call_body(*CENTRE), headers=service.auth())
    text = (await service.client.get("/metrics")).text
    assert 'dispatch_http_requests_total{method="POST",route="/v1/calls",status="201"} 1.0' in text
    assert 'dispatch_vehicles{district="D1",kind="als",status="available"} 1.0' in text
    assert 'dispatch_live_calls{status="assigned"} 1.0' in text
    assert "dispatch_http_request_seconds_bucket" in text


async def test_report_command_writes_the_page(service: Service, tmp_path: Path) -> None:
    await service.load(city(n_vehicles=2))
    now = datetime.now(UTC)
    await _run_call(service, turnout_s=90, now=now)
    env = {**os.environ, "DISPATCH_DATABASE_URL": service.settings.database_url or "",
           "DISPATCH_REDIS_URL": service.settings.redis_url or "",
           "DISPATCH_DB_SCHEMA": service.settings.db_schema, "MPLBACKEND": "Agg"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch.cli", "report",
        "--from", (now - timedelta(hours=1)).isoformat(),
        "--to", (now + timedelta(hours=1)).isoformat(), "--out", str(tmp_path / "r"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    page = (tmp_path / "r" / "index.html").read_text()
    assert "3" in page and "<table" in page
    assert list((tmp_path / "r").glob("*.png"))


def _window(now: datetime) -> dict[str, str]:
    return {"from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat()}


async def test_a_call_dispatched_moments_ago_is_not_yet_a_departure_failure(
    service: Service,
) -> None:
    """Two calls dispatched just now, one crew already rolling: the rate is 1 / 1, not
    1 / 2; the other call still has its 180 s."""
    await service.load(city(n_vehicles=2))
    now = datetime.now(UTC)
    calls = []
    for number in ("13800000001", "13800000002"):
        r = await service.client.post(
            "/v1/calls", json=call_body(*CENTRE, answers=CHEST_PAIN, number=number, now=now),
            headers=service.auth())
        assert r.status_code == 201, r.text
        calls.append(r.json())
    vehicle = calls[0]["assignments"][0]["vehicle_id"]
    r = await service.client.post(f"/v1/vehicles/{vehicle}/status", json={"status": "en_route"},
                                  headers=service.auth(Role.CREW, vehicle_id=vehicle))
    assert r.status_code == 200, r.text
    assert calls[1]["assignments"], calls[1]
    r = await service.client.get("/v1/indicators", params=_window(now), headers=service.auth())
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    assert total["calls"] == 2
    assert (total["departed_in_time_num"], total["departed_in_time_den"]) == (1, 1)
    assert r.json()["config"]["as_of"] is not None


# A screened dialysis transfer: non-emergency, booked (tests/service/test_bookings.py).
SCREENED = {"booking_reason": "dialysis", "red_flag_new_symptoms": False,
            "red_flag_breathing": False, "red_flag_chest_pain": False,
            "red_flag_confusion": False, "red_flag_bleeding": False,
            "red_flag_needs_monitoring": False}


async def test_a_booking_whose_window_is_still_open_is_not_a_late_pickup(
    service: Service,
) -> None:
    await service.load(city(vehicles=[("N1", "net", CENTRE[0], CENTRE[1])]))
    now = datetime.now(UTC)
    body = call_body(*CENTRE, answers=SCREENED, number="13500000000", now=now)
    start = now + timedelta(hours=3)
    body["booking"] = {"window_start": start.isoformat(),
                       "window_end": (start + timedelta(minutes=30)).isoformat(),
                       "dest_lon": CENTRE[0] + 0.05, "dest_lat": CENTRE[1]}
    r = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert r.status_code == 201, r.text
    assert r.json()["transport_class"] == "non_emergency"
    r = await service.client.get("/v1/indicators", params=_window(now), headers=service.auth())
    total = r.json()["total"]
    assert total["calls"] == 1
    assert (total["pickup_on_time_num"], total["pickup_on_time_den"]) == (0, 0)


# Stroke signs east of the centre: the nearest thrombolysis centre, H2 (as in
# tests/handover/test_ws_retriage.py); the crew's ECG then shows a STEMI: H1.
STROKE_SIGNS = {"age_years": 60, "conscious": True, "breathing": True, "facial_droop": True,
                "arm_weakness": True}


async def test_the_prealert_lead_counts_from_the_alert_to_the_centre_reached(
    service: Service,
) -> None:
    await service.load(city(n_vehicles=2))
    now = datetime.now(UTC)
    body = call_body(CENTRE[0] + 0.03, CENTRE[1], answers=STROKE_SIGNS, now=now)
    call = (await service.client.post("/v1/calls", json=body, headers=service.auth())).json()
    assert call["destination_id"] == "H2", call["destination_id"]
    vehicle = call["assignments"][0]["vehicle_id"]
    crew = service.auth(Role.CREW, vehicle_id=vehicle)
    # the two alerts a minute apart, and the arrival after them: the requests' clock
    CLOCK.at = now + timedelta(seconds=60)
    try:
        r = await service.client.post(
            f"/v1/calls/{call['id']}/triage",
            json={"findings": {"ecg": {"rhythm": "sinus", "stemi": True,
                                       "st_elevation_leads": ["V2", "V3", "V4"]}}},
            headers=crew)
        assert r.status_code == 200, r.text
        assert r.json()["destination_id"] == "H1"
        CLOCK.at = now + timedelta(seconds=120)
        for status in ("en_route", "on_scene", "transporting", "at_hospital"):
            r = await service.client.post(f"/v1/vehicles/{vehicle}/status",
                                          json={"status": status}, headers=crew)
            assert r.status_code == 200, r.text
    finally:
        CLOCK.at = None
    timeline = (await service.client.get(f"/v1/calls/{call['id']}",
                                         headers=service.auth())).json()["timeline"]
    alerts = {e["data"]["hospital_id"]: datetime.fromisoformat(e["occurred_at"])
              for e in timeline if e["kind"] == "centre_alerted"}
    arrival = min(datetime.fromisoformat(e["occurred_at"]) for e in timeline
                  if e["kind"] == "at_destination")
    assert set(alerts) == {"H1", "H2"} and alerts["H2"] < alerts["H1"] < arrival
    assert alerts["H1"] == now + timedelta(seconds=60)  # at the re-triage
    r = await service.client.get("/v1/indicators", params=_window(now), headers=service.auth())
    total = r.json()["total"]
    assert (total["prealerted_num"], total["prealerted_den"]) == (1, 1)
    assert total["prealert_lead_s_p50"] == pytest.approx(
        (arrival - alerts["H1"]).total_seconds(), abs=1e-6)
