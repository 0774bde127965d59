"""Latitudes beyond Redis GEO's band (±85.05112878°) are valid WGS-84: a call there is
stored and queued (out of area, no search), a vehicle there stays available; never a 503,
which would tell a client to retry input that can never succeed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dispatch.domain import Role
from tests.conftest import Service
from tests.service.calls import call_body
from tests.service.city import city


@pytest.mark.parametrize("lat", [89.5, -87.0, 85.06])
async def test_call_beyond_geo_band_is_stored_and_queued(service: Service, lat: float) -> None:
    await service.load(city(n_vehicles=2))
    r = await service.client.post("/v1/calls", json=call_body(11.9, lat),
                                  headers=service.auth())
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["status"] == "queued"
    assert call["recommendations"] == []
    stored = await service.client.get(f"/v1/calls/{call['id']}", headers=service.auth())
    assert stored.status_code == 200 and stored.json()["status"] == "queued"
    # the nearest search at such a point answers "nothing" too
    r = await service.client.get("/v1/vehicles/nearest/search",
                                 params={"lon": 11.9, "lat": lat}, headers=service.auth())
    assert r.status_code == 200 and r.json() == {"vehicles": []}


async def test_vehicle_beyond_geo_band_stays_available(service: Service) -> None:
    await service.load(city(vehicles=[("POLAR", "als", 10.0, 88.0)]))
    r = await service.client.post("/v1/vehicles/POLAR/position", json={
        "lon": 10.1, "lat": 89.9, "at": datetime.now(UTC).isoformat()},
        headers=service.auth(Role.CREW, vehicle_id="POLAR"))
    assert r.status_code == 204, r.text
    r = await service.client.get("/v1/vehicles/POLAR", headers=service.auth())
    assert r.status_code == 200 and r.json()["status"] == "available"
    # a call near it (inside the band) still finds it, ranked from its true position
    r = await service.client.post("/v1/calls", json=call_body(10.1, 85.0),
                                  headers=service.auth())
    assert r.status_code == 201, r.text
