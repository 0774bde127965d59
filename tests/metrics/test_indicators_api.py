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
                                                             "format": "csv"},
                                  headers=service.auth())
    assert by.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(by.text)))
    assert rows[0]["acuity"] == "2" and rows[0]["departed_in_time_num"] == "2"


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
