"""A lean websocket client for the load harness: websockets' sans-I/O protocol on an
asyncio Protocol, with a callback per message.

The harness shares the machine with the service it measures. websockets' asyncio client
(a reader task, an assembler and queues per connection) cost the harness ~45 us of CPU per
frame, a third of a core at 2,000 crew messages a second: CPU taken from the service under
test. Here each read is parsed where it arrives (`data_received`) and each message handed
to a callback, with the same protocol implementation (handshake, masking, ping/pong,
close) underneath.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

__all__ = ["LeanConnection", "OnMessage", "lean_connect"]

OnMessage = Callable[[bytes, float], None]


class LeanConnection(asyncio.Protocol):
    """One websocket; `on_message(data, received_at)` gets every complete message, stamped
    with time.perf_counter() when its bytes arrived."""

    def __init__(self, uri: str, on_message: OnMessage, *, max_size: int = 2**24) -> None:
        self._protocol = ClientProtocol(parse_uri(uri), max_size=max_size)
        self._request = self._protocol.connect()
        self._on_message = on_message
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._parts: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)
        self._protocol.send_request(self._request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        received_at = time.perf_counter()
        self._protocol.receive_data(data)
        for event in self._protocol.events_received():
            if isinstance(event, Response):
                if self._protocol.state is State.OPEN:
                    self.opened.set_result(None)
                else:
                    self.opened.set_exception(
                        ConnectionError(f"handshake refused: {event.status_code}"))
            elif isinstance(event, Frame):
                self._frame(event, received_at)
        self._flush()  # pongs and close replies
        if self._protocol.close_expected() and self._transport is not None:
            self._transport.close()

    def _frame(self, frame: Frame, received_at: float) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            self._parts.append(bytes(frame.data))
            if frame.fin:
                data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
                self._parts.clear()
                self._on_message(data, received_at)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed before the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send_text(self, *messages: bytes) -> None:
        """Send text messages (UTF-8 bytes, e.g. from orjson.dumps), in one socket write."""
        if self._protocol.state is not State.OPEN:
            raise ConnectionError("the websocket is not open")
        for data in messages:
            self._protocol.send_text(data)
        self._flush()

    def close(self) -> None:
        """Start the closing handshake (1000); `closed` resolves when the socket is gone."""
        if self._protocol.state is State.OPEN:
            self._protocol.send_close(1000)
            self._flush()
        elif self._transport is not None:
            self._transport.close()

    def _flush(self) -> None:
        if self._transport is None:
            return
        chunks = self._protocol.data_to_send()
        data = b"".join(chunks)
        if data:
            self._transport.write(data)
        if chunks and not chunks[-1] and self._transport.can_write_eof():
            self._transport.write_eof()  # websockets' end-of-stream marker: an empty chunk


async def lean_connect(uri: str, on_message: OnMessage, *, timeout_s: float = 30.0
                       ) -> LeanConnection:
    """Open a websocket to `uri` (ws://host:port/path?query) and wait for the handshake."""
    wsuri = parse_uri(uri)
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(lambda: LeanConnection(uri, on_message),
                                           wsuri.host, wsuri.port)
    await asyncio.wait_for(conn.opened, timeout_s)
    return conn
