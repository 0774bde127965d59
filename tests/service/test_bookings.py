"""Non-emergency bookings: planned onto the non-emergency fleet around trips already booked,
and dispatched when the vehicle must leave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.waiting import eventually

SCREENED = {"booking_reason": "dialysis", "red_flag_new_symptoms": False,
            "red_flag_breathing": False, "red_flag_chest_pain": False,
            "red_flag_confusion": False, "red_flag_bleeding": False,
            "red_flag_needs_monitoring": False}


def booking(start: datetime, minutes: int = 30, *, number: str = "13500000000") -> dict[str, Any]:
    body = call_body(*CENTRE, answers=SCREENED, number=number)
    body["booking"] = {"window_start": start.isoformat(),
                       "window_end": (start + timedelta(minutes=minutes)).isoformat(),
                       "dest_lon": CENTRE[0] + 0.05, "dest_lat": CENTRE[1]}
    return body


async def test_bookings_are_planned_around_each_other(service: Service) -> None:
    await service.load(city(vehicles=[("N1", "net", CENTRE[0], CENTRE[1]),
                                      ("N2", "net", CENTRE[0] + 0.08, CENTRE[1]),
                                      ("A1", "als", CENTRE[0], CENTRE[1])]))
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    first = (await service.client.post("/v1/calls", json=booking(tomorrow),
                                       headers=service.auth())).json()
    assert first["transport_class"] == "non_emergency"
    assert first["status"] == "queued" and first["assignments"] == []
    got = (await service.client.get(f"/v1/calls/{first['id']}", headers=service.auth())).json()
    plan = got["booking"]["plan"]
    assert plan["vehicle_id"] == "N1" and plan["status"] == "planned"
    assert tomorrow.isoformat() <= plan["pickup_at"]
    assert "booked" in [e["kind"] for e in got["timeline"]]
    # why N1, as the dispatcher reads it: in Chinese, the pickup in the centre's zone
    (booked,) = [e for e in got["timeline"] if e["kind"] == "booked"]
    earliest = booked["data"]["why"][0]
    pickup = datetime.fromisoformat(plan["pickup_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert earliest["code"] == "booking_earliest"
    assert earliest["text"]["zh-CN"] == f"2 辆可行车辆中接人最早：{pickup:%Y-%m-%d %H:%M}"  # N1, N2
    # same window: N1 is booked, so N2 takes it
    second = (await service.client.post("/v1/calls", json=booking(tomorrow, number="13500000001"),
                                        headers=service.auth())).json()
    got2 = (await service.client.get(f"/v1/calls/{second['id']}", headers=service.auth())).json()
    assert got2["booking"]["plan"]["vehicle_id"] == "N2"
    # the ALS ambulance is never used for a booking
    vehicles = (await service.client.get("/v1/vehicles", headers=service.auth())).json()
    assert {v["id"]: v["status"] for v in vehicles["vehicles"]}["A1"] == "available"


async def test_no_vehicle_can_make_the_window() -> None:
    async with running_service() as service:
        await service.load(city(vehicles=[("N1", "net", CENTRE[0], CENTRE[1])]))
        start = datetime.now(UTC) + timedelta(hours=5)
        await service.client.post("/v1/calls", json=booking(start, minutes=5),
                                  headers=service.auth())
        clash = (await service.client.post("/v1/calls",
                                           json=booking(start, minutes=5, number="13500000002"),
                                           headers=service.auth())).json()
        got = (await service.client.get(f"/v1/calls/{clash['id']}",
                                        headers=service.auth())).json()
        assert got["booking"].get("plan") is None
        queued = [e for e in got["timeline"] if e["kind"] == "queued"]
        assert "booked window" in queued[0]["data"]["reason"]


async def test_scheduler_dispatches_when_the_vehicle_must_leave() -> None:
    async with running_service(booking_lead_s=60, booking_tick_s=0.1) as service:
        # the vehicle is ~6 km away, so it must leave before the window opens in 2 minutes
        await service.load(city(vehicles=[("N1", "net", CENTRE[0] + 0.04, CENTRE[1] + 0.03)]))
        start = datetime.now(UTC) + timedelta(minutes=2)
        call = (await service.client.post("/v1/calls", json=booking(start),
                                          headers=service.auth())).json()
        assert call["status"] == "queued"

        async def dispatched() -> dict[str, Any] | None:
            got: dict[str, Any] = (await service.client.get(
                f"/v1/calls/{call['id']}", headers=service.auth())).json()
            return got if got["status"] == "assigned" else None

        got = await eventually(dispatched, what="the booking dispatched when it must leave")
        assert got is not None
        assert got["assignments"][0]["vehicle_id"] == "N1"
        assert got["booking"]["plan"]["status"] == "dispatched"


async def test_a_booking_that_triage_upgrades_is_dispatched_now(service: Service) -> None:
    # A transfer booked for tomorrow, but the caller says the patient cannot breathe:
    # triage makes it an emergency, and an emergency goes now on the emergency fleet.
    await service.load(city(vehicles=[("N1", "net", CENTRE[0], CENTRE[1]),
                                      ("A1", "als", CENTRE[0] + 0.01, CENTRE[1])]))
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    body = booking(tomorrow)
    body["answers"] = {**SCREENED, "red_flag_breathing": True}
    r = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["transport_class"] == "emergency", call["triage"]
    assert call["status"] == "assigned"
    assert [a["vehicle_id"] for a in call["assignments"]] == ["A1"]
    got = (await service.client.get(f"/v1/calls/{call['id']}", headers=service.auth())).json()
    assert "booked" not in [e["kind"] for e in got["timeline"]]


async def test_an_upgraded_booking_waiting_for_a_vehicle_is_drained(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", CENTRE[0] + 0.01, CENTRE[1])]))
    busy = (await service.client.post("/v1/calls", json=call_body(*CENTRE),
                                      headers=service.auth())).json()
    assert busy["status"] == "assigned"
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    body = booking(tomorrow)
    body["answers"] = {**SCREENED, "red_flag_chest_pain": True}
    upgraded = (await service.client.post("/v1/calls", json=body,
                                          headers=service.auth())).json()
    assert upgraded["status"] == "queued"
    r = await service.client.post("/v1/vehicles/A1/status",
                                  json={"status": "available", "call_id": busy["id"]},
                                  headers=service.auth())
    assert r.status_code == 200, r.text
    got = (await service.client.get(f"/v1/calls/{upgraded['id']}",
                                    headers=service.auth())).json()
    assert got["status"] == "assigned"
