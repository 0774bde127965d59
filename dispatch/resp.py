"""A lean Redis connection for the stream fan-out's hot path: pipelined commands, replies
in order, hiredis packing and parsing on an asyncio Protocol.

At 1,000 crews an instance appends about a thousand stream events a second and reads
them back in a few hundred XREADs. Through redis-py each appended event cost ~40 us of
the instance's CPU and each XREAD ~280 us (a pipeline's per-command bookkeeping and a
timer per reply, ~15% of the instance in bench_handover); here the commands of a batch
are packed and written at once and the replies matched to them in order, ~4x less.
Everything else (reads on resume, GEO sets, counters) keeps using redis-py.

Errors are redis-py's (redis.exceptions), so callers keep one `except RedisError`.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlparse

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["RespEndpoint", "RespLink"]

Command = tuple[str | bytes | int | float, ...]


@dataclass(frozen=True, slots=True)
class RespEndpoint:
    """Where a Redis server listens, from a redis:// or rediss:// URL."""

    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    timeout_s: float = 5.0

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float) -> RespEndpoint:
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss"):
            raise ValueError(f"a redis:// or rediss:// URL is needed, not {parsed.scheme}://")
        path = parsed.path.strip("/")
        return cls(host=parsed.hostname or "localhost", port=parsed.port or 6379,
                   db=int(path) if path else 0,
                   username=unquote(parsed.username) if parsed.username else None,
                   password=unquote(parsed.password) if parsed.password else None,
                   tls=parsed.scheme == "rediss", timeout_s=timeout_s)


class _Protocol(asyncio.Protocol):
    """Replies, in the order the commands were written, to the futures waiting for them."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            future = self._waiting.popleft()
            if not future.done():  # its caller may have been cancelled
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = RedisConnectionError(f"connection to Redis lost: {exc!r}")
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(self.lost)

    def send(self, commands: list[Command], loop: asyncio.AbstractEventLoop
             ) -> list[asyncio.Future[Any]]:
        if self.lost is not None or self.transport is None:
            raise self.lost or RedisConnectionError("not connected to Redis")
        futures = [loop.create_future() for _ in commands]
        self._waiting.extend(futures)
        # (hiredis' stub types the argument as a 1-tuple; it takes any number of parts)
        self.transport.write(b"".join([hiredis.pack_command(cast(Any, c)) for c in commands]))
        return futures


class RespLink:
    """One connection, opened on first use and again after it failed.

    Commands of concurrent callers are pipelined on it; a blocking command (XREAD BLOCK)
    holds it until it returns, so a blocking reader keeps a link of its own.
    """

    def __init__(self, endpoint: RespEndpoint) -> None:
        self._endpoint = endpoint
        self._protocol: _Protocol | None = None
        self._opening = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def execute(self, commands: list[Command], *, extra_wait_s: float = 0.0) -> list[Any]:
        """Run the commands in one write; their replies in order. A reply that is an
        error raises ResponseError after all replies arrived (the others still ran)."""
        protocol = await self._connected()
        assert self._loop is not None
        try:
            return await _exchange(protocol, commands, loop=self._loop,
                                   timeout_s=self._endpoint.timeout_s + extra_wait_s)
        except (RedisTimeoutError, RedisConnectionError):
            # Replies still due on a timed-out connection would answer the next callers.
            self._drop(protocol)
            raise

    async def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        if self._protocol is not None:
            self._drop(self._protocol)

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        async with self._opening:
            if self._protocol is None or self._protocol.lost is not None:
                self._protocol = await self._open()
            return self._protocol

    async def _open(self) -> _Protocol:
        endpoint = self._endpoint
        self._loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(endpoint.timeout_s):
                _, protocol = await self._loop.create_connection(
                    _Protocol, endpoint.host, endpoint.port,
                    ssl=ssl.create_default_context() if endpoint.tls else None)
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(
                f"cannot connect to Redis at {endpoint.host}:{endpoint.port}: {exc!r}") from exc
        setup: list[Command] = []
        if endpoint.password is not None:
            setup.append(("AUTH", endpoint.username, endpoint.password) if endpoint.username
                         else ("AUTH", endpoint.password))
        if endpoint.db:
            setup.append(("SELECT", endpoint.db))
        if setup:
            try:
                await _exchange(protocol, setup, loop=self._loop, timeout_s=endpoint.timeout_s)
            except (RedisTimeoutError, RedisConnectionError, ResponseError):
                self._drop(protocol)  # e.g. a wrong password: no half-open connection
                raise
        return protocol

    def _drop(self, protocol: _Protocol) -> None:
        if protocol.transport is not None:
            protocol.transport.close()
        if protocol.lost is None:
            protocol.connection_lost(None)
        if self._protocol is protocol:
            self._protocol = None


async def _exchange(protocol: _Protocol, commands: list[Command], *,
                    loop: asyncio.AbstractEventLoop, timeout_s: float) -> list[Any]:
    """Write the commands at once and wait for all their replies, in order."""
    futures = protocol.send(commands, loop)
    try:
        async with asyncio.timeout(timeout_s):
            await futures[-1]  # replies come in order: the last one comes last
    except TimeoutError as exc:
        raise RedisTimeoutError("Redis did not answer in time") from exc
    except RedisConnectionError:
        for future in futures[:-1]:
            if future.done() and not future.cancelled():
                future.exception()  # the caller hears of the lost connection once
        raise
    replies = [f.result() for f in futures]
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))
    return replies
