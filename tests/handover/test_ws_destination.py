"""Destinations people change: a dispatcher's override over REST, a crew's request over
the websocket; each re-routes the screens and is on the call's timeline."""

from __future__ import annotations

from typing import Any

from dispatch.domain import Role
from tests.handover.wsclient import Cluster, ack, cluster, event, now_iso, recv, send, until
from tests.service.city import CENTRE

# Stroke signs east of the centre: the nearest thrombolysis centre is H2 (H1 also has it).
STROKE_SIGNS = {"age_years": 60, "conscious": True, "breathing": True, "facial_droop": True,
                "arm_weakness": True}


async def _destination_events(c: Cluster, call_id: str) -> list[dict[str, Any]]:
    r = await c.http.get(f"{c.urls[0]}/v1/calls/{call_id}", headers=c.auth())
    assert r.status_code == 200, r.text
    return [e for e in r.json()["timeline"] if e["kind"] == "destination_chosen"]


async def test_dispatcher_override_moves_the_patient_between_screens() -> None:
    async with cluster() as c:
        call = await c.new_call()  # chest pain: the PCI centre, H1
        assert call["destination_id"] == "H1"
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as h1, \
                c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H2") as h2, \
                c.ws(1, "console", Role.DISPATCHER) as console, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            assert [p["call_id"] for p in (await recv(h1))["calls"]] == [call_id]
            assert (await recv(h2))["calls"] == []
            await recv(console)
            await recv(crew)
            r = await c.http.post(f"{c.urls[0]}/v1/calls/{call_id}/destination",
                                  json={"hospital_id": "H2", "reason": "家属要求去H2"},
                                  headers=c.auth())
            assert r.status_code == 200, r.text
            answer = r.json()
            assert answer["destination_id"] == "H2" and answer["previous"] == "H1"
            assert answer["changed"] is True
            # allowed, but the dispatcher is told H2 cannot do what the patient needs
            assert any("pci" in w for w in answer["warnings"]), answer
            removed, _ = await until(h1, event("patient_removed", call_id))
            assert "H2" in removed["data"]["reason"]
            alert, _ = await until(h2, event("pre_alert", call_id))
            assert alert["data"]["patient"]["destination_id"] == "H2"
            for ws in (console, crew):
                moved, _ = await until(ws, event("destination_changed", call_id))
                assert moved["data"]["hospital_id"] == "H2"
                assert moved["data"]["previous"] == "H1"
                assert moved["data"]["reason"] == "家属要求去H2"
                assert moved["data"]["by"]["role"] == "dispatcher"
        chosen = await _destination_events(c, call_id)
        assert chosen[-1]["data"]["hospital_id"] == "H2"
        assert chosen[-1]["data"]["previous"] == "H1"
        assert chosen[-1]["data"]["reason"] == "家属要求去H2"
        assert chosen[-1]["data"]["by"]["role"] == "dispatcher"
        # the same choice again changes nothing and records nothing
        r = await c.http.post(f"{c.urls[0]}/v1/calls/{call_id}/destination",
                              json={"hospital_id": "H2", "reason": "again"}, headers=c.auth())
        assert r.status_code == 200 and r.json()["changed"] is False
        assert len(await _destination_events(c, call_id)) == len(chosen)


async def test_crew_request_for_a_centre_without_the_capability_is_refused() -> None:
    async with cluster(1) as c, c.crew_of_new_call() as (crew, call_id, _):
        # chest pain needs PCI; H2 has no cath lab
        await send(crew, {"type": "destination_request", "msg_id": "dr-1", "call_id": call_id,
                          "hospital_id": "H2", "reason": "closer"})
        refused, _ = await until(crew, ack("dr-1"))
        assert refused["type"] == "error", refused
        assert refused["code"] == 4409 and refused["field"] == "hospital_id"
        assert "不具备" in refused["reason"] and "has no pci capability" in refused["reason"]
        r = await c.http.get(f"{c.urls[0]}/v1/calls/{call_id}", headers=c.auth())
        assert r.json()["destination_id"] == "H1"


