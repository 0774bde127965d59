"""The bare-laptop default: with no URLs set, an embedded PostgreSQL and an in-process
Redis start, and the service answers a call through the same code path."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from dispatch.app import create_app
from dispatch.auth import issue_token
from dispatch.config import Settings
from dispatch.domain import Role
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


async def test_embedded_default_answers_a_call(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("DISPATCH_REDIS_URL", raising=False)
    settings = Settings(data_dir=str(tmp_path / "data"), jwt_secret=secrets.token_urlsafe(32))
    assert settings.embedded_database and settings.embedded_redis
    app = create_app(settings)

    def auth(role: Role) -> dict[str, str]:
        token = issue_token(secret=settings.jwt_secret, issuer=settings.jwt_issuer,
                            subject="laptop", role=role, now=datetime.now(UTC), ttl_s=60)
        return {"Authorization": f"Bearer {token}"}

    async with LifespanManager(app, startup_timeout=120) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://laptop") as client:
            r = await client.post("/v1/admin/reference", json=city(n_vehicles=4),
                                  headers=auth(Role.ADMIN))
            assert r.status_code == 200, r.text
            r = await client.post("/v1/calls", json=call_body(*CENTRE),
                                  headers=auth(Role.DISPATCHER))
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "assigned"
            assert (await client.get("/readyz")).json() == {"status": "ready"}
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
