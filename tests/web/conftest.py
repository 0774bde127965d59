"""Browser tests of the screens: Debian's Chromium driven by Playwright, against a real
service process on the real PostgreSQL and Redis with the Nanjing demo data.

Skipped (with the reason) only when /usr/bin/chromium is not installed; Playwright's own
browser download is not used.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import pytest

from dispatch.auth import issue_token
from dispatch.cli import demo_collection
from dispatch.config import Settings
from dispatch.domain import Role
from dispatch.users import add_user
from loadtests.local import start_process, stop_processes, wait_ready
from tests.conftest import DATABASE_URL, drop_isolation, isolated_settings
from tests.instances import _env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)",
                allow_module_level=True)

from playwright.async_api import Browser, async_playwright  # noqa: E402

# One user per role, and a second receiving centre that must never see another's patient.
USERS: list[tuple[str, Role, dict[str, str]]] = [
    ("disp1", Role.DISPATCHER, {}),
    ("crew-v001", Role.CREW, {"vehicle_id": "V001"}),
    ("ed-h01", Role.HOSPITAL, {"hospital_id": "H01"}),
    ("ed-h02", Role.HOSPITAL, {"hospital_id": "H02"}),
]


@dataclass
class Site:
    url: str
    settings: Settings
    passwords: dict[str, str]
    http: httpx.AsyncClient

    def auth(self, role: Role = Role.DISPATCHER, **binding: str) -> dict[str, str]:
        token = issue_token(secret=self.settings.jwt_secret, issuer=self.settings.jwt_issuer,
                            subject=f"test-{role.value}", role=role, now=datetime.now(UTC),
                            ttl_s=3600, **binding)
        return {"Authorization": f"Bearer {token}"}

    async def api(self, method: str, path: str, **kwargs: Any) -> Any:
        r = await self.http.request(method, f"{self.url}{path}",
                                    headers=kwargs.pop("headers", None) or self.auth(),
                                    **kwargs)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    """A service process (recommend-only intake, so the dispatcher confirms) with users."""
    async with start_site(demo_collection()) as s:
        yield s


@asynccontextmanager
async def start_site(
    collection: dict[str, Any], users: list[tuple[str, Role, dict[str, str]]] = USERS, *,
    env: dict[str, str] | None = None, log: IO[bytes] | None = None,
) -> AsyncIterator[Site]:
    """A service process on its own schema with `collection` loaded and `users`; `env`
    adds settings, `log` takes its output at level info (access log included)."""
    settings = isolated_settings(auto_assign=False)
    env = _env(settings) | {"DISPATCH_AUTO_ASSIGN": "false"} | (env or {})
    url, proc = start_process(
        env=env, output=log,
        uvicorn_args=("--timeout-graceful-shutdown", "3", "--ws", "websockets-sansio",
                      *(("--log-level", "info") if log is not None else ())))
    try:
        await wait_ready(url=url, proc=proc)
        async with httpx.AsyncClient(timeout=30.0) as http:
            site = Site(url=url, settings=settings, passwords={}, http=http)
            await site.api("POST", "/v1/admin/reference", json=collection,
                           headers=site.auth(Role.ADMIN))
            conn = await asyncpg.connect(DATABASE_URL)
            try:
                await conn.execute(f'SET search_path TO "{settings.db_schema}", public')
                for name, role, binding in users:
                    password = secrets.token_urlsafe(9)
                    await add_user(conn=conn, name=name, role=role, password=password,
                                   **binding)
                    site.passwords[name] = password
            finally:
                await conn.close()
            yield site
    finally:
        stop_processes([proc])
        await drop_isolation(settings)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()
