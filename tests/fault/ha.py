"""Deployments with no single server of a kind: Redis behind three Sentinels with a
replica, or PostgreSQL with a synchronous streaming standby. Each is started on free
ports for one test and removed after it, as tests/fault/stack.py does for one of each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from redis.exceptions import RedisError

from dispatch.cli import demo_collection
from loadtests.local import stop_processes
from tests.fault.servers import (
    PrivatePostgres,
    PrivateRedis,
    PrivateSentinel,
    PrivateStandby,
    replicate_synchronously,
    wait_replicated,
    wait_sentinels_agree,
)
from tests.fault.stack import Stack

SERVICE = "mymaster"


@dataclass
class SentinelSet:
    """A Redis master, its replica and three Sentinels watching them."""

    master: PrivateRedis
    replica: PrivateRedis
    sentinels: list[PrivateSentinel] = field(default_factory=list)

    @property
    def url(self) -> str:
        """DISPATCH_REDIS_URL naming the Sentinels, not a server."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    async def master_port(self) -> int:
        """The master's port as the first Sentinel that answers names it."""
        for sentinel in self.sentinels:
            try:
                return int((await sentinel.master())["port"])
            except (OSError, RedisError):
                continue
        raise RuntimeError("no Sentinel answers")

    async def wait_failover(self, *, old_port: int, timeout_s: float = 30.0) -> int:
        """Wait until the Sentinels name a master other than `old_port`; return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (port := await self.master_port()) == old_port:
            if loop.time() > deadline:
                raise AssertionError(f"no failover from {old_port} in {timeout_s:.0f} s")
            await asyncio.sleep(0.05)
        return port

    def close(self) -> None:
        for sentinel in self.sentinels:
            sentinel.close()
        self.replica.close()
        self.master.close()


@asynccontextmanager
async def sentinel_set() -> AsyncIterator[SentinelSet]:
    master = PrivateRedis()
    await master.start()
    redis = SentinelSet(master=master,
                        replica=PrivateRedis(("--replicaof", "127.0.0.1", str(master.port))))
    try:
        await redis.replica.start()
        await wait_replicated(master, redis.replica)
        redis.sentinels = [PrivateSentinel(master_port=master.port, service=SERVICE)
                           for _ in range(3)]
        for sentinel in redis.sentinels:
            await sentinel.start()
        await wait_sentinels_agree(redis.sentinels, replicas=1)
        yield redis
    finally:
        redis.close()


@dataclass
class Cluster:
    """A PostgreSQL primary and its synchronous standby."""

    primary: PrivatePostgres
    standby: PrivateStandby

    @property
    def dsn(self) -> str:
        """DISPATCH_DATABASE_URL listing both: asyncpg connects to whichever takes writes."""
        return (f"postgresql://postgres@127.0.0.1:{self.primary.port},"
                f"127.0.0.1:{self.standby.port}/{self.primary.database}"
                "?target_session_attrs=read-write")


@asynccontextmanager
async def postgres_cluster() -> AsyncIterator[Cluster]:
    primary = PrivatePostgres()
    standby = PrivateStandby(primary)
    try:
        primary.start()
        await primary.create_database()
        standby.start()
        await replicate_synchronously(primary, standby)
        yield Cluster(primary=primary, standby=standby)
    finally:
        standby.close()
        primary.close()


@asynccontextmanager
async def serving(
    *, pg: PrivatePostgres, redis: PrivateRedis, overrides: dict[str, str], instances: int
) -> AsyncIterator[Stack]:
    """`instances` service processes with `overrides` (the HA URLs), the demo loaded."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        s = Stack(pg=pg, redis=redis, http=http, overrides=overrides)
        try:
            await s.start_instance()  # the first migrates
            await asyncio.gather(*[s.start_instance() for _ in range(instances - 1)])
            await s.load_reference(demo_collection())
            yield s
        finally:
            stop_processes([p for p in s.procs if p.poll() is None])
