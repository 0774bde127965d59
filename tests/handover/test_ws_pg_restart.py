"""PostgreSQL restarted under an open crew link: every frame is answered, none in silence."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.client import ClientConnection

from dispatch.domain import Role
from tests.handover.private_pg import private_postgres
from tests.handover.wsclient import WAIT_S, ack, cluster, now_iso, recv, send, until

RECOVERY_S = 30.0


async def answered(crew: ClientConnection, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a frame, resending it while the answer says so, until it is acked: every answer.

    Each send must be answered (an ack, or an error) within WAIT_S: silence fails the test.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECOVERY_S
    answers: list[dict[str, Any]] = []
    while True:
        await send(crew, frame)
        got, _ = await until(crew, ack(frame["msg_id"]), timeout=WAIT_S)
        answers.append(got)
        if got["type"] == "ack":
            return answers
        assert got["code"] == 1011 and "resend" in got["reason"], got
        assert loop.time() < deadline, answers
        await asyncio.sleep(0.5)


async def test_every_crew_frame_after_a_postgresql_restart_is_answered() -> None:
    async with private_postgres() as pg, cluster(1, database_url=pg.url) as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)  # snapshot
            # every kind of write has its connection in the pool or held by its writer
            for frame in (
                {"type": "vitals", "msg_id": "v1", "call_id": call_id, "hr": 90},
                {"type": "position", "msg_id": "p1", "call_id": call_id, "lon": 118.78,
                 "lat": 32.04},
                {"type": "status", "msg_id": "s1", "call_id": call_id, "status": "en_route"},
                {"type": "activate_team", "msg_id": "t1", "call_id": call_id,
                 "team": "cath_lab"},
            ):
                timed = frame if frame["type"] == "activate_team" else {"at": now_iso(), **frame}
                assert [a["type"] for a in await answered(crew, timed)] == ["ack"]

            await pg.restart()

            for frame in (
                {"type": "vitals", "msg_id": "v2", "call_id": call_id, "hr": 95},
                {"type": "position", "msg_id": "p2", "call_id": call_id, "lon": 118.79,
                 "lat": 32.05},
                {"type": "status", "msg_id": "s2", "call_id": call_id, "status": "on_scene"},
                {"type": "treatment", "msg_id": "r1", "call_id": call_id,
                 "kind": "procedure", "name": "12-lead ECG"},
            ):
                await answered(crew, {"at": now_iso(), **frame})

            # While it is down: each frame is refused with "resend", the link stays open.
            await pg.stop()
            down = [{"type": "vitals", "msg_id": "v3", "call_id": call_id, "hr": 99,
                     "at": now_iso()},
                    {"type": "status", "msg_id": "s3", "call_id": call_id,
                     "status": "transporting", "at": now_iso()}]
            for frame in down:
                await send(crew, frame)
                got, _ = await until(crew, ack(frame["msg_id"]))
                assert got["type"] == "error" and got["code"] == 1011, got
                assert "resend" in got["reason"], got
            await pg.start()
            for frame in down:
                await answered(crew, frame)
        r = await c.http.get(f"{c.urls[0]}/v1/vehicles/{vehicle}", headers=c.auth())
        assert r.json()["status"] == "transporting", r.json()
