"""Hospital capacity beside diversion: reported over REST or the centre's screen, read by
destination choice, published to the console, kept on the centre's timeline."""

from __future__ import annotations

from typing import Any

from dispatch.domain import Role
from tests.handover.wsclient import Cluster, ack, cluster, event, recv, send, until
from tests.service.city import CENTRE

STROKE_SIGNS = {"age_years": 60, "conscious": True, "breathing": True, "facial_droop": True,
                "arm_weakness": True}


async def _hospital(c: Cluster, hospital_id: str) -> dict[str, Any]:
    r = await c.http.get(f"{c.urls[0]}/v1/hospitals", headers=c.auth())
    assert r.status_code == 200, r.text
    found: dict[str, Any] = next(h for h in r.json()["hospitals"] if h["id"] == hospital_id)
    return found


async def test_cath_lab_busy_sends_chest_pain_elsewhere_and_reaches_the_console() -> None:
    async with cluster(1) as c:
        east = CENTRE[0] + 0.01  # H2's ED is nearer; H1 is the PCI centre
        assert (await c.new_call(lon=east))["destination_id"] == "H1"
        async with c.ws(0, "console", Role.DISPATCHER) as console:
            await recv(console)
            r = await c.http.post(
                f"{c.urls[0]}/v1/hospitals/H1/capacity",
                json={"capabilities": {"pci": {"available": False, "reason": "导管室占用"}}},
                headers=c.auth(Role.HOSPITAL, hospital_id="H1"))
            assert r.status_code == 200, r.text
            assert r.json()["unavailable"] == {"pci": "导管室占用"}
            frame, _ = await until(console, event("hospital_capacity"))
            assert frame["data"]["hospital_id"] == "H1"
            assert frame["data"]["unavailable"] == {"pci": "导管室占用"}
            assert frame["data"]["ed_full"] is False
        # like a diversion of PCI: no open PCI centre, so the nearest ED (with a warning)
        call = await c.new_call(lon=east, number="13800000002")
        assert call["destination_id"] == "H2"
        shown = await _hospital(c, "H1")
        assert shown["unavailable"] == {"pci": "导管室占用"}
        assert shown["capacity_at"] is not None
        # the cath lab is free again (a dispatcher reporting for the centre)
        r = await c.http.post(f"{c.urls[0]}/v1/hospitals/H1/capacity",
                              json={"capabilities": {"pci": {"available": True}}},
                              headers=c.auth())
        assert r.status_code == 200, r.text
        assert r.json()["unavailable"] == {}
        assert (await c.new_call(lon=east, number="13800000003"))["destination_id"] == "H1"
        r = await c.http.get(f"{c.urls[0]}/v1/hospitals/H1/timeline",
                             headers=c.auth(Role.HOSPITAL, hospital_id="H1"))
        assert r.status_code == 200, r.text
        events = r.json()["events"]
        assert [e["kind"] for e in events] == ["capacity", "capacity"]
        assert events[0]["data"]["report"] == {"capabilities": {"pci": {"available": True}}}
        assert events[1]["data"]["capacity"]["unavailable"] == {"pci": "导管室占用"}
        assert events[1]["by"].startswith("test-hospital")


async def test_full_ed_over_the_screen_lowers_its_preference() -> None:
    async with cluster(1) as c:
        # a stroke just east of the centre: both centres lyse, H2 is a little nearer
        near_h2 = CENTRE[0] + 0.005
        assert (await c.new_call(answers=STROKE_SIGNS, lon=near_h2))["destination_id"] == "H2"
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H2") as h2:
            await recv(h2)
            await send(h2, {"type": "capacity", "msg_id": "cap-1", "ed_beds_available": 0})
            got, before = await until(h2, ack("cap-1"))
            assert got["type"] == "ack", got
            # published before the ack is sent: it may come first
            changes = [f for f in before if f.get("kind") == "hospital_capacity"]
            change = changes[0] if changes else (await until(h2, event("hospital_capacity")))[0]
            assert change["data"]["ed_beds_available"] == 0
            assert change["data"]["ed_full"] is True
            call = await c.new_call(answers=STROKE_SIGNS, lon=near_h2, number="13800000002")
            assert call["destination_id"] == "H1"
            r = await c.http.get(f"{c.urls[0]}/v1/calls/{call['id']}", headers=c.auth())
            chosen = [e for e in r.json()["timeline"] if e["kind"] == "destination_chosen"]
            assert "DEST-ED-CAPACITY" in [x["rule_id"] for x in chosen[-1]["data"]["reasons"]]
            # a resend changes nothing and is acknowledged the same
            await send(h2, {"type": "capacity", "msg_id": "cap-1", "ed_beds_available": 0})
            assert (await until(h2, ack("cap-1")))[0] == got
            await send(h2, {"type": "capacity", "msg_id": "cap-2", "ed_beds_available": 4})
            assert (await until(h2, ack("cap-2")))[0]["type"] == "ack"
            call = await c.new_call(answers=STROKE_SIGNS, lon=near_h2, number="13800000003")
            assert call["destination_id"] == "H2"
        shown = await _hospital(c, "H2")
        assert shown["ed_beds_available"] == 4 and shown["ed_at_capacity"] is False


async def test_capacity_bad_input_and_rights() -> None:
    async with cluster(1) as c:
        url = f"{c.urls[0]}/v1/hospitals/H1/capacity"
        h1 = c.auth(Role.HOSPITAL, hospital_id="H1")
        for body, field in [
            ({}, None),
            ({"ed_beds_available": -1}, "ed_beds_available"),
            ({"ed_beds_available": 1.5}, "ed_beds_available"),
            ({"capabilities": {"ct": {"available": False}}}, "capabilities"),
            ({"capabilities": {"ed": {"available": False}}}, None),
            ({"capabilities": {"pci": {"available": True, "reason": "x"}}}, "capabilities"),
            ({"beds": 3}, "beds"),
        ]:
            r = await c.http.post(url, json=body, headers=h1)
            assert r.status_code == 422, (body, r.text)
            if field is not None:
                assert r.json()["detail"][0]["field"].startswith(field), (body, r.text)
        ok = {"ed_at_capacity": True}
        r = await c.http.post(url, json=ok, headers=c.auth(Role.HOSPITAL, hospital_id="H2"))
        assert r.status_code == 403, r.text
        r = await c.http.post(url, json=ok, headers=c.auth(Role.CREW, vehicle_id="V1"))
        assert r.status_code == 403, r.text
        r = await c.http.post(f"{c.urls[0]}/v1/hospitals/H9/capacity", json=ok,
                              headers=c.auth())
        assert r.status_code == 404, r.text
        r = await c.http.get(f"{c.urls[0]}/v1/hospitals/H1/timeline",
                             headers=c.auth(Role.HOSPITAL, hospital_id="H2"))
        assert r.status_code == 403, r.text
        # nothing refused was stored
        r = await c.http.get(f"{c.urls[0]}/v1/hospitals/H1/timeline", headers=c.auth())
        assert r.json()["events"] == []
        assert r.json()["capacity"]["reported_at"] is None
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as ws:
            await recv(ws)
            await send(ws, {"type": "capacity", "msg_id": "bad", "capabilities": {}})
            refused, _ = await until(ws, ack("bad"))
            assert refused["type"] == "error", refused
