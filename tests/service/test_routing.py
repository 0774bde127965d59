"""With an OSRM-compatible table service configured, the shortlist is re-ranked by routed
travel times (Resgrid practice: route only the top few)."""

from __future__ import annotations

from tests.conftest import running_service
from tests.routing.fake_osrm import FakeOsrm
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
# Level II prefers ALS unless BLS arrives 120 s sooner. BLS 1.0 km away, ALS 2.1 km: the
# model (~6 m/s crow-fly in town) says BLS is ~180 s sooner; the fake router (10 m/s)
# says only ~110 s, so routed, the ALS crew goes.
FLEET = [("B1", "bls", CENTRE[0] + 0.0106, CENTRE[1]),
         ("A1", "als", CENTRE[0] - 0.0223, CENTRE[1])]


async def test_model_alone_sends_the_bls_unit() -> None:
    async with running_service() as service:
        await service.load(city(vehicles=FLEET))
        r = await service.client.post("/v1/calls", json=call_body(*CENTRE, answers=CHEST_PAIN),
                                      headers=service.auth())
        assert r.json()["assignments"][0]["vehicle_id"] == "B1"


async def test_routed_durations_reorder_the_shortlist(osrm: FakeOsrm) -> None:
    async with running_service(osrm_url=f"{osrm.base}/route") as service:
        await service.load(city(vehicles=FLEET))
        r = await service.client.post("/v1/calls", json=call_body(*CENTRE, answers=CHEST_PAIN),
                                      headers=service.auth())
        assignment = r.json()["assignments"][0]
        assert assignment["vehicle_id"] == "A1"
        assert osrm.paths and "/table/v1/driving/" in osrm.paths[0]


async def test_router_down_falls_back_to_the_model(osrm: FakeOsrm) -> None:
    async with running_service(osrm_url=f"{osrm.base}/refuse") as service:
        await service.load(city(vehicles=FLEET))
        r = await service.client.post("/v1/calls", json=call_body(*CENTRE, answers=CHEST_PAIN),
                                      headers=service.auth())
        assert r.status_code == 201
        assert r.json()["assignments"][0]["vehicle_id"] == "B1"
