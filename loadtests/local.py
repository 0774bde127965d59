"""`--start-local`: real uvicorn service processes on an isolated schema and Redis prefix.

Only used when asked; otherwise the harness drives whatever URL it is given. The isolation
(a random PostgreSQL schema and Redis key prefix) is dropped again on the way out.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

import asyncpg
import httpx
import redis.asyncio as aioredis

from dispatch.auth import issue_token
from dispatch.cli import demo_collection
from dispatch.config import Settings
from dispatch.domain import Role
from loadtests.client import JWT_ISSUER

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class LocalService:
    """Base URLs of the started instances and the secret their tokens are signed with."""

    urls: tuple[str, ...]
    jwt_secret: str
    schema: str
    prefix: str
    policy: str | None
    pids: tuple[int, ...] = ()  # the service processes


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def database_url() -> str:
    """The PostgreSQL the local service uses: DISPATCH_DATABASE_URL, else the local test one."""
    return os.environ.get("DISPATCH_DATABASE_URL") or DEFAULT_DATABASE_URL


def redis_url() -> str:
    """The Redis the local service uses: DISPATCH_REDIS_URL, else the local one."""
    return os.environ.get("DISPATCH_REDIS_URL") or DEFAULT_REDIS_URL


@asynccontextmanager
async def local_service(
    *, instances: int = 1, policy: str | None = None, pool_max: int = 20,
    extra_env: dict[str, str] | None = None, ws_deflate: bool | None = None,
    source: str | None = None, database: str | None = None,
) -> AsyncIterator[LocalService]:
    """Start `instances` processes with the demo city loaded; stop them and drop the data.

    `ws_deflate`: websocket compression (None: DISPATCH_WS_PER_MESSAGE_DEFLATE or its default).
    `source`: run the service from this source tree instead (its `dispatch` package, its
    migrations), e.g. an export of another branch to compare with.
    `database`: the PostgreSQL URL to use instead of `database_url()`.
    """
    database = database or database_url()
    tag = f"lt_{secrets.token_hex(5)}"
    secret = secrets.token_urlsafe(32)
    env = dict(os.environ)
    env.update({
        "DISPATCH_DATABASE_URL": database, "DISPATCH_REDIS_URL": redis_url(),
        "DISPATCH_DB_SCHEMA": tag, "DISPATCH_REDIS_PREFIX": tag, "DISPATCH_JWT_SECRET": secret,
        "DISPATCH_DB_POOL_MAX": str(pool_max), "DISPATCH_LOG_LEVEL": "WARNING",
    })
    if policy is not None:
        # Asked of the service; it applies it once it has the setting (see docs/benchmarks.md).
        env["DISPATCH_RANKING_POLICY"] = policy
    env.update(extra_env or {})
    if source is not None:
        env["PYTHONPATH"] = source
    if ws_deflate is None:
        ws_deflate = Settings().server.ws_per_message_deflate
    env["DISPATCH_WS_PER_MESSAGE_DEFLATE"] = str(ws_deflate).lower()
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(instances):
            url, proc = start_process(env=env, uvicorn_args=(
                "--no-access-log", "--loop", "uvloop", "--http", "httptools",
                "--ws", "websockets-sansio",  # as `dispatch serve`
                "--ws-per-message-deflate", str(ws_deflate).lower()), cwd=source,
                # another tree may predate `served_app`; its create_app tuned the collector
                app="dispatch.cli:served_app" if source is None else "dispatch.app:create_app")
            urls.append(url)
            procs.append(proc)
            if i == 0:  # the first one migrates; the others start on a ready schema
                await wait_ready(url=url, proc=proc)
        for url, proc in zip(urls[1:], procs[1:], strict=True):
            await wait_ready(url=url, proc=proc)
        admin = issue_token(secret=secret, issuer=JWT_ISSUER, subject="loadtest-admin",
                            role=Role.ADMIN, now=datetime.now(UTC), ttl_s=3600)
        async with httpx.AsyncClient(timeout=60.0) as client:
            r = await client.post(f"{urls[0]}/v1/admin/reference", json=demo_collection(),
                                  headers={"Authorization": f"Bearer {admin}"})
            r.raise_for_status()
        yield LocalService(urls=tuple(urls), jwt_secret=secret, schema=tag, prefix=tag,
                           policy=policy, pids=tuple(p.pid for p in procs))
    finally:
        stop_processes(procs)
        await drop_isolation(tag=tag, database_url=database, redis_url=redis_url())


def start_process(
    *, env: dict[str, str], uvicorn_args: tuple[str, ...] = (),
    app: str = "dispatch.cli:served_app", cwd: str | None = None,
    output: IO[bytes] | None = None,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start one uvicorn process of `app` (a factory; by default the app as `dispatch serve`
    runs it) on a free local port, in `cwd` (which `python -m` puts first on the import
    path); return its base URL and it. Its output (logs) goes to `output` when given (a
    later `--log-level` wins)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *uvicorn_args],
        env=env, cwd=cwd, stdout=output, stderr=None if output is None else subprocess.STDOUT)
    return f"http://127.0.0.1:{port}", proc


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate every process, then kill (and reap) any still running after 10 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_ready(
    *, url: str, proc: subprocess.Popen[bytes], timeout_s: float = START_TIMEOUT_S,
    path: str = "/healthz",
) -> None:
    """Poll `url` + `path` until it answers 2xx; fail if the process exits or time runs
    out."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient() as client:
        while asyncio.get_running_loop().time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"service at {url} exited with {proc.returncode}")
            try:
                if (await client.get(f"{url}{path}", timeout=1.0)).status_code < 300:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"service at {url} did not become ready in {timeout_s:.0f} s")


async def drop_isolation(*, tag: str, database_url: str, redis_url: str) -> None:
    """Drop the PostgreSQL schema `tag` and every Redis key under the prefix `tag`."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
    finally:
        await conn.close()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{tag}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()
