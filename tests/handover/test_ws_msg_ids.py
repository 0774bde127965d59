"""A crew's msg_id names a frame within its call: reused on a later call it is a new frame,
resent unchanged it is answered with the first ack, resent changed it is refused."""

from __future__ import annotations

import asyncpg

from dispatch.domain import Role
from tests.conftest import DATABASE_URL
from tests.handover.wsclient import ack, cluster, event, now_iso, recv, send, until


async def test_a_msg_id_reused_on_a_later_call_is_stored_and_changed_content_is_refused(
) -> None:
    async with cluster(1, vehicles=1) as c:
        first_call = await c.new_call(number="13800000001")
        call_1, vehicle = first_call["id"], first_call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)  # snapshot
            vitals = {"type": "vitals", "msg_id": "1", "call_id": call_1, "hr": 80,
                      "at": now_iso()}
            await send(crew, vitals)
            first, _ = await until(crew, ack("1"))
            assert first["type"] == "ack", first
            await send(crew, vitals)  # a true resend: the first answer again
            assert (await until(crew, ack("1")))[0] == first
            await send(crew, {**vitals, "hr": 140})  # the same id, other content
            refused, _ = await until(crew, ack("1"))
            assert refused["type"] == "error" and refused["code"] == 4409, refused
            assert refused["field"] == "msg_id" and "'1'" in refused["reason"]
            await send(crew, {"type": "status", "msg_id": "2", "call_id": call_1,
                              "status": "available", "at": now_iso()})
            cleared, _ = await until(crew, ack("2"))
            assert cleared["type"] == "ack", cleared

            # The one vehicle takes the next call; the tablet numbers its frames anew.
            second_call = await c.new_call(number="13800000002")
            call_2 = second_call["id"]
            assert second_call["assignments"][0]["vehicle_id"] == vehicle
            await until(crew, event("mission", call_2))
            await send(crew, {"type": "vitals", "msg_id": "1", "call_id": call_2, "hr": 120,
                              "at": now_iso()})
            again, _ = await until(crew, ack("1"))
            assert again["type"] == "ack" and again["event_id"] != first["event_id"], again
            await send(crew, {"type": "status", "msg_id": "2", "call_id": call_2,
                              "status": "en_route", "at": now_iso()})
            departed, _ = await until(crew, ack("2"))
            assert departed["type"] == "ack", departed
            assert departed["event_id"] != cleared["event_id"]

        db = await asyncpg.connect(DATABASE_URL,
                                   server_settings={"search_path": c.settings.db_schema})
        try:
            stored = await db.fetch(
                "SELECT msg_id, kind, body->>'hr' AS hr FROM crew_messages WHERE call_id = $1"
                " ORDER BY id", call_2)
            assert [(r["msg_id"], r["kind"], r["hr"]) for r in stored] == [
                ("1", "vitals", "120"), ("2", "status", None)]
            # the refused change left the first call's frame as it was
            assert await db.fetchval(
                "SELECT body->>'hr' FROM crew_messages WHERE call_id = $1 AND msg_id = '1'",
                call_1) == "80"
        finally:
            await db.close()
        r = await c.http.get(f"{c.urls[0]}/v1/vehicles/{vehicle}", headers=c.auth())
        assert r.json()["status"] == "en_route", r.json()
