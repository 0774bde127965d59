"""Failure modes: Redis losing the live index, Redis becoming unreachable mid-service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import redis.asyncio as aioredis

from tests.conftest import DATABASE_URL, REDIS_URL, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.waiting import eventually, indexed


async def test_index_lost_by_redis_is_rebuilt_from_postgresql() -> None:
    async with running_service(index_check_s=0.05) as service:
        await service.load(city(n_vehicles=3))
        redis = aioredis.Redis.from_url(REDIS_URL)
        try:
            prefix = service.settings.redis_prefix
            keys = [k async for k in redis.scan_iter(match=f"{prefix}:geo:*")]
            assert keys
            await redis.delete(*keys)  # what a Redis restart without persistence leaves
            await eventually(lambda: redis.exists(f"{prefix}:geo:built"),
                             what="the live index rebuilt")
        finally:
            await redis.aclose()
        r = await service.client.post("/v1/calls", json=call_body(*CENTRE), headers=service.auth())
        assert r.status_code == 201 and r.json()["status"] == "assigned"


class TcpProxy:
    """Forwards 127.0.0.1:<port> to Redis; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                with contextlib.suppress(ConnectionError):
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
            finally:
                dst.close()
                with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                    await dst.wait_closed()

        for task in (asyncio.create_task(pipe(reader, up_w)),
                     asyncio.create_task(pipe(up_r, writer))):
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def redis_proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    await proxy.start()
    try:
        yield proxy
    finally:
        with contextlib.suppress(AssertionError, RuntimeError):
            await proxy.cut()


async def test_redis_down_takes_calls_and_the_sweep_assigns_them_after() -> None:
    async with redis_proxy() as proxy, running_service(
            redis_url=f"redis://127.0.0.1:{proxy.port}/0", redis_timeout_s=1.0,
            index_check_s=0.3, queue_sweep_s=0.3) as service:
        await service.load(city(n_vehicles=3))
        first = await service.client.post("/v1/calls", json=call_body(*CENTRE),
                                          headers=service.auth())
        assert first.status_code == 201
        await proxy.cut()
        # PostgreSQL is the record: a call taken while Redis is down is stored, queued
        r = await service.client.post("/v1/calls", json=call_body(*CENTRE, number="13900000009"),
                                      headers={**service.auth(), "Idempotency-Key": "k-503"})
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "queued"
        ready = await service.client.get("/readyz")
        assert ready.status_code == 503
        conn = await asyncpg.connect(DATABASE_URL)
        try:
            async def status_of(call_id: str) -> str:
                value: str = await conn.fetchval(
                    f'SELECT status FROM "{service.settings.db_schema}".calls '
                    "WHERE id = $1::uuid", call_id)
                return value

            assert await status_of(first.json()["id"]) == "assigned"
            assert await status_of(r.json()["id"]) == "queued"
            # Redis back: the index is rebuilt and the sweep gives the call its vehicle
            await proxy.restore()

            async def assigned() -> bool:
                return await status_of(r.json()["id"]) == "assigned"

            await eventually(assigned, within_s=15, what="the queued call assigned")
        finally:
            await conn.close()


async def test_a_status_while_redis_is_down_is_applied_and_indexed_once_it_is_back() -> None:
    async with redis_proxy() as proxy, running_service(
            redis_url=f"redis://127.0.0.1:{proxy.port}/0", redis_timeout_s=1.0,
            index_check_s=0.3, queue_sweep_s=0.3) as service:
        await service.load(city(n_vehicles=1))
        call = (await service.client.post("/v1/calls", json=call_body(*CENTRE),
                                           headers=service.auth())).json()
        vehicle = call["assignments"][0]["vehicle_id"]
        await proxy.cut()
        # PostgreSQL holds the status: the crew's clearing is applied, not refused
        r = await service.client.post(f"/v1/vehicles/{vehicle}/status",
                                      json={"status": "available", "call_id": call["id"]},
                                      headers=service.auth())
        assert r.status_code == 200, r.text
        await proxy.restore()
        redis = aioredis.Redis.from_url(REDIS_URL)
        key = f"{service.settings.redis_prefix}:geo:available:als"
        try:
            # the index missed the write and was rebuilt from PostgreSQL
            await eventually(lambda: indexed(redis, key, vehicle),
                             what=f"{vehicle} back in the live index")
        finally:
            await redis.aclose()
