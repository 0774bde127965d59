"""Console snapshots and refused websocket clients in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dispatch.domain import Role
from tests.handover.wsclient import WAIT_S, Cluster, ack, cluster, now_iso, recv, send, until


async def _audit(c: Cluster, **query: str) -> list[dict[str, Any]]:
    r = await c.http.get(f"{c.urls[0]}/v1/audit", params=query, headers=c.auth(Role.AUDITOR))
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def test_a_console_snapshot_is_one_audit_row_naming_every_call_shown() -> None:
    async with cluster(1) as c:
        first = (await c.new_call())["id"]
        second = (await c.new_call(number="13800000002"))["id"]
        async with c.ws(0, "console", Role.DISPATCHER) as console:
            snap = await recv(console)
            assert snap["type"] == "snapshot"
            shown = {call["id"] for call in snap["calls"][0]["queue"]}
            assert shown == {first, second}
        reads = [e for e in await _audit(c) if e["detail"].get("via") == "console_snapshot"]
        assert len(reads) == 1  # one row per snapshot, not one per patient
        assert reads[0]["action"] == "read_calls" and reads[0]["role"] == "dispatcher"
        assert set(reads[0]["detail"]["call_ids"]) == shown
        # an auditor asking about one call finds the snapshot that showed it
        assert reads[0]["id"] in {e["id"] for e in await _audit(c, call_id=second)}


async def test_refused_websocket_clients_and_frames_are_audited() -> None:
    async with cluster(1) as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        for query in ({"token": c.token(Role.CREW, vehicle_id="V0000")}, {"token": "not-a-jwt"}):
            async with connect(c.ws_url(0, "console", **query), open_timeout=WAIT_S) as ws:
                with pytest.raises(ConnectionClosed):
                    await recv(ws)
        other = next(v for v in ("V0000", "V0001", "V0002", "V0003") if v != vehicle)
        async with c.ws(0, "crew", Role.CREW, vehicle_id=other) as crew:
            await recv(crew)
            await send(crew, {"type": "vitals", "msg_id": "x", "call_id": call_id, "hr": 70,
                              "at": now_iso()})
            refused, _ = await until(crew, ack("x"))
            assert refused["type"] == "error" and refused["code"] == 1008
        rows = [e for e in await _audit(c) if e["action"] == "refused"]
        assert [(e["role"], e["detail"]["status"], e["detail"]["path"]) for e in rows] == [
            ("crew", 403, "/v1/ws/console"), ("none", 401, "/v1/ws/console"),
            ("crew", 403, "/v1/ws/crew")]
        assert all(e["detail"]["method"] == "WEBSOCKET" for e in rows)
        assert rows[0]["vehicle_id"] == "V0000" and "may not use" in rows[0]["detail"]["reason"]
        assert rows[2]["vehicle_id"] == other and rows[2]["call_id"] == call_id
