"""A whole deployment for one fault test: private PostgreSQL and Redis, real instances.

Instances are uvicorn processes (as tests/instances.py starts them) that the test may
kill -9 and replace; their settings make the recovery loops quick enough for a test:
a 1 s queue sweep and index check, a 2 s PostgreSQL command timeout.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from dispatch.auth import issue_token
from dispatch.cli import demo_collection
from dispatch.domain import Role
from loadtests.local import start_process, stop_processes, wait_ready
from tests.fault.servers import PrivatePostgres, PrivateRedis

# Recovery loops of the service, shortened for the test (their defaults are ~5 s).
QUEUE_SWEEP_S = 1.0
INDEX_CHECK_S = 1.0
DB_COMMAND_TIMEOUT_S = 2.0
# the wait for a pooled connection: with the command timeout, the bound on any answer
DB_ACQUIRE_TIMEOUT_S = 1.0
REDIS_TIMEOUT_S = 2.0
JWT_ISSUER = "dispatch"


@dataclass
class Stack:
    """Private servers, the instances on them, and an HTTP client with tokens."""

    pg: PrivatePostgres
    redis: PrivateRedis
    http: httpx.AsyncClient
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    urls: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # settings that replace the ones above, e.g. a Sentinel URL or a multi-host DSN
    overrides: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DISPATCH_DATABASE_URL": self.pg.dsn, "DISPATCH_REDIS_URL": self.redis.url,
            "DISPATCH_DB_SCHEMA": "public", "DISPATCH_REDIS_PREFIX": "dispatch",
            "DISPATCH_JWT_SECRET": self.secret, "DISPATCH_JWT_ISSUER": JWT_ISSUER,
            "DISPATCH_DB_POOL_MIN": "1", "DISPATCH_DB_POOL_MAX": "10",
            "DISPATCH_DB_COMMAND_TIMEOUT_S": str(DB_COMMAND_TIMEOUT_S),
            "DISPATCH_DB_ACQUIRE_TIMEOUT_S": str(DB_ACQUIRE_TIMEOUT_S),
            "DISPATCH_REDIS_TIMEOUT_S": str(REDIS_TIMEOUT_S),
            "DISPATCH_INDEX_CHECK_S": str(INDEX_CHECK_S),
            "DISPATCH_QUEUE_SWEEP_S": str(QUEUE_SWEEP_S),
            # no background refit competing with the test for two small cores
            "DISPATCH_ETA_RECALIBRATE_S": "0",
        })
        env.update(self.overrides)
        return env

    def token(self, role: Role = Role.DISPATCHER, **binding: str) -> str:
        return issue_token(secret=self.secret, issuer=JWT_ISSUER, subject=f"fault-{role.value}",
                           role=role, now=datetime.now(UTC), ttl_s=3600, **binding)

    def auth(self, role: Role = Role.DISPATCHER, **binding: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **binding)}"}

    async def start_instance(self) -> int:
        """Start one more instance and wait until it answers; return its index."""
        url, proc = start_process(env=self.env(),
                                  uvicorn_args=("--timeout-graceful-shutdown", "3"))
        self.urls.append(url)
        self.procs.append(proc)
        await wait_ready(url=url, proc=proc, timeout_s=60.0)
        return len(self.urls) - 1

    def kill9(self, instance: int) -> None:
        proc = self.procs[instance]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    async def replace(self, instance: int) -> None:
        """Start a new process in place of `instance` (on a new port) and wait for it."""
        url, proc = start_process(env=self.env(),
                                  uvicorn_args=("--timeout-graceful-shutdown", "3"))
        self.urls[instance] = url
        self.procs[instance] = proc
        await wait_ready(url=url, proc=proc, timeout_s=60.0)

    async def load_reference(self, collection: dict[str, Any]) -> None:
        r = await self.http.post(f"{self.urls[0]}/v1/admin/reference", json=collection,
                                 headers=self.auth(Role.ADMIN), timeout=60.0)
        assert r.status_code == 200, r.text

    @asynccontextmanager
    async def db(self) -> AsyncIterator[asyncpg.Connection]:
        """A direct connection to the private cluster, for what the test checks."""
        conn = await asyncpg.connect(self.pg.dsn)
        try:
            yield conn
        finally:
            await conn.close()


@asynccontextmanager
async def stack(
    *, instances: int = 2, collection: dict[str, Any] | None = None
) -> AsyncIterator[Stack]:
    """Private PostgreSQL and Redis, `instances` service processes, reference data loaded
    (the Nanjing demo unless `collection` is given); everything is stopped and removed on exit.
    """
    pg = PrivatePostgres()
    redis = PrivateRedis()
    s: Stack | None = None
    try:
        pg.start()
        await pg.create_database()
        await redis.start()
        async with httpx.AsyncClient(timeout=10.0) as http:
            s = Stack(pg=pg, redis=redis, http=http)
            await s.start_instance()  # the first migrates; the others start on a ready schema
            await asyncio.gather(*[s.start_instance() for _ in range(instances - 1)])
            await s.load_reference(collection if collection is not None else demo_collection())
            yield s
    finally:
        pg.thaw()  # a test that failed mid-freeze: let the instances shut down
        if s is not None:
            stop_processes([p for p in s.procs if p.poll() is None])
        redis.close()
        pg.close()


def station_points(collection: dict[str, Any]) -> list[tuple[float, float]]:
    """Where calls come from: around the stations (so every call has units in reach)."""
    return [(float(f["geometry"]["coordinates"][0]), float(f["geometry"]["coordinates"][1]))
            for f in collection["features"] if f["properties"]["type"] == "station"]
