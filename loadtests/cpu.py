"""CPU seconds per process from /proc (Linux), attributed to the parts of one benchmark.

The PostgreSQL cluster and Redis on this machine are shared (other test runs use them at
the same time), so the whole cluster's CPU is not the benchmark's. The service's own
PostgreSQL backends are found through its sockets: each TCP connection the service
process holds to the server has a local port, and `pg_stat_activity.client_port` names the
backend serving that port. Their CPU is summed per backend pid (first and last reading);
a backend first seen after the window opened (the pool grew) counts from its start, and
one that exits between two readings loses what it spent since the earlier one, so the meter
re-reads every `interval_s`. Redis has no per-client CPU: its figure is the
whole server's (INFO CPU), reported as shared.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

__all__ = ["BackendMeter", "own_cpu_s", "pid_cpu_s", "redis_cpu_s", "socket_ports",
           "children_matching"]

_TICKS = os.sysconf("SC_CLK_TCK")


def pid_cpu_s(pid: int | str) -> float | None:
    """User + system CPU seconds of a process (all its threads); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    # after the name: state (field 3), ...; utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / _TICKS


def own_cpu_s() -> float:
    """This process's CPU seconds so far, all threads (CLOCK_PROCESS_CPUTIME_ID).

    Not /proc/self/stat: its 10 ms ticks are 30 calls' worth of the harness's CPU at
    ~0.3 ms a call, too coarse for a 15 s run."""
    return time.process_time()


def children_matching(parent: int, needle: bytes) -> list[int]:
    """Pids of `parent`'s children whose command line contains `needle`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == parent and needle in (stat.parent / "cmdline").read_bytes():
                out.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return sorted(out)


def socket_ports(pids: Iterable[int], *, remote_port: int) -> set[int]:
    """Local ports of the TCP connections these processes hold to `remote_port`."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile (the listing's own descriptor, for one)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            # local_address, rem_address as HEX_IP:HEX_PORT; the inode is column 10
            if cols[9] in inodes and int(cols[2].rpartition(":")[2], 16) == remote_port:
                ports.add(int(cols[1].rpartition(":")[2], 16))
    return ports


@dataclass
class BackendMeter:
    """CPU of the PostgreSQL backends serving the given client processes, over a window."""

    database_url: str
    client_pids: list[int]
    pg_port: int = 5432
    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    cost_s: float = 0.0
    _opened: bool = False
    _conn: asyncpg.Connection | None = None  # one for every reading: connecting costs more

    async def close(self) -> None:
        """Close the connection the readings use."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def read(self) -> None:
        """Find the backends now serving the clients and read their CPU (the reading's own
        CPU, in this process, is added up in `cost_s`)."""
        began = own_cpu_s()
        try:
            await self._read()
        finally:
            self.cost_s += own_cpu_s() - began

    async def _read(self) -> None:
        ports = socket_ports(self.client_pids, remote_port=self.pg_port)
        opening, self._opened = not self._opened, True
        if not ports:
            return
        if self._conn is None:
            self._conn = await asyncpg.connect(self.database_url)
        rows = await self._conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])",
            sorted(ports))
        for row in rows:
            spent = pid_cpu_s(row["pid"])
            if spent is None:
                continue
            self.first.setdefault(row["pid"], spent if opening else 0.0)
            self.last[row["pid"]] = spent

    def start(self) -> None:
        """Open a new window: forget earlier readings (call `read` right after)."""
        self.first.clear()
        self.last.clear()
        self.cost_s = 0.0
        self._opened = False

    @property
    def spent_s(self) -> float:
        """CPU seconds the backends spent between their first and last reading."""
        return sum(self.last[pid] - self.first[pid] for pid in self.last)

    async def follow(self, *, interval_s: float = 1.0) -> None:
        """Re-read every `interval_s` until cancelled (new backends join the sum)."""
        while True:
            await asyncio.sleep(interval_s)
            await self.read()


async def redis_cpu_s(redis_url: str) -> float:
    """The Redis server's user + system CPU seconds so far (the whole server: shared)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        info = await client.info("cpu")
    finally:
        await client.aclose()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
