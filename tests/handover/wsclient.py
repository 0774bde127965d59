"""Helpers for the websocket tests: real service processes, tokens, frames with timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from dispatch.auth import issue_token
from dispatch.config import Settings
from dispatch.domain import Role
from tests.conftest import drop_isolation, isolated_settings
from tests.instances import instances
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
WAIT_S = 10.0


@dataclass
class Cluster:
    settings: Settings
    urls: list[str]
    http: httpx.AsyncClient

    def token(self, role: Role, **binding: str) -> str:
        return issue_token(secret=self.settings.jwt_secret, issuer=self.settings.jwt_issuer,
                           subject=f"test-{role.value}-{binding}", role=role,
                           now=datetime.now(UTC), ttl_s=3600, **binding)

    def auth(self, role: Role = Role.DISPATCHER, **binding: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **binding)}"}

    def ws_url(self, instance: int, channel: str, **query: str) -> str:
        base = self.urls[instance].replace("http://", "ws://")
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{base}/v1/ws/{channel}" + (f"?{qs}" if qs else "")

    @asynccontextmanager
    async def ws(self, instance: int, channel: str, role: Role, *, last_event_id: str | None = None,
                 **binding: str) -> AsyncIterator[ClientConnection]:
        query = {"token": self.token(role, **binding)}
        if last_event_id is not None:
            query["last_event_id"] = last_event_id
        async with connect(self.ws_url(instance, channel, **query), open_timeout=WAIT_S,
                           max_size=2**22) as ws:
            yield ws

    @asynccontextmanager
    async def crew_of_new_call(
        self, instance: int = 0
    ) -> AsyncIterator[tuple[ClientConnection, str, str]]:
        """A new call and its crew connected, past the snapshot: (crew, call id, vehicle)."""
        call = await self.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        async with self.ws(instance, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)
            yield crew, call_id, vehicle

    async def new_call(self, answers: dict[str, Any] | None = None,
                       lon: float = CENTRE[0], lat: float = CENTRE[1],
                       number: str = "13800000001") -> dict[str, Any]:
        body = call_body(lon, lat, answers=answers if answers is not None else CHEST_PAIN,
                         number=number)
        r = await self.http.post(f"{self.urls[0]}/v1/calls", json=body, headers=self.auth())
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data


@asynccontextmanager
async def cluster(n: int = 2, *, vehicles: int = 4, **overrides: Any) -> AsyncIterator[Cluster]:
    """`n` instances on the city with `vehicles`; `overrides`: settings (a database_url of
    a test's own PostgreSQL, a smaller db_pool_max)."""
    settings = isolated_settings(**overrides)
    try:
        async with instances(settings, n) as urls, httpx.AsyncClient(timeout=WAIT_S) as http:
            c = Cluster(settings=settings, urls=urls, http=http)
            r = await http.post(f"{urls[0]}/v1/admin/reference",
                                json=city(n_vehicles=vehicles, seed=3),
                                headers=c.auth(Role.ADMIN))
            assert r.status_code == 200, r.text
            yield c
    finally:
        await drop_isolation(settings)


async def recv(ws: ClientConnection, timeout: float = WAIT_S) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    frame: dict[str, Any] = orjson.loads(raw)
    return frame


async def until(ws: ClientConnection, match: Callable[[dict[str, Any]], bool],
                timeout: float = WAIT_S) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read frames until one matches; return it and everything read before it."""
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await recv(ws, max(0.01, deadline - loop.time()))
        if match(frame):
            return frame, seen
        seen.append(frame)


def event(kind: str, call_id: str | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "event" and f.get("kind") == kind and (
        call_id is None or f.get("call_id") == call_id)


def ack(msg_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") in ("ack", "error") and f.get("msg_id") == msg_id


async def until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], Close | None]:
    """Every frame until the server closes the connection, and its close frame."""
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(await recv(ws))
    except ConnectionClosed as closed:
        return frames, closed.rcvd


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(frame).decode())


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
