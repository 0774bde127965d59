"""Crew on one instance, the ED screen on another: pre-alert, live data, acks, timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from dispatch.domain import Role
from tests.handover.wsclient import ack, cluster, event, now_iso, recv, send, until
from tests.service.city import CENTRE


async def test_crew_vitals_reach_the_screen_on_the_other_instance() -> None:
    async with cluster() as c:
        call = await c.new_call()
        call_id = call["id"]
        assert call["destination_id"] == "H1"
        vehicle = call["assignments"][0]["vehicle_id"]
        async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as screen, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            snap = await recv(screen)
            assert snap["type"] == "snapshot"
            assert [p["call_id"] for p in snap["calls"]] == [call_id]
            mission = await recv(crew)
            assert mission["type"] == "snapshot"
            assert mission["calls"][0]["mission"]["id"] == call_id
            await send(crew, {"type": "vitals", "msg_id": "v1", "call_id": call_id,
                              "hr": 104, "sbp": 132, "spo2": 95, "at": now_iso()})
            got, _ = await until(crew, ack("v1"))
            assert got["type"] == "ack", got
            frame, _ = await until(screen, event("vitals", call_id))
            assert frame["data"]["hr"] == 104
            assert frame["data"]["msg_id"] == "v1"


async def test_resume_on_another_instance_has_no_gap_and_no_duplicate() -> None:
    async with cluster() as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)  # snapshot
            async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
                await recv(screen)
                for i in range(3):
                    await send(crew, {"type": "vitals", "msg_id": f"a{i}", "call_id": call_id,
                                      "hr": 80 + i, "at": now_iso()})
                    await until(crew, ack(f"a{i}"))
                last, _ = await until(screen, lambda f: f.get("data", {}).get("msg_id") == "a2")
            # the screen is gone; the crew goes on
            for i in range(3, 8):
                await send(crew, {"type": "vitals", "msg_id": f"a{i}", "call_id": call_id,
                                  "hr": 80 + i, "at": now_iso()})
                await until(crew, ack(f"a{i}"))
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1",
                        last_event_id=last["id"]) as screen:
            frame, before = await until(screen, lambda f: f.get("data", {}).get("msg_id") == "a7")
            frames = [*before, frame]
            assert all(f["type"] == "event" for f in frames)  # no snapshot: the stream has it
            vitals = [f["data"]["msg_id"] for f in frames if f["kind"] == "vitals"]
            assert vitals == [f"a{i}" for i in range(3, 8)]
            ids = [tuple(int(p) for p in f["id"].split("-")) for f in frames]
            assert ids == sorted(set(ids))
            # resume frame on the open connection: the same answer again, in order
            await send(screen, {"type": "resume", "last_event_id": last["id"]})
            frame, before = await until(screen, lambda f: f.get("data", {}).get("msg_id") == "a7")
            assert [f["data"]["msg_id"] for f in [*before, frame] if f["kind"] == "vitals"] \
                == vitals


async def test_resend_of_a_crew_message_is_acked_once_and_published_once() -> None:
    async with cluster() as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        frame = {"type": "ecg", "msg_id": "ecg-1", "call_id": call_id, "rhythm": "sinus",
                 "st_elevation_leads": ["V2", "V3", "V4"], "stemi": True, "at": now_iso()}
        async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
            await recv(screen)
            async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
                await recv(crew)
                await send(crew, frame)
                first, _ = await until(crew, ack("ecg-1"))
            # the tablet lost the link and resends after reconnecting elsewhere
            async with c.ws(1, "crew", Role.CREW, vehicle_id=vehicle) as crew:
                await recv(crew)
                await send(crew, frame)
                again, _ = await until(crew, ack("ecg-1"))
                await send(crew, {"type": "vitals", "msg_id": "after", "call_id": call_id,
                                  "hr": 90, "at": now_iso()})
                await until(crew, ack("after"))
            assert first["type"] == again["type"] == "ack"
            assert first["event_id"] == again["event_id"]
            _, before = await until(screen, lambda f: f.get("data", {}).get("msg_id") == "after")
            assert [f["data"].get("msg_id") for f in before if f.get("kind") == "ecg"] == ["ecg-1"]


async def test_status_and_centre_actions_build_the_timeline_once() -> None:
    async with cluster() as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as screen, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(screen)
            await recv(crew)
            await send(screen, {"type": "ack", "msg_id": "h-ack", "call_id": call_id})
            assert (await until(screen, ack("h-ack")))[0]["type"] == "ack"
            await send(screen, {"type": "activate_team", "msg_id": "h-team", "call_id": call_id,
                                "team": "cath_lab"})
            assert (await until(screen, ack("h-team")))[0]["type"] == "ack"
            await until(crew, event("team_activated", call_id))
            for i, status in enumerate(["en_route", "on_scene", "transporting", "at_hospital"]):
                await send(crew, {"type": "status", "msg_id": f"s{i}", "call_id": call_id,
                                  "status": status, "at": now_iso()})
                got, _ = await until(crew, ack(f"s{i}"))
                assert got["type"] == "ack", got
            await until(screen, lambda f: f.get("kind") == "crew_status"
                        and f["data"]["status"] == "at_hospital")
            # the centre says so too: still one arrival on the timeline
            await send(screen, {"type": "arrived", "msg_id": "h-arr", "call_id": call_id})
            assert (await until(screen, ack("h-arr")))[0]["type"] == "ack"
            await send(screen, {"type": "handover_complete", "msg_id": "h-done",
                                "call_id": call_id})
            assert (await until(screen, ack("h-done")))[0]["type"] == "ack"
        r = await c.http.get(f"{c.urls[0]}/v1/calls/{call_id}", headers=c.auth())
        kinds = [e["kind"] for e in r.json()["timeline"]]
        for kind in ("destination_chosen", "centre_alerted", "centre_acknowledged",
                     "team_activated", "at_destination", "handover"):
            assert kind in kinds, kinds
        assert kinds.count("at_destination") == 1
        assert kinds.count("centre_alerted") == 1
        assert kinds.index("centre_alerted") < kinds.index("at_destination")


async def test_diversion_and_retriage_move_the_patient_between_screens() -> None:
    async with cluster() as c:
        # East of the centre: H1 (west) is the only PCI centre, H2 the nearest ED.
        call = await c.new_call(lon=CENTRE[0] + 0.03)
        assert call["destination_id"] == "H1"
        call_id = call["id"]
        async with c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as h1, \
                c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H2") as h2:
            assert [p["call_id"] for p in (await recv(h1))["calls"]] == [call_id]
            assert (await recv(h2))["calls"] == []
            # with PCI diverted, chest pain falls back to the nearest ED (STEMI_2019)
            for i, capability in enumerate(["pci"]):
                await send(h1, {"type": "diversion", "msg_id": f"d{i}", "capability": capability,
                                "on": True})
                assert (await until(h1, ack(f"d{i}")))[0]["type"] == "ack"
            r = await c.http.post(f"{c.urls[1]}/v1/calls/{call_id}/triage",
                                  json={"complaint": "chest pain"}, headers=c.auth())
            assert r.status_code == 200, r.text
            assert r.json()["destination_id"] == "H2"
            removed, _ = await until(h1, event("patient_removed", call_id))
            assert "H2" in removed["data"]["reason"]
            alert, _ = await until(h2, event("pre_alert", call_id))
            assert alert["data"]["patient"]["call_id"] == call_id
            # H1 may no longer act on the patient, and cannot read the record
            await send(h1, {"type": "ack", "msg_id": "late", "call_id": call_id})
            refused, _ = await until(h1, ack("late"))
            assert refused["type"] == "error" and refused["code"] == 1008
        r = await c.http.get(f"{c.urls[0]}/v1/incidents/{call_id}/handover",
                             headers=c.auth(Role.HOSPITAL, hospital_id="H1"))
        assert r.status_code == 403
        r = await c.http.get(f"{c.urls[0]}/v1/incidents/{call_id}/handover",
                             headers=c.auth(Role.HOSPITAL, hospital_id="H2"))
        assert r.status_code == 200


async def test_a_cancelled_call_leaves_the_receiving_board_and_its_snapshot() -> None:
    async with cluster(1) as c:
        call = await c.new_call()
        call_id = call["id"]
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
            snap = await recv(screen)
            assert [p["call_id"] for p in snap["calls"]] == [call_id]
            r = await c.http.post(f"{c.urls[0]}/v1/calls/{call_id}/cancel",
                                  json={"reason": "caller rang back: not needed"},
                                  headers=c.auth())
            assert r.status_code == 200, r.text
            removed, _ = await until(screen, event("patient_removed", call_id))
            assert removed["data"]["reason"] == "call cancelled"
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
            assert (await recv(screen))["calls"] == []
        r = await c.http.get(f"{c.urls[0]}/v1/incidents/{call_id}/handover",
                             headers=c.auth(Role.HOSPITAL, hospital_id="H1"))
        assert r.status_code == 403


async def test_a_reloaded_board_has_the_eta_the_last_position_gave() -> None:
    async with cluster() as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew, \
                c.ws(1, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
            await recv(crew)
            first = (await recv(screen))["calls"][0]["eta"]
            assert first["vehicle_id"] == vehicle  # from where it waited, at its station
            await send(crew, {"type": "position", "msg_id": "p1", "call_id": call_id,
                              "lon": CENTRE[0] + 0.01, "lat": CENTRE[1], "at": now_iso()})
            await until(crew, ack("p1"))
            live, _ = await until(screen, event("eta", call_id))
        # the screen reloads: its snapshot counts down from the same position
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as again:
            snap = await recv(again)
            (patient,) = snap["calls"]
            eta = patient["eta"]
            assert eta["vehicle_id"] == vehicle and eta["hospital_id"] == "H1"
            assert eta["eta_s"] == live["data"]["eta_s"] != first["eta_s"]
            # the event's time is the server's receipt, the snapshot's the position's stamp
            assert abs(datetime.fromisoformat(eta["expected_at"])
                       - datetime.fromisoformat(live["data"]["expected_at"])) \
                < timedelta(seconds=60)
