"""A throw-away PostgreSQL cluster (initdb / pg_ctl) on a free port, in a temporary directory.

The shared server on 5432 is used by other runs at the same time and must not be restarted
or reconfigured: a test that kills or freezes PostgreSQL, or a benchmark that needs a
setting the shared one lacks (pg_stat_statements preloaded), starts one of these instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from loadtests.local import free_port

START_TIMEOUT_S = 30.0

# durable by default: a crash must keep every commit a client was told about
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "on", "synchronous_commit": "on",
    # small and quick: a test cluster of a few MB
    "shared_buffers": "16MB", "max_connections": "60", "max_wal_size": "64MB",
    "checkpoint_timeout": "300",
}


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


def children(pid: int) -> list[int]:
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


def conf_value(value: str) -> str:
    """A postgresql.conf value: quoted unless it is a plain word or number."""
    return value if value.replace(".", "").replace("_", "").isalnum() else (
        "'" + value.replace("'", "''") + "'")


class PrivatePostgres:
    """A throw-away PostgreSQL cluster: trust auth on 127.0.0.1, database `dispatch`.

    `settings` go into its postgresql.conf over DEFAULT_SETTINGS.
    """

    database = "dispatch"

    def __init__(self, settings: Mapping[str, str] | None = None,
                 prefix: str = "dispatch-pg-") -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.data = self.root / "data"
        self.bindir = postgres_bindir()
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        # initdb refuses to run as root: run the cluster as the `postgres` user then
        self.user = (os.environ.get("DISPATCH_TEST_PG_OS_USER", "postgres")
                     if os.geteuid() == 0 else None)
        self._initialised = False

    @property
    def dsn(self) -> str:
        return self.url(self.database)

    @property
    def admin_dsn(self) -> str:
        """The cluster's `postgres` database (always there, no create_database needed)."""
        return self.url("postgres")

    def url(self, database: str) -> str:
        """A URL of `database` on this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        subprocess.run([str(self.bindir / args[0]), *args[1:]], check=True, timeout=timeout,
                       user=self.user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _initdb(self) -> None:
        if self.user is not None:
            shutil.chown(self.root, user=self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\n")
            conf.writelines(f"{name} = {conf_value(value)}\n"
                            for name, value in self.settings.items())
        self._initialised = True

    def start(self) -> None:
        """Create the cluster (first time), start it and wait until it accepts connections."""
        if not self._initialised:
            self._initdb()
        self._run("pg_ctl", "start", "-w", "-t", str(int(START_TIMEOUT_S)), "-D",
                  str(self.data), "-l", str(self.root / "server.log"))

    async def create_database(self, name: str | None = None) -> None:
        """Create `name` (by default `database`) unless it exists."""
        import asyncpg  # the synchronous uses of this class need no driver

        name = name or self.database
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
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
        return [] if pid is None else [pid, *children(pid)]

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
        for child in children(pid):
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


@contextlib.contextmanager
def running(pg: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """`pg` started; stopped and deleted on the way out, also on an error or Ctrl-C."""
    try:
        pg.start()
        yield pg
    finally:
        pg.close()
