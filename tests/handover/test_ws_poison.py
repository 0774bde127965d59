"""A crew frame PostgreSQL cannot store is refused alone, for its content: the other crews'
frames written with it are acknowledged, and the sender is never told to resend it."""

from __future__ import annotations

import asyncio

from dispatch.domain import Role
from tests.handover.wsclient import ack, cluster, now_iso, recv, send, until


async def test_a_nul_in_one_crews_frame_fails_neither_the_other_crew_nor_its_link() -> None:
    async with cluster(1) as c:
        first = await c.new_call(number="13800000001")
        second = await c.new_call(number="13800000002")
        call_a, vehicle_a = first["id"], first["assignments"][0]["vehicle_id"]
        call_b, vehicle_b = second["id"], second["assignments"][0]["vehicle_id"]
        assert vehicle_a != vehicle_b
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle_a) as crew_a, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle_b) as crew_b:
            await recv(crew_a)
            await recv(crew_b)
            for i in range(5):
                # sent together: one group commit would hold both
                await asyncio.gather(
                    send(crew_a, {"type": "treatment", "msg_id": f"t{i}", "call_id": call_a,
                                  "kind": "procedure", "name": "cpr\u0000", "at": now_iso()}),
                    send(crew_b, {"type": "vitals", "msg_id": f"v{i}", "call_id": call_b,
                                  "hr": 80 + i, "at": now_iso()}))
                refused, _ = await until(crew_a, ack(f"t{i}"))
                assert refused["type"] == "error" and refused["code"] == 1007, refused
                assert refused["field"] == "name" and "NUL" in refused["reason"], refused
                assert "resend" not in refused["reason"]
                acked, _ = await until(crew_b, ack(f"v{i}"))
                assert acked["type"] == "ack", acked
            # a time that has no UTC date cannot be stored either: refused as content
            await send(crew_b, {"type": "vitals", "msg_id": "late", "call_id": call_b,
                                "hr": 90, "at": "0001-01-01T00:00:00+14:00"})
            refused, _ = await until(crew_b, ack("late"))
            assert (refused["type"], refused["code"], refused["field"]) == ("error", 1007, "at")
            # the refusing crew's link goes on
            await send(crew_a, {"type": "treatment", "msg_id": "t9", "call_id": call_a,
                                "kind": "procedure", "name": "cpr", "at": now_iso()})
            assert (await until(crew_a, ack("t9")))[0]["type"] == "ack"
