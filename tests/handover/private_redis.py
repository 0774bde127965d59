"""A redis-server of a test's own, on a free port, that the test may kill and restart.

Never the shared server: killing or emptying that would break every other test run.
Started without automatic persistence (`--save '' --appendonly no`): a restart comes back
empty, as a Redis does that lost its data, or with what the test's own SAVE wrote, as a
Redis restored from an older snapshot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

START_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateRedis:
    """One redis-server process; `restart_empty` kills it (-9) and starts it again empty."""

    def __init__(self) -> None:
        self.port = _free_port()
        self._dir = tempfile.mkdtemp(prefix="dispatch-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self._dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1.0)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError as exc:
                    if self._proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server on port {self.port} did not start") from exc
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart_empty(self) -> None:
        """Kill it and start it with nothing: no dump left to load."""
        self.kill()
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self._dir, "dump.rdb"))
        self.start()

    def restart_from_save(self) -> None:
        """Kill it (-9) and start it again: it loads what its last SAVE wrote, and
        everything written after that SAVE is lost (an RDB or AOF restore)."""
        self.kill()
        self.start()

    def save(self) -> None:
        client = redis.Redis(port=self.port, socket_timeout=5.0)
        try:
            client.save()
        finally:
            client.close()

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
