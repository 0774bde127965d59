"""Real `dispatch` service processes (uvicorn) for multi-instance tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from dispatch.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DISPATCH_DATABASE_URL": settings.database_url or "",
        "DISPATCH_REDIS_URL": settings.redis_url or "",
        "DISPATCH_DB_SCHEMA": settings.db_schema,
        "DISPATCH_REDIS_PREFIX": settings.redis_prefix,
        "DISPATCH_JWT_SECRET": settings.jwt_secret,
        "DISPATCH_DB_POOL_MAX": "10",
    })
    return env


@asynccontextmanager
async def instances(settings: Settings, n: int) -> AsyncIterator[list[str]]:
    """Start `n` service processes on one database and Redis; yield their base URLs."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(n):
            port = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "dispatch.app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                 # open websockets must not hold a test's teardown for long
                 "--timeout-graceful-shutdown", "3"],
                env=_env(settings)))
            urls.append(f"http://127.0.0.1:{port}")
        async with httpx.AsyncClient() as client:
            for url, proc in zip(urls, procs, strict=True):
                await _wait_ready(client, url, proc)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _wait_ready(client: httpx.AsyncClient, url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"service at {url} exited with {proc.returncode}")
        try:
            if (await client.get(f"{url}/healthz", timeout=1.0)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"service at {url} did not become ready")
