"""The harness's websocket clients: a crew tablet or an ED screen on /v1/ws/{crew,hospital}.

A `Link` keeps one connection open for as long as the run lasts, reconnecting with
`?last_event_id=` after a drop so no event is missed (the service replays the stream).
Frames the harness sends carry a `msg_id`; `send` waits for the matching `ack` (or
`error`) and records the round trip under a label, so crew-message latency is the time
to a committed, acknowledged frame. A frame unanswered when the link drops is sent again
on the new connection: the service acknowledges a resend without applying it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from loadtests.client import Api

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 15.0
RECONNECT_PAUSE_S = 0.5
OnEvent = Callable[[dict[str, Any]], None]

_ids = itertools.count(1)


def ws_url(base: str, channel: str) -> str:
    """The websocket URL of a channel on an instance's HTTP base URL."""
    return base.replace("http://", "ws://").replace("https://", "wss://") + f"/v1/ws/{channel}"


class Link:
    """One long-lived websocket with acks matched to msg_ids and resume on reconnect."""

    def __init__(self, *, api: Api, url: str, token: str, name: str, on_event: OnEvent,
                 on_snapshot: OnEvent | None = None) -> None:
        self.api = api
        self.url = url
        self.token = token
        self.name = name
        self.on_event = on_event
        self.on_snapshot = on_snapshot
        self.last_event_id: str | None = None
        self.reconnects = 0
        self.resyncs = 0
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Connect and keep the connection (returns once the first one is open)."""
        self._task = asyncio.create_task(self._run(), name=f"ws-{self.name}")
        await asyncio.wait_for(self._connected.wait(), timeout=30.0)

    async def close(self) -> None:
        """Close for good."""
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed, OSError):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def new_msg_id(self) -> str:
        """A unique msg_id for a frame this link sends."""
        return f"{self.name}-{next(_ids)}"

    async def send(self, frame: dict[str, Any], *, label: str) -> dict[str, Any] | None:
        """Send a frame with a msg_id; the ack or error frame, or None on timeout."""
        msg_id = frame["msg_id"]
        started = self.api.clock()
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        data = orjson.dumps(frame).decode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACK_TIMEOUT_S
        try:
            while not fut.done():
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self._connected.wait(), timeout=left)
                ws = self._ws
                assert ws is not None
                try:
                    await ws.send(data)
                except ConnectionClosed:
                    await asyncio.sleep(0.05)  # _run reconnects; send again there
                    continue
                # Wait for the answer, or for this connection to drop (then resend).
                closed: asyncio.Future[Any] = asyncio.ensure_future(ws.wait_closed())
                waiting: set[asyncio.Future[Any]] = {fut, closed}
                try:
                    done, _ = await asyncio.wait(waiting, timeout=max(0.0, left),
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    closed.cancel()
                if not done:
                    raise TimeoutError
        except TimeoutError:
            self.api.errors[f"{label}:timeout"] += 1
            return None
        finally:
            self._pending.pop(msg_id, None)
        reply = fut.result()
        status = 200 if reply["type"] == "ack" else int(reply.get("code", 4400))
        self.api.record(label=label, started=started, status=status)
        return reply

    async def _run(self) -> None:
        while not self._closing:
            url = f"{self.url}?last_event_id={self.last_event_id}" if self.last_event_id \
                else self.url
            try:
                async with connect(url, open_timeout=30.0, max_size=2**22,
                                   additional_headers={
                                       "Authorization": f"Bearer {self.token}"}) as ws:
                    self._ws = ws
                    self._connected.set()
                    async for raw in ws:
                        self._frame(orjson.loads(raw))
            except (ConnectionClosed, OSError, InvalidHandshake, InvalidStatus,
                    TimeoutError) as exc:
                if self._closing:
                    return
                log.info("%s: link lost (%r); reconnecting", self.name, exc)
            self._connected.clear()
            if self._closing:
                return
            self.reconnects += 1
            self.api.errors[f"ws_reconnect:{self.name.split('-')[0]}"] += 1
            await asyncio.sleep(RECONNECT_PAUSE_S)

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind in ("ack", "error") and frame.get("msg_id") in self._pending:
            fut = self._pending[frame["msg_id"]]
            if not fut.done():
                fut.set_result(frame)
        elif kind == "event":
            self.last_event_id = frame["id"]
            self.on_event(frame)
        elif kind == "snapshot":
            self.last_event_id = frame.get("last_event_id") or self.last_event_id
            if self.on_snapshot is not None:
                self.on_snapshot(frame)
        elif kind == "resync":
            # Too far behind: ask to be replayed from the last event handled.
            self.resyncs += 1
            if self._ws is not None and frame.get("last_event_id"):
                resume = {"type": "resume", "last_event_id": frame["last_event_id"]}
                task = asyncio.get_running_loop().create_task(
                    self._ws.send(orjson.dumps(resume).decode()))
                task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        elif kind == "error":
            self.api.errors[f"ws_error:{frame.get('code')}"] += 1
