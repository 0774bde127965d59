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
from typing import Any, cast

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
        # a symlink's directory may lack the other tools (pg_basebackup): use its target's
        return Path(on_path).resolve().parent
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
    """A redis-server subprocess without persistence: a restart comes back empty.

    `extra_args` go on its command line, e.g. ("--replicaof", "127.0.0.1", "6400").
    """

    def __init__(self, extra_args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dispatch-fault-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_args = extra_args

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.dir),
             "--loglevel", "warning", *self.extra_args],
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



class PrivateStandby(PrivatePostgres):
    """A streaming standby of `primary` (pg_basebackup -R), on a port of its own.

    It reports itself to the primary as `name` (cluster_name), the name
    `synchronous_standby_names` lists; `promote()` makes it the primary.
    """

    def __init__(self, primary: PrivatePostgres, name: str = "standby1") -> None:
        super().__init__()
        self.primary = primary
        self.name = name

    def _initdb(self) -> None:
        if self.user is not None:
            shutil.chown(self.root, user=self.user)
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port),
                  "-U", "postgres", "-D", str(self.data), "-X", "stream", "-R",
                  "--checkpoint=fast", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\n"
                       f"cluster_name = '{self.name}'\n")
        self._initialised = True

    def promote(self) -> None:
        """pg_ctl promote: end recovery and accept writes (waits until it does)."""
        self._run("pg_ctl", "promote", "-w", "-t", str(int(START_TIMEOUT_S)),
                  "-D", str(self.data))


async def replicate_synchronously(primary: PrivatePostgres, standby: PrivateStandby) -> None:
    """Make every commit on `primary` wait for `standby` to have flushed it.

    Set after the base backup: a standby that copied the setting would, once promoted,
    wait for a standby of its own that does not exist.
    """
    conn = await asyncpg.connect(primary.admin_dsn)
    try:
        await conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{standby.name}'")
        await conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + START_TIMEOUT_S
        while await conn.fetchval(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1",
                standby.name) != "sync":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{standby.name} did not become a synchronous standby")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


class PrivateSentinel:
    """A redis-sentinel process watching the master `service` at 127.0.0.1:`master_port`.

    Quick to judge (the master is down after `down_after_ms` without an answer) so a
    failover fits in a test; Sentinel rewrites its configuration file, kept in `dir`.
    """

    def __init__(self, *, master_port: int, service: str = "mymaster", quorum: int = 2,
                 down_after_ms: int = 1000, failover_timeout_ms: int = 10_000) -> None:
        self.port = free_port()
        self.service = service
        self.dir = Path(tempfile.mkdtemp(prefix="dispatch-fault-sentinel-"))
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {service} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
            f"sentinel failover-timeout {service} {failover_timeout_ms}\n"
            f"sentinel parallel-syncs {service} 1\n")
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", str(self.conf), "--sentinel", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL)
        client = aioredis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-sentinel on {self.port} exited "
                                       f"with {self.proc.returncode}")
                try:
                    if await client.ping():
                        return
                except (OSError, aioredis.ConnectionError):
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-sentinel on {self.port} did not start")
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def master(self) -> dict[str, Any]:
        """What this Sentinel knows of its master (SENTINEL MASTER, as a dict)."""
        client = aioredis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2,
                                decode_responses=True)
        try:
            return cast(dict[str, Any], await client.sentinel_master(self.service))
        finally:
            await client.aclose()

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


async def wait_replicated(master: PrivateRedis, replica: PrivateRedis) -> None:
    """Wait until `replica` has synchronised with `master` (its link is up)."""
    client = aioredis.Redis(host="127.0.0.1", port=replica.port, decode_responses=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            info = await client.info("replication")
            if info.get("master_port") == master.port and info.get("master_link_status") == "up":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {replica.port} did not sync with {master.port}")
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


async def wait_sentinels_agree(sentinels: list[PrivateSentinel], *, replicas: int) -> None:
    """Wait until each Sentinel sees the others and the master's replicas: before that a
    failover cannot be agreed on (no quorum) or has no replica to promote."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        states = [await s.master() for s in sentinels]
        if all(int(st["num-other-sentinels"]) == len(sentinels) - 1
               and int(st["num-slaves"]) >= replicas for st in states):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Sentinels did not find each other: {states}")
        await asyncio.sleep(0.1)
