"""Crew status frames take one pooled connection each: many at once never exhaust the pool."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from dispatch.domain import Role
from tests.handover.wsclient import ack, cluster, now_iso, recv, send, until
from tests.service.city import CENTRE

CREWS = 16
QUEUED = 4
DEADLINE_S = 20.0


async def test_simultaneous_status_frames_of_many_crews_on_a_small_pool_are_all_acked() -> None:
    # 6 connections, 4 of them kept by the listener and the writers once the crews talk
    async with cluster(1, vehicles=CREWS, db_pool_max=6) as c, AsyncExitStack() as stack:
        calls = [await c.new_call(number=f"139{i:08d}", lon=CENTRE[0] + 0.002 * i)
                 for i in range(CREWS)]
        crews = []
        for call in calls:
            vehicle = call["assignments"][0]["vehicle_id"]
            crew = await stack.enter_async_context(
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle))
            await recv(crew)  # snapshot
            crews.append((crew, call["id"]))
        for n, (crew, call_id) in enumerate(crews):
            await send(crew, {"type": "vitals", "msg_id": "v1", "call_id": call_id,
                              "hr": 100, "at": now_iso()})
            await send(crew, {"type": "position", "msg_id": "p1", "call_id": call_id,
                              "lon": CENTRE[0], "lat": CENTRE[1] + 0.001 * n,
                              "at": now_iso()})
            # (a position's ack may come before or after the vitals' ack)
            answers: dict[str, str] = {}
            while len(answers) < 2:
                got, _ = await until(crew, lambda f: ack("v1")(f) or ack("p1")(f))
                answers[got["msg_id"]] = got["type"]
            assert answers == {"v1": "ack", "p1": "ack"}

        for round_, status in enumerate(("en_route", "on_scene", "transporting")):
            msg_id = f"s{round_}"
            await asyncio.gather(*(
                send(crew, {"type": "status", "msg_id": msg_id, "call_id": call_id,
                            "status": status, "at": now_iso()})
                for crew, call_id in crews))
            acks = await asyncio.gather(*(until(crew, ack(msg_id), timeout=DEADLINE_S)
                                          for crew, _ in crews))
            assert [a["type"] for a, _ in acks] == ["ack"] * CREWS, acks

        r = await c.http.get(f"{c.urls[0]}/v1/vehicles", headers=c.auth())
        vehicles = r.json()["vehicles"]
        assert [v["status"] for v in vehicles if v["call_id"] is not None] \
            == ["transporting"] * CREWS, vehicles

        # Clearing with calls queued: each frame also drains the queue and sends a mission.
        for i in range(QUEUED):
            queued = await c.new_call(number=f"137{i:08d}")
            assert queued["status"] == "queued", queued
        await asyncio.gather(*(
            send(crew, {"type": "status", "msg_id": "s9", "call_id": call_id,
                        "status": "available", "at": now_iso()})
            for crew, call_id in crews))
        acks = await asyncio.gather(*(until(crew, ack("s9"), timeout=DEADLINE_S)
                                      for crew, _ in crews))
        assert [a["type"] for a, _ in acks] == ["ack"] * CREWS, acks
