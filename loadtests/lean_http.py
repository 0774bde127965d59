"""A lean HTTP/1.1 client for the load harness: keep-alive connections as asyncio Protocols,
responses parsed in C by httptools (the parser uvicorn uses), one future per request.

The harness shares the two cores with the service it measures. httpx spent ~15 ms of the
harness's CPU per call at 80 calls/s and collapsed to ~45 calls/s at 160/s (its pool,
its anyio layers, its header models), so intake figures above ~60 calls/s were partly
the harness's. Here a request is one `transport.write` of bytes joined from a precomputed
head, and a response is whatever the parser's callbacks collected when the message is
complete: ~0.1 ms of CPU per request.

Only what the harness needs: Content-Length bodies out (chunked responses are parsed),
no redirects, no TLS, no cookies.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import httptools
import orjson

__all__ = ["LeanHttp", "LeanResponse", "TransportError"]


class TransportError(ConnectionError):
    """The connection failed or closed before the response was complete (or timed out)."""


@dataclass(slots=True)
class LeanResponse:
    """The parts of a response the harness reads (named as httpx names them)."""

    status_code: int
    content: bytes
    headers: dict[bytes, bytes] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight (no pipelining)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}
        self._waiter: asyncio.Future[LeanResponse] | None = None
        self.usable = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"bad response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._fail(TransportError(f"connection closed: {exc}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        response = LeanResponse(status_code=self._parser.get_status_code(),
                                content=b"".join(self._body), headers=self._headers)
        self._body, self._headers = [], {}
        if not self._parser.should_keep_alive():
            self.usable = False
            if self._transport is not None:
                self._transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def send(self, data: bytes) -> asyncio.Future[LeanResponse]:
        """Write one request; the future resolves with its response."""
        if self._transport is None or self._transport.is_closing():
            raise TransportError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return self._waiter

    def time_out(self) -> None:
        """The answer took too long: fail the request and drop the connection."""
        self._fail(TransportError("timed out"))

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.close()

    def _fail(self, exc: Exception) -> None:
        self.usable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self._transport is not None:
            self._transport.close()


class LeanHttp:
    """Keep-alive connections to one `http://host:port`, opened on demand up to a limit.

    `request` waits for a free connection when all `max_connections` are busy, as httpx's
    pool does; in an open-loop run that wait is latency and counts as such.
    """

    def __init__(self, base_url: str, *, max_connections: int = 256,
                 timeout_s: float = 30.0) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"only http://host:port URLs: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or 80
        self._host_header = f"Host: {url.netloc}\r\n".encode()
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self._idle: collections.deque[_Connection] = collections.deque()
        self._open: set[_Connection] = set()
        self._slots = asyncio.Semaphore(max_connections)

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()  # the most recently used: warm, least likely closed
            if conn.usable:
                return conn
            self._open.discard(conn)
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        self._open.add(conn)
        return conn

    def encode(self, method: str, path: str, *, headers: bytes = b"",
               body: bytes | None = None, params: dict[str, str] | None = None) -> bytes:
        """The request's bytes: `headers` as raw `Name: value\\r\\n` lines."""
        if params:
            path = f"{path}?{urlencode(params)}"
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._host_header + headers
        if body is None:
            return head + b"\r\n" if method in ("GET", "HEAD") else \
                head + b"Content-Length: 0\r\n\r\n"
        return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)

    async def send(self, data: bytes) -> LeanResponse:
        """Send one encoded request on a free connection and wait for its response."""
        async with self._slots:
            conn: _Connection | None = None
            try:
                conn = await self._connection()
                waiter = conn.send(data)
                # one timer handle, cancelled on the answer: asyncio.wait_for's extra
                # future and callbacks cost more than the request's own bookkeeping
                timer = asyncio.get_running_loop().call_later(self.timeout_s, conn.time_out)
                try:
                    response = await waiter
                finally:
                    timer.cancel()
            except OSError as exc:
                if conn is not None:  # a late response must not meet the next request
                    conn.close()
                    self._open.discard(conn)
                raise TransportError(str(exc) or type(exc).__name__) from exc
            if conn.usable:
                self._idle.append(conn)
            else:
                self._open.discard(conn)
            return response

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                      body: bytes | None = None, params: dict[str, str] | None = None
                      ) -> LeanResponse:
        """One request with headers given as a dict (the convenient, slower form)."""
        raw = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
        return await self.send(self.encode(method, path, headers=raw, body=body,
                                           params=params))

    async def aclose(self) -> None:
        """Close every connection."""
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
