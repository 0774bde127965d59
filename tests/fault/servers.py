"""Private PostgreSQL and Redis servers for the fault suite, on free ports.

The shared servers on 5432 and 6379 are used by several engineers at once: a test that
kills, restarts or freezes a server must start its own. These do, in a temporary
directory, and remove it again. PostgreSQL (loadtests/private_postgres.py) keeps fsync and
synchronous_commit on: the "nothing acknowledged is lost" promise across a crash means
nothing with them off.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import asyncpg
import redis.asyncio as aioredis

from loadtests.local import free_port
from loadtests.private_postgres import START_TIMEOUT_S, PrivatePostgres

__all__ = ["PrivatePostgres", "PrivateRedis", "PrivateSentinel", "PrivateStandby",
           "free_port", "replicate_synchronously", "wait_replicated", "wait_sentinels_agree"]


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
