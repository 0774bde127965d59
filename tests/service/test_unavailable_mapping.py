"""Every way PostgreSQL can be unavailable is a 503 with Retry-After, never a 500
(issue 14, defect 13). The errors are raised by a route added for the test, as asyncpg
raises them; the private-cluster tests in tests/fault provoke them for real."""

from __future__ import annotations

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from dispatch.api.errors import install_error_handlers

FAULTS = [
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
    asyncpg.exceptions.InternalClientError("unexpected"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    asyncpg.exceptions.InterfaceError("connection has been released back to the pool"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    TimeoutError(),  # pool.acquire's timeout
    ConnectionRefusedError(111, "Connect call failed"),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: type(f).__name__)
async def test_postgres_faults_are_503_with_retry_after(fault: Exception) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise fault

    async with AsyncClient(transport=ASGITransport(app=app, raise_app_exceptions=False),
                           base_url="http://t") as client:
        r = await client.get("/boom")
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"]
    assert r.json()["error"] == "unavailable"
