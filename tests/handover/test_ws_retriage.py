"""Crew findings over the websocket move the patient: a STEMI ECG, an ED on diversion."""

from __future__ import annotations

from dispatch.domain import Role
from tests.handover.wsclient import ack, cluster, event, now_iso, recv, send, until
from tests.service.city import CENTRE

# Stroke signs east of the centre: the nearest thrombolysis centre, H2. The crew's ECG
# then shows a STEMI.
STROKE_SIGNS = {"age_years": 60, "conscious": True, "breathing": True, "facial_droop": True,
                "arm_weakness": True}


async def test_stemi_ecg_from_the_crew_moves_the_pre_alert_to_the_pci_centre() -> None:
    async with cluster() as c:
        call = await c.new_call(answers=STROKE_SIGNS, lon=CENTRE[0] + 0.03)
        assert call["destination_id"] == "H2", call["destination_id"]
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as h1, \
                c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H2") as h2, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            assert (await recv(h1))["calls"] == []
            assert [p["call_id"] for p in (await recv(h2))["calls"]] == [call_id]
            await recv(crew)
            await send(crew, {"type": "ecg", "msg_id": "ecg-1", "call_id": call_id,
                              "rhythm": "sinus", "st_elevation_leads": ["V2", "V3", "V4"],
                              "stemi": True, "at": now_iso()})
            assert (await until(crew, ack("ecg-1")))[0]["type"] == "ack"
            # ESC STEMI 2017: straight to a PCI centre; the crew is told where to go
            moved, _ = await until(crew, event("destination_changed", call_id))
            assert moved["data"]["hospital_id"] == "H1"
            assert moved["data"]["previous"] == "H2"
            ecg, _ = await until(h2, event("ecg", call_id))
            assert ecg["data"]["stemi"] is True
            removed, _ = await until(h2, event("patient_removed", call_id))
            assert "H1" in removed["data"]["reason"]
            alert, _ = await until(h1, event("pre_alert", call_id))
            patient = alert["data"]["patient"]
            assert patient["destination_id"] == "H1"
            assert patient["pathway"] is not None
            # what the crew sends next goes to the new centre only
            await send(crew, {"type": "vitals", "msg_id": "v-after", "call_id": call_id,
                              "hr": 118, "at": now_iso()})
            await until(crew, ack("v-after"))
            vitals, _ = await until(h1, event("vitals", call_id))
            assert vitals["data"]["msg_id"] == "v-after"
            await send(h2, {"type": "ack", "msg_id": "late", "call_id": call_id})
            refused, before = await until(h2, ack("late"))
            assert refused["type"] == "error"
            assert not [f for f in before if f.get("kind") == "vitals"]
        r = await c.http.get(f"{c.urls[0]}/v1/calls/{call_id}", headers=c.auth())
        assert r.json()["destination_id"] == "H1"


async def test_ed_diversion_over_the_websocket_sends_new_patients_elsewhere() -> None:
    # Calls come in on the instance the screen declares on: the others see a diversion
    # within their reference-data check interval (dispatch.places, 2 s).
    async with cluster(1) as c:
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as h1:
            await recv(h1)
            await send(h1, {"type": "diversion", "msg_id": "d-ed", "capability": "ed",
                            "on": True})
            got, before = await until(h1, ack("d-ed"))
            assert got["type"] == "ack", got
            # published before the ack is sent: it may come first
            changes = [f for f in before if f.get("kind") == "diversion"]
            change = changes[0] if changes else (await until(h1, event("diversion")))[0]
            assert change["data"]["capability"] == "ed"
            assert change["data"]["diversion"] == ["ed"]
            # chest pain would go to H1 (the PCI centre); its ED takes nobody now
            call = await c.new_call()
            assert call["destination_id"] == "H2"
            await send(h1, {"type": "diversion", "msg_id": "d-ed-off", "capability": "ed",
                            "on": False})
            assert (await until(h1, ack("d-ed-off")))[0]["type"] == "ack"
            call = await c.new_call(number="13800000002")
            assert call["destination_id"] == "H1"
