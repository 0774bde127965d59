"""Real `dispatch` service processes (uvicorn) for multi-instance tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dispatch.config import Settings
from loadtests.local import start_process, stop_processes, wait_ready


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DISPATCH_DATABASE_URL": settings.database_url or "",
        "DISPATCH_REDIS_URL": settings.redis_url or "",
        "DISPATCH_DB_SCHEMA": settings.db_schema,
        "DISPATCH_REDIS_PREFIX": settings.redis_prefix,
        "DISPATCH_JWT_SECRET": settings.jwt_secret,
        "DISPATCH_DB_POOL_MIN": str(settings.db_pool_min),
        "DISPATCH_DB_POOL_MAX": str(settings.db_pool_max),
    })
    return env


@asynccontextmanager
async def instances(settings: Settings, n: int) -> AsyncIterator[list[str]]:
    """Start `n` service processes on one database and Redis; yield their base URLs."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(n):
            # open websockets must not hold a test's teardown for long
            url, proc = start_process(env=_env(settings),
                                      uvicorn_args=("--timeout-graceful-shutdown", "3"))
            urls.append(url)
            procs.append(proc)
        for url, proc in zip(urls, procs, strict=True):
            await wait_ready(url=url, proc=proc, timeout_s=30.0)
        yield urls
    finally:
        stop_processes(procs)
