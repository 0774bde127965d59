"""Who may connect to which channel, and what happens to frames that break the rules."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dispatch.domain import Role
from tests.handover.wsclient import WAIT_S, ack, cluster, now_iso, recv, send, until


async def _closed_with(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with connect(url, additional_headers=headers, open_timeout=WAIT_S) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


async def test_channels_refuse_wrong_roles_and_bad_tokens_with_1008() -> None:
    async with cluster(1) as c:
        cases = [
            ("crew", {"token": c.token(Role.HOSPITAL, hospital_id="H1")}, "may not use"),
            ("hospital", {"token": c.token(Role.CREW, vehicle_id="V0000")}, "may not use"),
            ("console", {"token": c.token(Role.CREW, vehicle_id="V0000")}, "may not use"),
            ("hospital", {"token": "not-a-jwt"}, "invalid token"),
            ("hospital", {}, "missing bearer token"),
        ]
        for channel, query, reason in cases:
            code, why = await _closed_with(c.ws_url(0, channel, **query))
            assert code == 1008 and reason in why, (channel, code, why)
        # the header works as well as the query parameter
        url = c.ws_url(0, "hospital")
        async with connect(url, additional_headers=c.auth(Role.HOSPITAL, hospital_id="H2"),
                           open_timeout=WAIT_S) as ws:
            assert (await recv(ws))["type"] == "snapshot"


async def test_a_crew_writes_only_to_its_own_mission_and_screens_see_only_their_own() -> None:
    async with cluster(1) as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        other = next(v for v in ("V0000", "V0001", "V0002", "V0003") if v != vehicle)
        async with c.ws(0, "crew", Role.CREW, vehicle_id=other) as crew, \
                c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H2") as h2:
            await recv(crew)
            assert (await recv(h2))["calls"] == []
            await send(crew, {"type": "vitals", "msg_id": "x", "call_id": call_id, "hr": 70,
                              "at": now_iso()})
            refused, _ = await until(crew, ack("x"))
            assert refused["type"] == "error" and refused["code"] == 1008
            await send(h2, {"type": "ack", "msg_id": "y", "call_id": call_id})
            refused, _ = await until(h2, ack("y"))
            assert refused["type"] == "error" and refused["code"] == 1008
        r = await c.http.get(f"{c.urls[0]}/v1/incidents/{call_id}/handover",
                             headers=c.auth(Role.CREW, vehicle_id=other))
        assert r.status_code == 403


@pytest.mark.parametrize(("raw", "code", "closes"), [
    ('{"type": "vitals", "msg_id": "m1", "call_id": "%s", "hr": 999, "at": "%s"}', 1007, False),
    ('{"type": "vitals", "msg_id": "m1", "call_id": "%s", "at": "%s"}', 1007, False),
    ('{"type": "diversion", "msg_id": "m1", "call_id": "%s", "at": "%s"}', 1008, True),
    ('{"type": "teleport", "msg_id": "m1", "call_id": "%s", "at": "%s"}', 1008, True),
    ('{"msg_id": "m1", "call_id": "%s", "at": "%s"}', 1007, True),
    ('not json %s %s', 1007, True),
    ('["a list", "%s", "%s"]', 1007, True),
])
async def test_malformed_crew_frames(raw: str, code: int, closes: bool) -> None:
    async with cluster(1) as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew, \
                c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as bystander:
            await recv(crew)
            await recv(bystander)
            await crew.send(raw % (call_id, now_iso()))
            error = await recv(crew)
            assert error["type"] == "error" and error["code"] == code, error
            if closes:
                with pytest.raises(ConnectionClosed) as info:
                    await recv(crew)
                assert info.value.rcvd is not None and info.value.rcvd.code == code
            else:
                await send(crew, {"type": "vitals", "msg_id": "ok", "call_id": call_id,
                                  "hr": 70, "at": now_iso()})
                assert (await until(crew, ack("ok")))[0]["type"] == "ack"
            # the server and the other connection carry on
            await send(bystander, {"type": "vitals", "msg_id": "b", "call_id": call_id,
                                   "hr": 71, "at": now_iso()})
            assert (await until(bystander, ack("b")))[0]["type"] == "ack"


async def test_too_big_frame_closes_with_1009() -> None:
    async with cluster(1) as c:
        call = await c.new_call()
        vehicle = call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)
            await crew.send('{"type": "vitals", "pad": "' + "x" * 70_000 + '"}')
            assert (await recv(crew))["code"] == 1009
            with pytest.raises(ConnectionClosed) as info:
                await recv(crew)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009
