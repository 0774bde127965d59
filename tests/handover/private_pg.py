"""A PostgreSQL cluster of a test's own (initdb / pg_ctl on a free port), to restart at will.

The shared server on 5432 is never restarted by a test: other test runs use it at the
same time. This one lives in a temporary directory and is removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(os.environ.get("DISPATCH_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_owner() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PrivatePostgres:
    """One stopped-or-running cluster; `url` reaches its `postgres` database over TCP."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run([*_as_owner(), str(BIN / "pg_ctl"), "-D", str(self.directory / "data"),
                        *args], check=True, stdout=subprocess.DEVNULL, timeout=60)

    async def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1"
                   f" -k {self.directory} -c fsync=off -c max_connections=50")
        await asyncio.to_thread(self._pg_ctl, "-w", "-l", str(self.directory / "log"),
                                "-o", options, "start")

    async def stop(self) -> None:
        # fast: open sessions are cut, as in a failover or an operator's restart
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A fresh cluster, started; stopped and deleted on the way out."""
    directory = Path(tempfile.mkdtemp(prefix="dispatch-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    pg = PrivatePostgres(directory=directory, port=_free_port())
    try:
        await asyncio.to_thread(
            subprocess.run,
            [*_as_owner(), str(BIN / "initdb"), "-D", str(directory / "data"), "-U", "postgres",
             "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, timeout=120)
        await pg.start()
        yield pg
    finally:
        if (directory / "data" / "postmaster.pid").exists():
            await pg.stop()
        shutil.rmtree(directory, ignore_errors=True)
