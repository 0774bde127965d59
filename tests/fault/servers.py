"""Private PostgreSQL and Redis servers for the fault suite, on free ports.

The shared servers on 5432 and 6379 are used by several engineers at once: a test that
kills, restarts or freezes a server must start its own. These do, in a temporary
directory, and remove it again. PostgreSQL keeps fsync and synchronous_commit on: the
"nothing acknowledged is lost" promise across a crash means nothing with them off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are: DISPATCH_TEST_PG_BIN, PATH, or the newest Debian cluster."""
    given = os.environ.get("DISPATCH_TEST_PG_BIN")
    if given:
        return Path(given)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise RuntimeError("no initdb found: install PostgreSQL or set DISPATCH_TEST_PG_BIN")
    return versions[-1].parent


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (PostgreSQL's backends and workers are the postmaster's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # the command name is in parentheses and may hold spaces: parse after the last ')'
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


class PrivatePostgres:
    """A throw-away PostgreSQL cluster: trust auth on 127.0.0.1, database `dispatch`."""

    database = "dispatch"

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dispatch-fault-pg-"))
        self.data = self.root / "data"
        self.bindir = postgres_bindir()
        # initdb refuses to run as root: run the cluster as the `postgres` user then
        self.user = (os.environ.get("DISPATCH_TEST_PG_OS_USER", "postgres")
                     if os.geteuid() == 0 else None)
        self._initialised = False

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_dsn(self) -> str:
        """The cluster's `postgres` database (always there, no create_database needed)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        subprocess.run([str(self.bindir / args[0]), *args[1:]], check=True, timeout=timeout,
                       user=self.user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _initdb(self) -> None:
        if self.user is not None:
            shutil.chown(self.root, user=self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                # durable: a crash must keep every commit a client was told about
                "fsync = on\nsynchronous_commit = on\n"
                # small and quick: a test cluster of a few MB
                "shared_buffers = 16MB\nmax_connections = 60\nmax_wal_size = 64MB\n"
                "checkpoint_timeout = 300\n"
            )
        self._initialised = True

    def start(self) -> None:
        """Create the cluster (first time), start it and wait until it accepts connections."""
        if not self._initialised:
            self._initdb()
        self._run("pg_ctl", "start", "-w", "-t", str(int(START_TIMEOUT_S)), "-D",
                  str(self.data), "-l", str(self.root / "server.log"))

    async def create_database(self) -> None:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                         self.database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop: `smart`, `fast` (roll back sessions) or `immediate` (a crash)."""
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))

    def restart(self, mode: str = "immediate") -> None:
        self.stop(mode)
        self.start()

    def postmaster_pid(self) -> int | None:
        """The running postmaster of this cluster, or None (never a stale file's pid)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.data).encode() in cmdline else None

    def processes(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, walwriter, ...)."""
        pid = self.postmaster_pid()
        return [] if pid is None else [pid, *_children(pid)]

    def kill9(self) -> None:
        """SIGKILL the postmaster and every child: what a power cut looks like to clients."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def freeze(self) -> None:
        """SIGSTOP the cluster: connections stay open and nothing answers (a hung host)."""
        pid = self.postmaster_pid()
        if pid is None:
            raise RuntimeError("PostgreSQL is not running")
        os.kill(pid, signal.SIGSTOP)  # first: a stopped postmaster forks no new backend
        for child in _children(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self.processes()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def _alive(self) -> bool:
        return self.postmaster_pid() is not None

    def close(self) -> None:
        """Stop the cluster however it is (running, frozen, dead) and delete its files."""
        if self._alive():
            self.thaw()
            try:
                self.stop("immediate")
            except (subprocess.SubprocessError, OSError):
                self.kill9()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server subprocess without persistence: a restart comes back empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dispatch-fault-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.dir),
             "--loglevel", "warning"],
            stdout=subprocess.DEVNULL)
        redis = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server on {self.port} exited "
                                       f"with {self.proc.returncode}")
                try:
                    if await redis.ping():
                        return
                except (OSError, aioredis.ConnectionError):
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on {self.port} did not start")
                await asyncio.sleep(0.02)
        finally:
            await redis.aclose()

    def _end(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    async def restart(self, down_s: float = 0.0) -> None:
        """Kill, stay down `down_s`, start again on the same port: every key is gone."""
        self.kill()
        await asyncio.sleep(down_s)
        await self.start()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

