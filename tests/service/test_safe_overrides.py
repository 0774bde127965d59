"""Safe overrides: a district's last emergency vehicle taken by hand is warned and recorded;
a call's fixes keep the same ids from intake on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dispatch.domain import Role
from tests.conftest import Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

_VEHICLES = [("V1", "als", CENTRE[0] + 0.01, CENTRE[1]), ("V2", "als", CENTRE[0] - 0.01,
                                                           CENTRE[1]),
             ("N1", "net", CENTRE[0], CENTRE[1] + 0.01)]


async def test_override_taking_a_districts_last_emergency_vehicle_is_warned_and_recorded() -> None:
    # recommend only: the dispatcher sends every vehicle by hand
    async with running_service(auto_assign=False) as service:
        await service.load(city(vehicles=_VEHICLES))
        calls = []
        for number in ("13800000001", "13800000002"):
            r = await service.client.post("/v1/calls", json=call_body(*CENTRE, number=number),
                                          headers=service.auth())
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "queued"
            calls.append(r.json()["id"])

        async def override(call_id: str, vehicle_id: str) -> dict[str, Any]:
            r = await service.client.post(f"/v1/calls/{call_id}/dispatch", headers=service.auth(),
                                          json={"vehicle_id": vehicle_id, "reason": "crew known"})
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        # two emergency vehicles available in D1: taking one leaves one
        assert (await override(calls[0], "V1"))["warnings"] == []
        # the second is the district's last: allowed, and the dispatcher is told
        answer = await override(calls[1], "V2")
        assert [a["vehicle_id"] for a in answer["assignments"]] == ["V2"]
        [warning] = answer["warnings"]
        assert warning["code"] == "last_emergency_vehicle_of_district"
        assert warning["district_id"] == "D1" and warning["vehicle_id"] == "V2"
        assert "最后一辆" in warning["zh"] and "Test district" in warning["zh"]
        assert "last available emergency vehicle" in warning["en"]

        # recorded on the timeline and in the audit log with the assignment
        r = await service.client.get(f"/v1/calls/{calls[1]}", headers=service.auth())
        dispatched = [e for e in r.json()["timeline"] if e["kind"] == "dispatched"]
        assert dispatched[-1]["data"]["warnings"] == [warning]
        r = await service.client.get("/v1/audit", headers=service.auth(Role.AUDITOR),
                                     params={"call_id": calls[1]})
        assigns = [e for e in r.json()["entries"] if e["action"] == "assign"]
        assert assigns[-1]["detail"]["warnings"] == [warning]
        assert assigns[-1]["detail"]["note"] == "crew known"
        # the first call's assignment carried none
        r = await service.client.get(f"/v1/calls/{calls[0]}", headers=service.auth())
        assert all("warnings" not in e["data"] for e in r.json()["timeline"]
                   if e["kind"] == "dispatched")



async def test_the_call_view_lists_its_fixes_and_location_names_them_by_stable_id(
    service: Service,
) -> None:
    await service.load(city(vehicles=_VEHICLES))
    now = datetime.now(UTC)
    body = call_body(*CENTRE, now=now)
    body["fixes"].append({"lon": CENTRE[0] + 0.0002, "lat": CENTRE[1], "accuracy_m": 300.0,
                          "source": "cell", "coord_system": "wgs84",
                          "observed_at": now.isoformat()})
    r = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert r.status_code == 201, r.text
    taken = r.json()
    call_id = taken["id"]
    r = await service.client.get(f"/v1/calls/{call_id}", headers=service.auth())
    view = r.json()
    ids = [f["id"] for f in view["fixes"]]
    assert [f["source"] for f in view["fixes"]] == ["aml", "cell"]
    assert view["fixes"][1]["accuracy_m"] == 300.0
    # the answer at intake and the view name the fixes by their stored ids
    assert taken["fixes"] == view["fixes"]
    assert sorted(taken["location"]["used"]) == sorted(view["location"]["used"]) == ids

    pin = {"lon": CENTRE[0] + 0.001, "lat": CENTRE[1], "accuracy_m": 10.0, "source": "manual",
           "coord_system": "wgs84", "observed_at": datetime.now(UTC).isoformat()}
    r = await service.client.post(f"/v1/calls/{call_id}/fixes", json={"fixes": [pin]},
                                  headers=service.auth())
    assert r.status_code == 200, r.text
    after = r.json()
    assert [f["id"] for f in after["fixes"]][:2] == ids  # earlier fixes keep their ids
    pin_id = after["fixes"][2]["id"]
    assert pin_id not in ids and after["fixes"][2]["source"] == "manual"
    assert after["location"]["used"] == [pin_id]  # the dispatcher's pin wins outright
    r = await service.client.get(f"/v1/calls/{call_id}", headers=service.auth())
    assert r.json()["fixes"] == after["fixes"]
