"""Fixtures shared by the service tests: the real PostgreSQL and Redis, isolated per test.

Each `service` gets its own PostgreSQL schema and Redis key prefix, so tests (and
concurrent test runs) never see each other's data. Connection URLs come from
DISPATCH_TEST_DATABASE_URL / DISPATCH_TEST_REDIS_URL, defaulting to the local servers.

The application (dispatch.app, dispatch.config, dispatch.auth) is imported inside the
functions that build a service, never at module level: the pure cores' tests (geo, triage,
metrics, handover state) then run without loading the app, so a broken pure module fails in
its own test, and a mutation run over one module does not pay for importing the rest.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from dispatch.domain import Role

if TYPE_CHECKING:
    import httpx

    from dispatch.config import Settings
    from tests.routing.fake_osrm import FakeOsrm

DATABASE_URL = os.environ.get("DISPATCH_TEST_DATABASE_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DISPATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def isolated_settings(**overrides: Any) -> Settings:
    from dispatch.config import Settings

    tag = f"t_{secrets.token_hex(6)}"
    values: dict[str, Any] = {
        "database_url": DATABASE_URL, "redis_url": REDIS_URL, "db_schema": tag,
        "redis_prefix": tag, "db_pool_min": 1, "db_pool_max": 10,
        "jwt_secret": secrets.token_urlsafe(32),
    }
    values.update(overrides)
    return Settings(**values)


async def drop_isolation(settings: Settings) -> None:
    import asyncpg
    import redis.asyncio as aioredis

    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE')
    finally:
        await conn.close()
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@dataclass
class Service:
    settings: Settings
    client: httpx.AsyncClient
    app: Any

    def token(self, role: Role, *, vehicle_id: str | None = None,
              hospital_id: str | None = None) -> str:
        from dispatch.auth import issue_token

        return issue_token(secret=self.settings.jwt_secret, issuer=self.settings.jwt_issuer,
                           subject=f"test-{role.value}", role=role, now=datetime.now(UTC),
                           ttl_s=3600, vehicle_id=vehicle_id, hospital_id=hospital_id)

    def auth(self, role: Role = Role.DISPATCHER, **binding: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **binding)}"}

    async def load(self, collection: dict[str, Any]) -> None:
        r = await self.client.post("/v1/admin/reference", json=collection,
                                   headers=self.auth(Role.ADMIN))
        assert r.status_code == 200, r.text


@asynccontextmanager
async def running_service(
    clock: Callable[[], datetime] | None = None, **overrides: Any
) -> AsyncIterator[Service]:
    """A service on its own schema and key prefix, with settings `overrides`; `clock`
    stands in for the requests' clock (a test that plays a call chain's later clocks)."""
    import httpx
    from asgi_lifespan import LifespanManager

    from dispatch.api.deps import get_now
    from dispatch.app import create_app

    settings = isolated_settings(**overrides)
    app = create_app(settings)
    if clock is not None:
        app.dependency_overrides[get_now] = clock
    try:
        # generous limits: CI machines are small and shared
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as c:
                yield Service(settings=settings, client=c, app=manager.app)
    finally:
        await drop_isolation(settings)


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    async with running_service() as s:
        yield s


@pytest.fixture
async def osrm() -> AsyncIterator[FakeOsrm]:
    """A fake OSRM `table` service on 127.0.0.1, port 0 (a real HTTP peer)."""
    from tests.routing.fake_osrm import FakeOsrm

    fake = FakeOsrm()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    fake.base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield fake
        fake.release.set()
        server.close()
        await server.wait_closed()
