"""A crew's positions and its clinical frames do not wait for each other's commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from dispatch.domain import Role
from tests.conftest import DATABASE_URL
from tests.handover.wsclient import Cluster, ack, cluster, event, now_iso, recv, send, until
from tests.waiting import waiting_for_lock


@asynccontextmanager
async def call_and_blocker() -> AsyncIterator[tuple[Cluster, str, str, asyncpg.Connection]]:
    """One instance, a call with its vehicle, and a PostgreSQL session to hold locks with."""
    async with cluster(1) as c:
        call = await c.new_call()
        blocker = await asyncpg.connect(DATABASE_URL,
                                        server_settings={"search_path": c.settings.db_schema})
        try:
            yield c, call["id"], call["assignments"][0]["vehicle_id"], blocker
        finally:
            await blocker.close()


async def test_vitals_are_acked_and_delivered_while_the_position_before_them_waits() -> None:
    async with call_and_blocker() as (c, call_id, vehicle, blocker):
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew, \
                c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
            await recv(crew)
            await recv(screen)
            # The vehicle's row is locked: recording its position has to wait.
            lock = blocker.transaction()
            await lock.start()
            await blocker.execute("SELECT 1 FROM vehicles WHERE id = $1 FOR UPDATE",
                                  vehicle)
            await send(crew, {"type": "position", "msg_id": "p1", "call_id": call_id,
                              "lon": 116.40, "lat": 39.91, "at": now_iso()})
            await send(crew, {"type": "vitals", "msg_id": "v1", "call_id": call_id,
                              "hr": 118, "at": now_iso()})
            acked, before = await until(crew, ack("v1"))
            assert acked["type"] == "ack"
            assert not [f for f in before if f.get("msg_id") == "p1"]
            frame, _ = await until(screen, event("vitals", call_id))
            assert frame["data"]["hr"] == 118
            # the position, still in hand
            await waiting_for_lock(blocker, statement="UPDATE vehicles")
            await lock.rollback()
            acked, _ = await until(crew, ack("p1"))
            assert acked["type"] == "ack"
            row = await blocker.fetchrow("SELECT lon, lat FROM vehicles WHERE id = $1",
                                         vehicle)
            assert (row["lon"], row["lat"]) == (116.40, 39.91)


async def test_positions_of_one_crew_are_acked_in_the_order_sent() -> None:
    async with cluster(1) as c, c.crew_of_new_call() as (crew, call_id, _):
        for i in range(5):
            await send(crew, {"type": "position", "msg_id": f"p{i}", "call_id": call_id,
                              "lon": 116.40 + i / 1000, "lat": 39.91, "at": now_iso()})
        acks = [(await until(crew, lambda f: f.get("type") == "ack"))[0]["msg_id"]
                for _ in range(5)]
        assert acks == [f"p{i}" for i in range(5)]


async def test_a_position_is_acked_while_the_vitals_before_it_wait_for_their_commit() -> None:
    async with call_and_blocker() as (c, call_id, vehicle, blocker):
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)
            # Nothing can be inserted into crew_messages: the vitals have to wait.
            lock = blocker.transaction()
            await lock.start()
            await blocker.execute("LOCK TABLE crew_messages IN EXCLUSIVE MODE")
            await send(crew, {"type": "vitals", "msg_id": "v1", "call_id": call_id,
                              "hr": 96, "at": now_iso()})
            await send(crew, {"type": "position", "msg_id": "p1", "call_id": call_id,
                              "lon": 116.41, "lat": 39.92, "at": now_iso()})
            acked, before = await until(crew, ack("p1"))
            assert acked["type"] == "ack"
            assert not [f for f in before if f.get("msg_id") == "v1"]
            await lock.rollback()
            acked, _ = await until(crew, ack("v1"))
            assert acked["type"] == "ack"
            assert await blocker.fetchval(
                "SELECT body->>'hr' FROM crew_messages WHERE msg_id = 'v1'") == "96"


async def test_a_frame_in_hand_when_the_crew_leaves_is_committed_and_published() -> None:
    async with call_and_blocker() as (c, call_id, vehicle, blocker):
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
            await recv(screen)
            lock = blocker.transaction()
            await lock.start()
            await blocker.execute("LOCK TABLE crew_messages IN EXCLUSIVE MODE")
            async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
                await recv(crew)
                await send(crew, {"type": "activate_team", "msg_id": "t1", "call_id": call_id,
                                  "team": "cath_lab"})
                # in hand, waiting for the lock
                await waiting_for_lock(blocker, statement="crew_messages")
            # The tablet is gone before its ack; the frame it sent still counts. The closing
            # handshake is over, so the service has the disconnect queued for the handler
            # before PostgreSQL hears of the rollback below.
            await lock.rollback()
            frame, _ = await until(screen, event("team_activated", call_id))
            assert frame["data"]["team"] == "cath_lab"
            assert await blocker.fetchval(
                "SELECT count(*) FROM crew_messages WHERE msg_id = 't1'") == 1
