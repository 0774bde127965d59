"""A lean Redis connection for the stream fan-out's hot path: pipelined commands, replies
in order, hiredis packing and parsing on an asyncio Protocol.

At 1,000 crews an instance appends about a thousand stream events a second and reads
them back in a few hundred XREADs. Through redis-py each appended event cost ~40 us of
the instance's CPU and each XREAD ~280 us (a pipeline's per-command bookkeeping and a
timer per reply, ~15% of the instance in bench_handover); here the commands of a batch
are packed and written at once and the replies matched to them in order, ~4x less.
Everything else (reads on resume, GEO sets, counters) keeps using redis-py.

Errors are redis-py's (redis.exceptions), so callers keep one `except RedisError`.

Behind Sentinels (a redis+sentinel:// URL) a link asks them for the master at each
(re)connection, checks with ROLE that the server it reached is the master, and drops
its connection on a READONLY or UNBLOCKED reply (a master demoted to a replica): the
caller's retry then reaches the new master, as redis-py's Sentinel client does.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlparse

import hiredis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dispatch.tally import Tallies

__all__ = ["EXCHANGES", "RespEndpoint", "RespLink", "counting_exchanges",
           "sentinel_manager"]

Command = tuple[str | bytes | int | float, ...]


# Exchanges (one write of commands, one wait for their replies), each as its commands'
# names: a test hook (dispatch.tally), each exchange being a socket write and a wake-up
# of Redis.
EXCHANGES: Tallies[list[str]] = Tallies("resp_exchanges")
counting_exchanges = EXCHANGES.counting


@dataclass(frozen=True, slots=True)
class RespEndpoint:
    """Where Redis listens: one server (redis://, rediss://) or the master of a service
    that Sentinels watch (redis+sentinel://, rediss+sentinel://; see dispatch.sentinel).

    With `sentinels`, `host` and `port` are unused: the master is asked of the Sentinels
    at each (re)connection, so a connection opened after a failover reaches the new one.
    """

    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    timeout_s: float = 5.0
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    sentinel_password: str | None = None

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float) -> RespEndpoint:
        parsed = urlparse(url)
        if parsed.scheme in SENTINEL_SCHEMES:
            return _from_sentinel_url(url, timeout_s=timeout_s)
        if parsed.scheme not in ("redis", "rediss"):
            raise ValueError(f"a redis://, rediss:// or redis+sentinel:// URL is needed, "
                             f"not {parsed.scheme}://")
        path = parsed.path.strip("/")
        return cls(host=parsed.hostname or "localhost", port=parsed.port or 6379,
                   db=int(path) if path else 0,
                   username=unquote(parsed.username) if parsed.username else None,
                   password=unquote(parsed.password) if parsed.password else None,
                   tls=parsed.scheme == "rediss", timeout_s=timeout_s)


SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379


def _from_sentinel_url(url: str, *, timeout_s: float) -> RespEndpoint:
    """redis+sentinel://[user:password@]host[:port][,host[:port]...]/service[/db]
    [?sentinel_password=...]: redis-py has the Sentinel client but no URL for it, and
    urlparse refuses a comma-separated host list, so the netloc is split here."""
    scheme, rest = url.split("://", 1)
    netloc, _, path_query = rest.partition("/")
    path, _, query = path_query.partition("?")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "")
        if not host or (port and not port.isdigit()):
            raise ValueError(f"a Sentinel must be host or host:port, not {item!r}")
        sentinels.append((host, int(port) if port else SENTINEL_PORT))
    parts = [unquote(p) for p in path.split("/") if p]
    if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError("a redis+sentinel:// URL names the service after the hosts: "
                         "redis+sentinel://host1:26379,host2:26379/mymaster[/db]")
    options = parse_qs(query)
    unknown = set(options) - {"sentinel_password"}
    if unknown:
        raise ValueError(f"unknown redis+sentinel:// option(s): {', '.join(sorted(unknown))}")
    sentinel_password = options.get("sentinel_password", [None])[-1]
    return RespEndpoint(host=sentinels[0][0], port=sentinels[0][1],
                        db=int(parts[1]) if len(parts) == 2 else 0,
                        username=unquote(username) or None,
                        password=unquote(password) or None,
                        tls=scheme == "rediss+sentinel", timeout_s=timeout_s,
                        sentinels=tuple(sentinels), service=parts[0],
                        sentinel_password=sentinel_password)


def sentinel_manager(endpoint: RespEndpoint) -> Sentinel:
    """redis-py's Sentinel client for the endpoint's Sentinels (they answer within its
    timeout; a dead one is skipped for the next)."""
    timeouts = {"socket_timeout": endpoint.timeout_s,
                "socket_connect_timeout": endpoint.timeout_s}
    return Sentinel(list(endpoint.sentinels),
                    sentinel_kwargs={**timeouts, "password": endpoint.sentinel_password})


# Replies of a master that became a replica: the link must reconnect to the new master.
_DEMOTED = ("READONLY", "UNBLOCKED")


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
        self._sentinel: Sentinel | None = None

    async def execute(self, commands: list[Command], *, extra_wait_s: float = 0.0,
                      raise_errors: bool = True) -> list[Any]:
        """Run the commands in one write; their replies in order. A reply that is an
        error raises ResponseError after all replies arrived (the others still ran), or
        with `raise_errors` False stands in the list as a ResponseError, so callers that
        sent unrelated commands together can tell which failed."""
        protocol = await self._connected()
        assert self._loop is not None
        try:
            replies = await _exchange(protocol, commands, loop=self._loop,
                                      timeout_s=self._endpoint.timeout_s + extra_wait_s)
        except (RedisTimeoutError, RedisConnectionError):
            # Replies still due on a timed-out connection would answer the next callers.
            self._drop(protocol)
            raise
        errors = [r for r in replies if isinstance(r, hiredis.ReplyError)]
        if not errors:
            return replies
        if self._endpoint.sentinels and any(str(e).startswith(_DEMOTED) for e in errors):
            self._drop(protocol)
            raise RedisConnectionError(f"the Redis master became a replica: {errors[0]}")
        if raise_errors:
            raise ResponseError(str(errors[0]))
        return [ResponseError(str(r)) if isinstance(r, hiredis.ReplyError) else r
                for r in replies]

    async def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        if self._protocol is not None:
            self._drop(self._protocol)
        if self._sentinel is not None:
            sentinel, self._sentinel = self._sentinel, None
            await sentinel.aclose()

    async def _address(self) -> tuple[str, int]:
        endpoint = self._endpoint
        if not endpoint.sentinels:
            return endpoint.host, endpoint.port
        assert endpoint.service is not None
        if self._sentinel is None:
            self._sentinel = sentinel_manager(endpoint)
        host, port = await self._sentinel.discover_master(endpoint.service)
        return str(host), int(port)

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
        host, port = await self._address()
        try:
            async with asyncio.timeout(endpoint.timeout_s):
                _, protocol = await self._loop.create_connection(
                    _Protocol, host, port,
                    ssl=ssl.create_default_context() if endpoint.tls else None)
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(
                f"cannot connect to Redis at {host}:{port}: {exc!r}") from exc
        setup: list[Command] = []
        if endpoint.password is not None:
            setup.append(("AUTH", endpoint.username, endpoint.password) if endpoint.username
                         else ("AUTH", endpoint.password))
        if endpoint.db:
            setup.append(("SELECT", endpoint.db))
        if endpoint.sentinels:
            # Sentinels may still name a master that has just been demoted
            setup.append(("ROLE",))
        if setup:
            try:
                replies = await _exchange(protocol, setup, loop=self._loop,
                                          timeout_s=endpoint.timeout_s)
                if failed := [r for r in replies if isinstance(r, hiredis.ReplyError)]:
                    raise ResponseError(str(failed[0]))
                if endpoint.sentinels and replies[-1][0] != b"master":
                    raise RedisConnectionError(
                        f"{host}:{port} is a {replies[-1][0].decode()}, not the master yet")
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
    if (tally := EXCHANGES.current()) is not None:
        tally.note([_name(c[0]) for c in commands])
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
    return [f.result() for f in futures]  # error replies as hiredis.ReplyError


def _name(part: str | bytes | int | float) -> str:
    return part.decode() if isinstance(part, bytes) else str(part)
