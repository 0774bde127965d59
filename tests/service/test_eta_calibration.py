"""ETA calibration from completed trips, through the API (real PostgreSQL and Redis).

Trips are made the way the service sees them: a call is taken and assigned, the crew reports
`en_route` and `on_scene` with controlled timestamps. Durations are k x the prior model's
travel time, so the fitted scale must come out as k: above 1 when crews are slower than the
prior, below 1 when faster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from dispatch.api.deps import get_now
from dispatch.app import create_app
from dispatch.domain import Role
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import EtaModel, band_of_hour
from tests.conftest import Service, drop_isolation, isolated_settings
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

# The service's clock, fixed for a test run; the background loop reads the real clock, so
# this stays close to it (inside the 90-day look-back).
NOW = datetime.now(UTC).replace(microsecond=0)
MODEL = EtaModel.default()
HOUR = MODEL.local_hour(NOW)
# the requests' clock: NOW, but for a crew status, reported when it happens
CLOCK = {"now": NOW}
# Vehicles 3.8 km apart on a line; each call 2.2 km north of one of them, so each call's
# nearest vehicle is its own.
VEHICLES = [(f"V{i}", CENTRE[0] - 0.08 + 0.04 * i, CENTRE[1] - 0.08) for i in range(5)]
SCENES = {vid: (lon, lat + 0.02) for vid, lon, lat in VEHICLES}


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[Service]:
    """An isolated service with the clock fixed at NOW."""
    settings = isolated_settings(**overrides)
    app = create_app(settings)
    app.dependency_overrides[get_now] = lambda: CLOCK["now"]
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as c:
                svc = Service(settings=settings, client=c, app=manager.app)
                await svc.load(city(vehicles=[(v, "als", lon, lat) for v, lon, lat in VEHICLES],
                                    hospitals=False))
                yield svc
    finally:
        await drop_isolation(settings)


def prior_s(vid: str) -> float:
    _, lon, lat = next(v for v in VEHICLES if v[0] == vid)
    d = haversine_m(lon, lat, *SCENES[vid])
    return MODEL.prior_travel_s(distance_m=d, area_type="urban", hour=HOUR)


async def status(svc: Service, vid: str, value: str, at: datetime) -> None:
    CLOCK["now"] = at  # reported when it happens: a status ahead of the clock is refused
    try:
        r = await svc.client.post(f"/v1/vehicles/{vid}/status",
                                  json={"status": value, "at": at.isoformat()},
                                  headers=svc.auth())
    finally:
        CLOCK["now"] = NOW
    assert r.status_code == 200, r.text


async def run_trip(svc: Service, n: int, vid: str,
                   duration_s: Callable[[str], float] | None) -> None:
    """Take a call at `vid`'s scene; the crew departs and (if a duration is given) arrives."""
    body = call_body(*SCENES[vid], number=f"1380000{n:04d}", now=NOW)
    r = await svc.client.post("/v1/calls", json=body, headers=svc.auth())
    assert r.status_code == 201, r.text
    assert [a["vehicle_id"] for a in r.json()["assignments"]] == [vid]
    departed = NOW + timedelta(seconds=40)
    await status(svc, vid, "en_route", departed)
    if duration_s is not None:
        await status(svc, vid, "on_scene", departed + timedelta(seconds=duration_s(vid)))
    await status(svc, vid, "available", departed + timedelta(hours=1))


async def fit(svc: Service) -> dict[str, Any]:
    r = await svc.client.post("/v1/admin/eta/calibrate", headers=svc.auth(Role.ADMIN))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize("k", [1.6, 0.7])
async def test_fitted_scale_follows_the_crews_real_travel_times(k: float) -> None:
    async with running(eta_recalibrate_s=0, eta_min_samples=3) as svc:
        assert (await fit(svc))["scales"] == []  # no trips yet: the prior stands
        for n, (vid, _, _) in enumerate(VEHICLES):
            await run_trip(svc, n, vid, lambda v: k * prior_s(v))
        # noise the fit must ignore: an impossible 5-second arrival, and a crew that never
        # pressed on-scene (no trip at all)
        await run_trip(svc, 10, "V0", lambda _v: 5.0)
        await run_trip(svc, 11, "V1", None)
        body = await fit(svc)
        assert body["trips"] == 6 and body["min_samples"] == 3
        cells = {(s["area_type"], s["band"]): s for s in body["scales"]}
        assert set(cells) == {("urban", "*"), ("urban", band_of_hour(HOUR))}
        for cell in cells.values():
            assert cell["samples"] == 5
            assert cell["scale"] == pytest.approx(k, rel=1e-6)
        # the model in use is the fitted one, and new recommendations use it
        model = (await svc.client.get("/v1/eta/model", headers=svc.auth())).json()
        assert model["scales"] == body["scales"]
        assert model["profiles"]["urban"]["circuity"] == MODEL.urban.circuity
        r = await svc.client.post("/v1/calls", json=call_body(*SCENES["V2"], number="139",
                                                               now=NOW), headers=svc.auth())
        assert r.status_code == 201, r.text
        [assignment] = r.json()["assignments"]
        assert assignment["eta_s"] == pytest.approx(k * prior_s("V2"), rel=1e-3)


async def test_too_few_trips_keep_the_prior() -> None:
    async with running(eta_recalibrate_s=0, eta_min_samples=3) as svc:
        for n, vid in enumerate(["V0", "V1"]):
            await run_trip(svc, n, vid, lambda v: 2.0 * prior_s(v))
        body = await fit(svc)
        assert body["trips"] == 2 and body["scales"] == []


async def test_the_background_task_recalibrates_on_its_own() -> None:
    async with running(eta_recalibrate_s=0.1, eta_min_samples=3) as svc:
        for n, (vid, _, _) in enumerate(VEHICLES[:3]):
            await run_trip(svc, n, vid, lambda v: 1.3 * prior_s(v))
        async with asyncio.timeout(10):
            while True:
                model = (await svc.client.get("/v1/eta/model", headers=svc.auth())).json()
                if model["scales"]:
                    break
                await asyncio.sleep(0.05)  # polling the API for the task's result
        assert [s["scale"] for s in model["scales"]] == [pytest.approx(1.3, rel=1e-6)] * 2


@pytest.mark.parametrize(("role", "path", "method"), [
    (Role.DISPATCHER, "/v1/admin/eta/calibrate", "POST"),
    (Role.CREW, "/v1/eta/model", "GET"),
    (Role.HOSPITAL, "/v1/eta/model", "GET"),
])
async def test_roles(role: Role, path: str, method: str) -> None:
    async with running(eta_recalibrate_s=0) as svc:
        binding = {"vehicle_id": "V0"} if role is Role.CREW else (
            {"hospital_id": "H1"} if role is Role.HOSPITAL else {})
        r = await svc.client.request(method, path, headers=svc.auth(role, **binding))
        assert r.status_code == 403, r.text
