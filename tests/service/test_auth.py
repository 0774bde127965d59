"""Roles and bindings: 401 without a valid token, 403 outside one's rights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.auth import issue_token
from dispatch.domain import Role
from tests.conftest import Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


async def test_missing_forged_and_expired_tokens_get_401(service: Service) -> None:
    r = await service.client.get("/v1/calls")
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    forged = issue_token(secret="another-secret-that-is-long-enough-xx", issuer="dispatch",
                         subject="x", role=Role.ADMIN, now=datetime.now(UTC), ttl_s=60)
    r = await service.client.get("/v1/calls", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    expired = issue_token(secret=service.settings.jwt_secret, issuer="dispatch", subject="x",
                          role=Role.ADMIN, now=datetime.now(UTC) - timedelta(hours=2), ttl_s=60)
    r = await service.client.get("/v1/calls", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"][0]["reason"]


async def test_roles_are_checked(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    crew = service.auth(Role.CREW, vehicle_id="V0000")
    hospital = service.auth(Role.HOSPITAL, hospital_id="H1")
    for headers in (crew, hospital):
        r = await service.client.post("/v1/calls", json=call_body(*CENTRE), headers=headers)
        assert r.status_code == 403, r.text
    r = await service.client.post("/v1/admin/reference", json=city(), headers=service.auth())
    assert r.status_code == 403  # a dispatcher is not an admin


async def test_crew_moves_only_its_own_vehicle(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    crew = service.auth(Role.CREW, vehicle_id="V0000")
    now = datetime.now(UTC).isoformat()
    own = await service.client.post("/v1/vehicles/V0000/position",
                                    json={"lon": CENTRE[0], "lat": CENTRE[1], "at": now},
                                    headers=crew)
    assert own.status_code == 204
    other = await service.client.post("/v1/vehicles/V0001/position",
                                      json={"lon": CENTRE[0], "lat": CENTRE[1], "at": now},
                                      headers=crew)
    assert other.status_code == 403 and "V0001" in other.json()["detail"][0]["reason"]
    status = await service.client.post("/v1/vehicles/V0001/status",
                                       json={"status": "out_of_service"}, headers=crew)
    assert status.status_code == 403


async def test_hospital_reads_only_its_inbound_patients(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    # a chest-pain call goes to a PCI centre: H1 is the only one in the test city
    created = await service.client.post(
        "/v1/calls", json=call_body(*CENTRE, complaint="胸痛 chest pain, sweating",
                                    answers={"chest_pain": True, "age_years": 60}),
        headers=service.auth())
    call = created.json()
    assert call["destination_id"] == "H1", call
    mine = await service.client.get(f"/v1/calls/{call['id']}",
                                    headers=service.auth(Role.HOSPITAL, hospital_id="H1"))
    assert mine.status_code == 200
    theirs = await service.client.get(f"/v1/calls/{call['id']}",
                                      headers=service.auth(Role.HOSPITAL, hospital_id="H2"))
    assert theirs.status_code == 403
