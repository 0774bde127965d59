"""Crew on one instance, the ED screen on another: pre-alert, live data, acks, timeline."""

from __future__ import annotations

from dispatch.domain import Role
from tests.handover.wsclient import ack, cluster, event, now_iso, recv, send, until


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
