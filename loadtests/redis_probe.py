"""What a piece of code costs Redis: round trips counted on the client, and CPU on a
redis-server of the benchmark's own (the shared one serves other runs at the same time).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from loadtests.local import free_port

__all__ = ["PrivateRedis", "counting_client", "private_redis"]


class _Counted(Connection):
    """A connection that counts what it sends: one packed send is one round trip
    (a command, or a whole pipeline)."""

    sent = 0  # per client: `counting_client` makes a subclass for each

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        await super().send_packed_command(command, check_health)


def counting_client(url: str) -> tuple[aioredis.Redis, type[_Counted]]:
    """A client of `url` and the class whose `sent` counts its round trips."""
    counter = type("Counted", (_Counted,), {"sent": 0})
    pool = aioredis.ConnectionPool.from_url(url, connection_class=counter)
    return aioredis.Redis.from_pool(pool), counter  # the client owns (closes) the pool


@dataclass
class PrivateRedis:
    url: str
    pid: int

    def cpu_us(self) -> float:
        """The server's CPU time so far, in microseconds (/proc schedstat: nanoseconds,
        where /proc stat's clock ticks are 10 ms)."""
        return int(Path(f"/proc/{self.pid}/schedstat").read_text().split()[0]) / 1000

    async def geosearch_stats(self, client: aioredis.Redis) -> tuple[int, float]:
        """GEOSEARCH calls and their microseconds since the last CONFIG RESETSTAT."""
        stats = (await client.info("commandstats")).get("cmdstat_geosearch", {})
        return int(stats.get("calls", 0)), float(stats.get("usec", 0.0))


@asynccontextmanager
async def private_redis() -> AsyncIterator[PrivateRedis]:
    """A redis-server without persistence on a free port, stopped and removed after."""
    port, workdir = free_port(), tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = aioredis.Redis.from_url(url)
        try:
            for _ in range(200):
                try:
                    if await client.ping():
                        break
                except (OSError, aioredis.ConnectionError) as exc:
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"redis-server exited with {proc.returncode}") from exc
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"redis-server on {port} did not start")
        finally:
            await client.aclose()
        yield PrivateRedis(url=url, pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
