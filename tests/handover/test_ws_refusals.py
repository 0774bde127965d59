"""Refused frames are answered in their turn; a protocol error closes the link only after
the frames sent before it are answered."""

from __future__ import annotations

import asyncpg

from dispatch.api.ws_session import MAX_REFUSED_IN_A_ROW
from dispatch.domain import Role
from tests.conftest import DATABASE_URL
from tests.handover.wsclient import cluster, now_iso, recv, send, until_closed


def answers(frames: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """(type, msg_id, field) of the acks and errors, in the order received."""
    return [(f["type"], f.get("msg_id"), f.get("field")) for f in frames
            if f["type"] in ("ack", "error")]


async def test_frames_sent_before_a_protocol_error_are_acked_before_the_close() -> None:
    async with cluster(1) as c, c.crew_of_new_call() as (crew, call_id, vehicle):
        await send(crew, {"type": "vitals", "msg_id": "v1", "call_id": call_id,
                          "hr": 101, "at": now_iso()})
        await send(crew, {"type": "position", "msg_id": "p1", "call_id": call_id,
                          "lon": 116.40, "lat": 39.91, "at": now_iso()})
        await crew.send("{not json")
        frames, close = await until_closed(crew)
        assert close is not None and close.code == 1007
        answered = answers(frames)
        assert sorted(answered[:2]) == [("ack", "p1", None), ("ack", "v1", None)]
        assert answered[2:] == [("error", None, None)]
        assert frames[-1]["code"] == 1007 and frames[-1]["reason"].startswith("invalid JSON")
        stored = await asyncpg.connect(DATABASE_URL,
                                       server_settings={"search_path": c.settings.db_schema})
        try:
            assert await stored.fetchval(
                "SELECT body->>'hr' FROM crew_messages WHERE vehicle_id = $1 AND msg_id = 'v1'",
                vehicle) == "101"
        finally:
            await stored.close()


async def test_a_frame_refused_for_its_content_is_answered_between_its_neighbours() -> None:
    async with cluster(1) as c, c.crew_of_new_call() as (crew, call_id, _):
        for msg_id, hr in (("v1", 90), ("v2", "fast"), ("v3", 92)):
            await send(crew, {"type": "vitals", "msg_id": msg_id, "call_id": call_id,
                              "hr": hr, "at": now_iso()})
        frames: list[dict[str, object]] = []
        while len(answers(frames)) < 3:
            frames.append(await recv(crew))
        assert answers(frames) == [("ack", "v1", None), ("error", "v2", "hr"),
                                   ("ack", "v3", None)]


async def test_too_many_refused_frames_in_a_row_close_the_link_with_1008() -> None:
    async with cluster(1) as c, c.crew_of_new_call() as (crew, call_id, _):
        def vitals(msg_id: str, hr: int) -> dict[str, object]:
            return {"type": "vitals", "msg_id": msg_id, "call_id": call_id, "hr": hr,
                    "at": now_iso()}

        # an accepted frame starts the count again
        bad = [f"bad{i}" for i in range(MAX_REFUSED_IN_A_ROW - 1)]
        worse = [f"worse{i}" for i in range(MAX_REFUSED_IN_A_ROW)]
        for msg_id in bad:
            await send(crew, vitals(msg_id, 999))
        await send(crew, vitals("good", 99))
        for msg_id in worse:
            await send(crew, vitals(msg_id, 999))
        frames, close = await until_closed(crew)
        assert close is not None and close.code == 1008
        assert close.reason == "too many refused frames"
        assert answers(frames) == ([("error", m, "hr") for m in bad] + [("ack", "good", None)]
                                   + [("error", m, "hr") for m in worse])


async def test_a_console_is_told_why_a_resume_frame_was_refused_and_stays_open() -> None:
    async with cluster(1) as c, c.ws(0, "console", Role.DISPATCHER) as console:
        assert (await recv(console))["type"] == "snapshot"
        await send(console, {"type": "resume", "last_event_id": "not-a-stream-id"})
        refused = await recv(console)
        assert refused["type"] == "error" and refused["code"] == 1007, refused
        assert refused["field"] == "last_event_id"
        await send(console, {"type": "resume", "last_event_id": "0-0"})
        assert (await recv(console))["type"] in ("snapshot", "event")
