"""A PostgreSQL cluster of a test's own (loadtests/private_postgres.py), to restart at will.

The shared server on 5432 is never restarted by a test: other test runs use it at the
same time. This one lives in a temporary directory and is removed afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from loadtests.private_postgres import PrivatePostgres


@dataclass
class Restartable:
    """The cluster with awaitable start/stop; `url` reaches its `postgres` database."""

    pg: PrivatePostgres

    @property
    def url(self) -> str:
        return self.pg.admin_dsn

    async def start(self) -> None:
        await asyncio.to_thread(self.pg.start)

    async def stop(self) -> None:
        # fast: open sessions are cut, as in a failover or an operator's restart
        await asyncio.to_thread(self.pg.stop, "fast")

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@asynccontextmanager
async def private_postgres() -> AsyncIterator[Restartable]:
    """A fresh cluster, started; stopped and deleted on the way out."""
    # durability is not what these tests are about: fsync off keeps the restarts quick
    pg = PrivatePostgres(settings={"fsync": "off", "max_connections": "50"})
    try:
        await asyncio.to_thread(pg.start)
        yield Restartable(pg)
    finally:
        await asyncio.to_thread(pg.close)