async def test_crew_request_refused_while_diverting_then_accepted() -> None:
    async with cluster(1) as c:
        call = await c.new_call(answers=STROKE_SIGNS, lon=CENTRE[0] + 0.03)
        assert call["destination_id"] == "H2"
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as h1, \
                c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H2") as h2, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            for ws in (h1, h2, crew):
                await recv(ws)
            await send(h1, {"type": "diversion", "msg_id": "div-on",
                            "capability": "thrombolysis", "on": True})
            assert (await until(h1, ack("div-on")))[0]["type"] == "ack"
            request = {"type": "destination_request", "msg_id": "dr-1", "call_id": call_id,
                       "hospital_id": "H1", "reason": "patient's own hospital"}
            await send(crew, request)
            refused, _ = await until(crew, ack("dr-1"))
            assert refused["type"] == "error", refused
            assert "正在分流" in refused["reason"]
            assert "diverting thrombolysis" in refused["reason"]
            await send(h1, {"type": "diversion", "msg_id": "div-off",
                            "capability": "thrombolysis", "on": False})
            assert (await until(h1, ack("div-off")))[0]["type"] == "ack"
            # the refused frame was not kept: the same frame is judged again
            await send(crew, request)
            accepted, _ = await until(crew, ack("dr-1"))
            assert accepted["type"] == "ack", accepted
            moved, _ = await until(crew, event("destination_changed", call_id))
            assert moved["data"]["hospital_id"] == "H1"
            assert moved["data"]["by"] == {"role": "crew", "id": vehicle}
            removed, _ = await until(h2, event("patient_removed", call_id))
            assert "H1" in removed["data"]["reason"]
            alert, _ = await until(h1, event("pre_alert", call_id))
            assert alert["data"]["patient"]["destination_id"] == "H1"
            # a resend of the accepted frame: the same ack, nothing changes again
            await send(crew, request)
            again, _ = await until(crew, ack("dr-1"))
            assert again == accepted
        chosen = await _destination_events(c, call_id)
        assert [e["data"]["hospital_id"] for e in chosen] == ["H2", "H1"]
        assert chosen[-1]["data"]["by"] == {"role": "crew", "id": vehicle}
        assert chosen[-1]["data"]["reason"] == "patient's own hospital"
        assert chosen[-1]["data"]["previous"] == "H2"


async def test_destination_override_bad_input_and_rights() -> None:
    async with cluster(1) as c:
        call = await c.new_call()
        url = f"{c.urls[0]}/v1/calls/{call['id']}/destination"
        r = await c.http.post(url, json={"hospital_id": "H9", "reason": "x"}, headers=c.auth())
        assert r.status_code == 404, r.text
        assert r.json()["detail"][0]["field"] == "hospital_id"
        r = await c.http.post(url, json={"hospital_id": "H2"}, headers=c.auth())
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == "reason"
        r = await c.http.post(url, json={"hospital_id": "H2", "reason": "x"},
                              headers=c.auth(Role.CREW, vehicle_id=call["assignments"][0][
                                  "vehicle_id"]))
        assert r.status_code == 403, r.text
        r = await c.http.post(url, json={"hospital_id": "H2", "reason": "x"},
                              headers=c.auth(Role.HOSPITAL, hospital_id="H2"))
        assert r.status_code == 403, r.text


async def test_a_persons_choice_stands_against_a_later_re_triage() -> None:
    async with cluster(1) as c:
        call = await c.new_call(answers=STROKE_SIGNS, lon=CENTRE[0] + 0.03)
        assert call["destination_id"] == "H2"
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as h1, \
                c.ws(0, "console", Role.DISPATCHER) as console, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            for ws in (h1, console, crew):
                await recv(ws)
            # the dispatcher keeps the patient at H2 whatever comes next
            r = await c.http.post(f"{c.urls[0]}/v1/calls/{call_id}/destination",
                                  json={"hospital_id": "H2", "reason": "H1 急诊拥堵"},
                                  headers=c.auth())
            assert r.status_code == 200 and r.json()["changed"] is False
            # ...then sets it explicitly after all (a person's choice, on the timeline)
            r = await c.http.post(f"{c.urls[0]}/v1/calls/{call_id}/destination",
                                  json={"hospital_id": "H1", "reason": "家属要求"},
                                  headers=c.auth())
            assert r.json()["changed"] is True
            await until(h1, event("pre_alert", call_id))
            r = await c.http.post(f"{c.urls[0]}/v1/calls/{call_id}/destination",
                                  json={"hospital_id": "H2", "reason": "H1 急诊拥堵"},
                                  headers=c.auth())
            assert r.json()["changed"] is True
            await until(h1, event("patient_removed", call_id))
            # a STEMI on the crew's ECG: automatic choice would now pick the PCI centre H1
            await send(crew, {"type": "ecg", "msg_id": "ecg-1", "call_id": call_id,
                              "rhythm": "sinus", "st_elevation_leads": ["V2", "V3", "V4"],
                              "stemi": True, "at": now_iso()})
            assert (await until(crew, ack("ecg-1")))[0]["type"] == "ack"
            suggested, seen = await until(console, event("destination_suggested", call_id))
            assert suggested["data"]["hospital_id"] == "H1"
            assert suggested["data"]["current"] == "H2"
            assert not [f for f in seen if f.get("kind") == "destination_changed"
                        and f["data"]["hospital_id"] == "H1"
                        and f["data"].get("by") is None]
        r = await c.http.get(f"{c.urls[0]}/v1/calls/{call_id}", headers=c.auth())
        assert r.json()["destination_id"] == "H2"
        assert [e["data"]["hospital_id"] for e in await _destination_events(c, call_id)] == [
            "H2", "H1", "H2"]
