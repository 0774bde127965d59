"""A dispatcher console on the websocket, read in the background like a real screen."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


@dataclass
class Screen:
    """Every frame a console received, in order; `last_id` is where it would resume."""

    url: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    # answer a `resync` with a `resume` from its last_event_id, as a console app does
    follow_resync: bool = False
    _ws: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None

    async def open(self, *, token: str, last_event_id: str | None = None) -> None:
        query = f"?token={token}"
        if last_event_id is not None:
            query += f"&last_event_id={last_event_id}"
        self._ws = await connect(f"{self.url.replace('http://', 'ws://')}/v1/ws/console{query}",
                                 open_timeout=10, max_size=2**24)
        self._reader = asyncio.create_task(self._read(self._ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = orjson.loads(raw)
                self.frames.append(frame)
                if self.follow_resync and frame.get("type") == "resync":
                    await ws.send(orjson.dumps({"type": "resume",
                                                "last_event_id": frame["last_event_id"]}))
        except ConnectionClosed:
            pass
        finally:
            self.closed = True

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def wait_for(self, kind: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The first frame of `type` `kind`, waiting for it if need be."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for frame in self.frames:
                if frame.get("type") == kind:
                    return frame
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} frame in {timeout_s} s: {self.frames[-5:]}")

    async def quiet(self, *, for_s: float, at_most_s: float) -> None:
        """Wait until no frame arrived for `for_s` (or `at_most_s` passed)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + at_most_s
        seen, since = len(self.frames), loop.time()
        while loop.time() < end and loop.time() - since < for_s:
            await asyncio.sleep(0.1)
            if len(self.frames) != seen:
                seen, since = len(self.frames), loop.time()

    @property
    def last_id(self) -> str | None:
        for frame in reversed(self.frames):
            if frame.get("type") == "event" and frame.get("id"):
                return str(frame["id"])
            if frame.get("type") in ("snapshot", "resync") and frame.get("last_event_id"):
                return str(frame["last_event_id"])
        return None

    def created(self) -> set[str]:
        """Calls whose `call_created` event this screen received."""
        return {str(f["call_id"]) for f in self.frames
                if f.get("type") == "event" and f.get("kind") == "call_created"}
