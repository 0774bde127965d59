"""AML reports from the carrier gateway: attached to the live call, or held until it exists."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dispatch.domain import Role
from tests.conftest import Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


def aml_sms(lon: float, lat: float, *, radius_m: int = 12, at: datetime | None = None) -> str:
    at = at or datetime.now(UTC)
    head = (f'A"ML=1;lt={lat:+.5f};lg={lon:+010.5f};rd={radius_m};'
            f"top={at:%Y%m%d%H%M%S};lc=68;pm=G;si=460001234567890;ei=8612345678901234;"
            "mcc=460;mnc=00;")
    return f"{head}ml={len(head)}"


async def test_aml_refines_the_live_call(service: Service) -> None:
    await service.load(city(n_vehicles=0))
    lon, lat = CENTRE
    created = await service.client.post(
        "/v1/calls", json=call_body(lon + 0.02, lat, accuracy_m=2500, source="cell",
                                    number="13912345678"),
        headers=service.auth())
    call = created.json()
    gateway = service.auth(Role.GATEWAY)
    r = await service.client.post("/v1/aml", params={"sender": "+8613912345678"},
                                  content=aml_sms(lon, lat), headers={
                                      **gateway, "content-type": "text/plain"})
    assert r.status_code == 202, r.text
    assert r.json() == {"aml_id": r.json()["aml_id"], "call_id": call["id"], "held": False,
                        "warnings": []}
    got = (await service.client.get(f"/v1/calls/{call['id']}", headers=service.auth())).json()
    assert got["location"]["radius_m"] < 50
    assert abs(got["location"]["lon"] - lon) < 0.0005
    assert "location_updated" in [e["kind"] for e in got["timeline"]]


async def test_aml_before_the_call_is_held_and_attached(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    lon, lat = CENTRE
    fields = {
        "v": "3", "device_number": "+8613700000001", "emergency_number": "120",
        "location_latitude": f"{lat}", "location_longitude": f"{lon}",
        "location_accuracy": "15", "location_source": "gps",
        "location_time": str(int(datetime.now(UTC).timestamp() * 1000)),
    }
    r = await service.client.post("/v1/aml", json={"fields": fields},
                                  headers=service.auth(Role.GATEWAY))
    assert r.status_code == 202, r.text
    assert r.json()["held"] is True and r.json()["call_id"] is None
    # the call arrives with only a coarse cell fix; the held AML makes it precise
    body = call_body(lon + 0.03, lat, accuracy_m=3000, source="cell", number="13700000001")
    created = (await service.client.post("/v1/calls", json=body, headers=service.auth())).json()
    assert created["location"]["radius_m"] < 100, created["location"]
    assert created["caller_number"] == "13700000001"


async def test_a_held_aml_goes_to_one_of_two_calls_at_once(service: Service) -> None:
    # Two calls from one number arrive together: the held report becomes a fix of one of
    # them only, and both calls are stored, each located by what it was given.
    await service.load(city(n_vehicles=2))
    r = await service.client.post("/v1/aml", params={"sender": "13600000009"},
                                  content=aml_sms(*CENTRE), headers={
                                      **service.auth(Role.GATEWAY), "content-type": "text/plain"})
    assert r.status_code == 202 and r.json()["held"] is True
    body = call_body(CENTRE[0] + 0.03, CENTRE[1], accuracy_m=3000, source="cell",
                     number="13600000009")
    answers = await asyncio.gather(*[
        service.client.post("/v1/calls", json=body, headers=service.auth()) for _ in range(2)])
    assert [a.status_code for a in answers] == [201, 201]
    sources = sorted(sorted(f["source"] for f in a.json()["fixes"]) for a in answers)
    assert sources == [["cell"], ["cell", "gnss"]]
    precise = [a.json() for a in answers if len(a.json()["fixes"]) == 2]
    assert precise[0]["location"]["radius_m"] < 100


async def test_stale_held_aml_is_not_attached(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    old = datetime.now(UTC) - timedelta(hours=3)
    r = await service.client.post("/v1/aml", params={"sender": "13600000002"},
                                  content=aml_sms(*CENTRE, at=old), headers={
                                      **service.auth(Role.GATEWAY), "content-type": "text/plain"})
    assert r.status_code == 202
    body = call_body(CENTRE[0] + 0.03, CENTRE[1], accuracy_m=3000, source="cell",
                     number="13600000002")
    created = (await service.client.post("/v1/calls", json=body, headers=service.auth())).json()
    # the AML is three hours old: fusion must not let it pull the location
    assert created["location"]["radius_m"] > 500


async def test_bad_aml_names_the_field(service: Service) -> None:
    gateway = {**service.auth(Role.GATEWAY), "content-type": "text/plain"}
    bad = aml_sms(*CENTRE).replace("lt=+", "lt=+9")
    r = await service.client.post("/v1/aml", params={"sender": "13600000003"}, content=bad,
                                  headers=gateway)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] in {"lt", "ml"}
    r = await service.client.post("/v1/aml", content="hello", headers=gateway)
    assert r.status_code == 422
    r = await service.client.post("/v1/aml", content=b"\xff\xfe", headers=gateway)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body"


async def test_gateway_may_only_post_locations(service: Service) -> None:
    r = await service.client.post("/v1/calls", json=call_body(*CENTRE),
                                  headers=service.auth(Role.GATEWAY))
    assert r.status_code == 403
    r = await service.client.post("/v1/aml", content=aml_sms(*CENTRE),
                                  params={"sender": "13600000004"},
                                  headers={**service.auth(Role.CREW, vehicle_id="V0000"),
                                           "content-type": "text/plain"})
    assert r.status_code == 403


async def test_aml_from_a_landline_finds_the_call_however_the_number_is_written() -> None:
    """The switch gives 02584561234 (or 84561234 inside the area); the carrier's AML gives
    +862584561234: one caller, so the report refines that call."""
    async with running_service(phone_area_code="25") as service:
        await service.load(city(n_vehicles=0))
        lon, lat = CENTRE
        gateway = {**service.auth(Role.GATEWAY), "content-type": "text/plain"}
        for number in ("02584561234", "84561235"):
            created = await service.client.post(
                "/v1/calls", json=call_body(lon + 0.02, lat, accuracy_m=2500, source="cell",
                                            number=number),
                headers=service.auth())
            call = created.json()
            sender = "+862584561234" if number == "02584561234" else "+862584561235"
            r = await service.client.post("/v1/aml", params={"sender": sender},
                                          content=aml_sms(lon, lat), headers=gateway)
            assert r.status_code == 202, r.text
            assert r.json()["call_id"] == call["id"], (number, r.json())
            got = (await service.client.get(f"/v1/calls/{call['id']}",
                                            headers=service.auth())).json()
            assert got["location"]["radius_m"] < 50


async def test_aml_whose_declared_length_differs_still_locates_the_caller(
        service: Service) -> None:
    await service.load(city(n_vehicles=0))
    lon, lat = CENTRE
    call = (await service.client.post(
        "/v1/calls", json=call_body(lon + 0.02, lat, accuracy_m=2500, source="cell",
                                    number="13912345679"),
        headers=service.auth())).json()
    text = aml_sms(lon, lat)
    odd = text[: text.rindex("ml=")] + "ml=7"
    r = await service.client.post("/v1/aml", params={"sender": "13912345679"}, content=odd,
                                  headers={**service.auth(Role.GATEWAY),
                                           "content-type": "text/plain"})
    assert r.status_code == 202, r.text
    assert r.json()["call_id"] == call["id"] and "ml declares 7" in r.json()["warnings"][0]
    got = (await service.client.get(f"/v1/calls/{call['id']}", headers=service.auth())).json()
    assert got["location"]["radius_m"] < 50
