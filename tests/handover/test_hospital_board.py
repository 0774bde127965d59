"""A centre's board and reads hold only its live inbound patients: a cancelled call
leaves at once (with a removal frame), a handed-over or closed one after the retention
window (DISPATCH_HOSPITAL_RETENTION_S)."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import ClientConnection

from dispatch.domain import Role
from tests.handover.wsclient import Cluster, ack, cluster, event, now_iso, recv, send, until
from tests.waiting import WITHIN_S, eventually

RETENTION_S = 5.0


async def _reads(c: Cluster, call_id: str) -> tuple[int, int]:
    """What centre H1 gets for the call and for its handover record."""
    auth = c.auth(Role.HOSPITAL, hospital_id="H1")
    call = await c.http.get(f"{c.urls[0]}/v1/calls/{call_id}", headers=auth)
    record = await c.http.get(f"{c.urls[0]}/v1/incidents/{call_id}/handover", headers=auth)
    return call.status_code, record.status_code


async def _board(c: Cluster) -> list[str]:
    """The patients on a new H1 screen's snapshot."""
    async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
        snap = await recv(screen)
    assert snap["type"] == "snapshot"
    return [p["call_id"] for p in snap["calls"]]


async def _statuses(crew: ClientConnection, call_id: str, statuses: list[str]) -> None:
    for status in statuses:
        msg_id = f"{call_id[:8]}-{status}"
        await send(crew, {"type": "status", "msg_id": msg_id, "call_id": call_id,
                          "status": status, "at": now_iso()})
        got, _ = await until(crew, ack(msg_id))
        assert got["type"] == "ack", got


async def test_a_cancelled_call_leaves_the_board_at_once_and_its_centre_loses_access() -> None:
    async with cluster(1) as c:
        call_id = (await c.new_call())["id"]
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
            assert [p["call_id"] for p in (await recv(screen))["calls"]] == [call_id]
            assert await _reads(c, call_id) == (200, 200)
            r = await c.http.post(f"{c.urls[0]}/v1/calls/{call_id}/cancel",
                                  json={"reason": "caller says no longer needed"},
                                  headers=c.auth())
            assert r.status_code == 200, r.text
            removed, _ = await until(screen, event("patient_removed", call_id))
            assert removed["data"]["reason"] == "call cancelled"
        assert await _reads(c, call_id) == (403, 403)
        assert await _board(c) == []
        r = await c.http.get(f"{c.urls[0]}/v1/calls/{call_id}", headers=c.auth())
        assert r.status_code == 200 and r.json()["status"] == "cancelled"


async def test_handed_over_and_closed_calls_leave_after_the_retention_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISPATCH_HOSPITAL_RETENTION_S", str(RETENTION_S))
    async with cluster(1) as c:
        handed = await c.new_call()
        closed = await c.new_call(number="13800000002")
        handed_id, closed_id = handed["id"], closed["id"]
        vehicles = {call["id"]: call["assignments"][0]["vehicle_id"] for call in (handed, closed)}
        assert len(set(vehicles.values())) == 2
        to_hospital = ["en_route", "on_scene", "transporting", "at_hospital"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicles[handed_id]) as crew_a, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicles[closed_id]) as crew_b, \
                c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
            await recv(crew_a)
            await recv(crew_b)
            assert sorted(p["call_id"] for p in (await recv(screen))["calls"]) \
                == sorted([handed_id, closed_id])
            await _statuses(crew_a, handed_id, to_hospital)
            await send(screen, {"type": "handover_complete", "msg_id": "done",
                                "call_id": handed_id})
            assert (await until(screen, ack("done")))[0]["type"] == "ack"
            # the other crew clears without a declared handover: the call closes
            await _statuses(crew_b, closed_id, [*to_hospital, "available"])
        r = await c.http.get(f"{c.urls[0]}/v1/calls/{closed_id}", headers=c.auth())
        assert r.json()["status"] == "closed"
        # inside the window: both still readable; the closed one (arrived) on the board
        assert await _reads(c, handed_id) == (200, 200)
        assert await _reads(c, closed_id) == (200, 200)
        assert await _board(c) == [closed_id]

        async def gone() -> bool:
            return (await _reads(c, handed_id) == (403, 403)
                    and await _reads(c, closed_id) == (403, 403) and await _board(c) == [])

        await eventually(gone, within_s=RETENTION_S + WITHIN_S,
                         what="both patients unreadable and off the board after the window")
        # the dispatcher's record is not the centre's
        r = await c.http.get(f"{c.urls[0]}/v1/incidents/{handed_id}/handover",
                             headers=c.auth())
        assert r.status_code == 200
