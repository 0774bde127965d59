"""Positions reported over REST reach the consoles like a tablet's websocket positions."""

from __future__ import annotations

from typing import Any

from dispatch.domain import Role
from tests.handover.wsclient import cluster, now_iso, recv
from tests.service.city import CENTRE


async def test_rest_positions_reach_every_console_in_the_positions_batch() -> None:
    async with cluster(2) as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        idle = next(v for v in ("V0000", "V0001", "V0002", "V0003") if v != vehicle)
        # the console listens on the other instance from the one that takes the pings
        async with c.ws(1, "console", Role.DISPATCHER) as console:
            assert (await recv(console))["type"] == "snapshot"
            lon = CENTRE[0] + 0.0123
            for vid, role_binding in ((vehicle, {"vehicle_id": vehicle}),
                                      (idle, {"vehicle_id": idle})):
                r = await c.http.post(f"{c.urls[0]}/v1/vehicles/{vid}/position",
                                      headers=c.auth(Role.CREW, **role_binding),
                                      json={"lon": lon, "lat": CENTRE[1], "at": now_iso()})
                assert r.status_code == 204, r.text

            latest: dict[str, dict[str, Any]] = {}
            while not {vehicle, idle} <= set(latest):
                frame = await recv(console)
                if frame.get("kind") == "positions":
                    for v in frame["data"]["vehicles"]:
                        if v["lon"] == lon:
                            latest[v["vehicle_id"]] = v
        on_call, free = latest[vehicle], latest[idle]
        assert on_call["call_id"] == call_id and on_call["lat"] == CENTRE[1]
        # the ETA to the receiving centre rides with it, as with a tablet's positions
        assert on_call["eta"]["hospital_id"] == call["destination_id"]
        assert on_call["eta"]["eta_s"] > 0
        assert free["call_id"] is None and "eta" not in free
