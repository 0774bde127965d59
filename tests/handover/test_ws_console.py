"""The console stream: queue, assignments, alerts, clinical frames, batched positions."""

from __future__ import annotations

from typing import Any

from dispatch.domain import Role
from tests.handover.wsclient import ack, cluster, now_iso, recv, send, until
from tests.service.city import CENTRE


async def test_console_stream_carries_the_call_its_alerts_and_batched_positions() -> None:
    async with cluster() as c:
        async with c.ws(1, "console", Role.DISPATCHER) as console:
            snap = await recv(console)
            assert snap["type"] == "snapshot"
            assert set(snap["calls"][0]) == {"queue", "fleet"}
            assert len(snap["calls"][0]["fleet"]) == 4
            call = await c.new_call()
            call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
            # intake publishes directly, the alert leaves through the outbox: any order
            wanted = {"call_created", "vehicle_assigned", "centre_alerted",
                      "destination_changed"}
            seen_kinds: set[str] = set()
            while not wanted <= seen_kinds:
                frame = await recv(console)
                if frame.get("call_id") == call_id:
                    seen_kinds.add(frame["kind"])
            async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
                await recv(crew)  # snapshot
                lons = [CENTRE[0] + 0.001 * i for i in range(1, 4)]
                for i, lon in enumerate(lons):
                    await send(crew, {"type": "position", "msg_id": f"p{i}", "call_id": call_id,
                                      "lon": lon, "lat": CENTRE[1], "at": now_iso()})
                    assert (await until(crew, ack(f"p{i}")))[0]["type"] == "ack"
                await send(crew, {"type": "vitals", "msg_id": "v1", "call_id": call_id,
                                  "hr": 110, "at": now_iso()})
                await until(crew, ack("v1"))
                await send(crew, {"type": "ecg", "msg_id": "e1", "call_id": call_id,
                                  "rhythm": "sinus", "stemi": False, "at": now_iso()})
                await until(crew, ack("e1"))
                await send(crew, {"type": "status", "msg_id": "s1", "call_id": call_id,
                                  "status": "en_route", "at": now_iso()})
                await until(crew, ack("s1"))

            def latest_position(f: dict[str, Any]) -> bool:
                return f.get("kind") == "positions" and any(
                    v["vehicle_id"] == vehicle and v["lon"] == lons[-1]
                    for v in f["data"]["vehicles"])

            def status(f: dict[str, Any]) -> bool:
                return f.get("kind") == "vehicle_status" and f["data"].get("status") == "en_route"

            # Positions once a second, one message with every vehicle's latest; the rest
            # as it happens: read until both have come, in whatever order.
            frames: list[dict[str, Any]] = []
            while not (any(map(latest_position, frames)) and any(map(status, frames))):
                frames.append(await recv(console))
            batches = [f for f in frames if f.get("kind") == "positions"]
            for f in batches:
                ids = [v["vehicle_id"] for v in f["data"]["vehicles"]]
                assert len(ids) == len(set(ids)), f
            mine = [v for f in batches for v in f["data"]["vehicles"] if v["vehicle_id"] == vehicle]
            assert all(v["call_id"] == call_id for v in mine)
            assert [v["lon"] for v in mine] == sorted(v["lon"] for v in mine)
            # the ETA to the centre rides with the positions, not as events of its own
            assert mine[-1]["eta"]["hospital_id"] == call["destination_id"]
            assert mine[-1]["eta"]["eta_s"] > 0
            assert not [f for f in frames if f.get("kind") == "eta"]
            ecg = [f for f in frames if f.get("kind") == "ecg"]
            assert [f["data"]["msg_id"] for f in ecg] == ["e1"]
            assert ecg[0]["data"]["vehicle_id"] == vehicle
            # vitals at 1 Hz go to the centre only
            assert not [f for f in frames if f.get("kind") == "vitals"]
            ids = [tuple(int(p) for p in f["id"].split("-")) for f in frames]
            assert ids == sorted(set(ids))


async def test_console_refuses_frames_other_than_resume() -> None:
    async with cluster(1) as c, c.ws(0, "console", Role.DISPATCHER) as console:
        assert (await recv(console))["type"] == "snapshot"
        # a well-formed centre frame is still outside a console's rights
        await send(console, {"type": "ack", "msg_id": "x",
                             "call_id": "00000000-0000-4000-8000-000000000001"})
        refused = await recv(console)
        assert refused["type"] == "error" and refused["code"] == 1008
        assert refused["field"] == "type"
