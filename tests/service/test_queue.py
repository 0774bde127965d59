"""The queue: with nothing suitable free a call waits, and a clearing vehicle takes the
most urgent call first, then the oldest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dispatch.domain import Role
from tests.conftest import Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

ARREST = {"conscious": False, "breathing": False}  # level I
CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}  # II
MINOR = {"conscious": True, "breathing": True, "breathing_normally": True, "age_years": 30}  # III


async def _call(service: Service, answers: dict[str, Any], minutes_ago: float,
                complaint: str = "") -> dict[str, Any]:
    body = call_body(*CENTRE, answers=answers, complaint=complaint,
                     now=datetime.now(UTC) - timedelta(minutes=minutes_ago))
    r = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert r.status_code == 201, r.text
    return r.json()


async def test_clearing_vehicle_takes_acuity_then_age(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", CENTRE[0] + 0.01, CENTRE[1])]))
    first = await _call(service, MINOR, 30, "vomited twice")
    assert first["status"] == "assigned"
    a = await _call(service, MINOR, 20, "vomited twice")
    b = await _call(service, CHEST_PAIN, 15)
    c = await _call(service, ARREST, 10)
    d = await _call(service, CHEST_PAIN, 5)
    assert [x["acuity"] for x in (a, b, c, d)] == [3, 2, 1, 2]
    assert all(x["status"] == "queued" for x in (a, b, c, d))
    queue = (await service.client.get("/v1/calls", params={"status": "queued"},
                                      headers=service.auth())).json()["calls"]
    assert [q["id"] for q in queue] == [c["id"], b["id"], d["id"], a["id"]]

    crew = service.auth(Role.CREW, vehicle_id="A1")
    served = []
    held = first["id"]
    for _ in range(4):
        # each clearing names its call: moments after the queue gave the vehicle its next
        # call, an unnamed one would be taken as a repeat of the clearing before
        r = await service.client.post("/v1/vehicles/A1/status",
                                      json={"status": "available", "call_id": held},
                                      headers=crew)
        assert r.status_code == 200, r.text
        vehicle = (await service.client.get("/v1/vehicles/A1", headers=crew)).json()
        held = vehicle["call_id"]
        served.append(held)
    assert served == [c["id"], b["id"], d["id"], a["id"]]
    got = (await service.client.get(f"/v1/calls/{c['id']}", headers=service.auth())).json()
    dispatched = [e for e in got["timeline"] if e["kind"] == "dispatched"]
    assert dispatched and dispatched[0]["data"]["by"] == "queue"


async def test_emergency_and_non_emergency_fleets_never_mix(service: Service) -> None:
    await service.load(city(vehicles=[("N1", "net", CENTRE[0], CENTRE[1])]))
    emergency = await _call(service, ARREST, 1)
    assert emergency["status"] == "queued"  # the transport vehicle next door is not sent
    booking = call_body(*CENTRE, answers={
        "booking_reason": "dialysis", "red_flag_new_symptoms": False,
        "red_flag_breathing": False, "red_flag_chest_pain": False,
        "red_flag_confusion": False, "red_flag_bleeding": False,
        "red_flag_needs_monitoring": False})
    r = await service.client.post("/v1/calls", json=booking, headers=service.auth())
    transfer = r.json()
    assert transfer["transport_class"] == "non_emergency", transfer["triage"]
    assert transfer["assignments"][0]["vehicle_id"] == "N1"
    # and a dispatcher cannot force the transport vehicle onto the emergency
    r = await service.client.post(f"/v1/calls/{emergency['id']}/dispatch",
                                  json={"vehicle_id": "N1"}, headers=service.auth())
    assert r.status_code == 409 and r.json()["detail"][0]["field"] == "vehicle_id"


async def test_dispatcher_override_frees_the_first_vehicle(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", CENTRE[0] + 0.01, CENTRE[1]),
                                      ("A2", "als", CENTRE[0] + 0.05, CENTRE[1])]))
    call = await _call(service, CHEST_PAIN, 1)
    assert call["assignments"][0]["vehicle_id"] == "A1"
    r = await service.client.post(f"/v1/calls/{call['id']}/dispatch",
                                  json={"vehicle_id": "A2", "reason": "A1 crew on break"},
                                  headers=service.auth())
    assert r.status_code == 200, r.text
    assert [a["vehicle_id"] for a in r.json()["assignments"]] == ["A2"]
    a1 = (await service.client.get("/v1/vehicles/A1", headers=service.auth())).json()
    assert a1["status"] == "available" and a1["call_id"] is None
    got = (await service.client.get(f"/v1/calls/{call['id']}", headers=service.auth())).json()
    assert "unassigned" in [e["kind"] for e in got["timeline"]]


async def test_cancel_frees_the_vehicle_for_the_queue(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", CENTRE[0], CENTRE[1])]))
    first = await _call(service, MINOR, 3)
    waiting = await _call(service, CHEST_PAIN, 2)
    assert waiting["status"] == "queued"
    r = await service.client.post(f"/v1/calls/{first['id']}/cancel",
                                  json={"reason": "caller says not needed"},
                                  headers=service.auth())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    got = (await service.client.get(f"/v1/calls/{waiting['id']}", headers=service.auth())).json()
    assert got["status"] == "assigned" and got["assignments"][0]["vehicle_id"] == "A1"


NON_URGENT = {"conscious": True, "breathing": True, "breathing_normally": True,
              "age_years": 35, "chest_pain": False, "severe_pain": False}  # level IV


async def test_level_iv_never_takes_the_districts_last_vehicle(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", CENTRE[0], CENTRE[1])]))
    minor = await _call(service, NON_URGENT, 2)
    assert minor["acuity"] == 4 and minor["status"] == "queued"
    got = (await service.client.get(f"/v1/calls/{minor['id']}", headers=service.auth())).json()
    assert got["timeline"][-1]["kind"] == "queued"
    critical = await _call(service, ARREST, 1)
    assert critical["status"] == "assigned"
    assert critical["assignments"][0]["vehicle_id"] == "A1"
    # when A1 clears it is again the district's last unit: the level IV call still waits
    r = await service.client.post("/v1/vehicles/A1/status", json={"status": "available"},
                                  headers=service.auth(Role.CREW, vehicle_id="A1"))
    assert r.status_code == 200
    got = (await service.client.get(f"/v1/calls/{minor['id']}", headers=service.auth())).json()
    assert got["status"] == "queued"


async def test_level_iv_takes_a_vehicle_when_the_district_keeps_one(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", CENTRE[0], CENTRE[1]),
                                      ("B1", "bls", CENTRE[0] + 0.004, CENTRE[1])]))
    minor = await _call(service, NON_URGENT, 1)
    assert minor["status"] == "assigned"
    # level IV prefers BLS (within the kind margin), keeping the ALS crew free
    assert minor["assignments"][0]["vehicle_id"] == "B1"
