"""The harness's side of the public HTTP API: tokens, round-robin over instances, timing.

Every request the harness makes goes through `Api.request`, which records how long it took
(from the moment it was *meant* to go out, for open-loop traffic, so a stalled service cannot
hide its queueing: no coordinated omission) under a label.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from dispatch.auth import issue_token
from dispatch.domain import Role
from dispatch.gc_tuning import tune_gc
from loadtests.city import City, build_city
from loadtests.lean_http import LeanHttp, LeanResponse, TransportError

JWT_ISSUER = "dispatch"


@dataclass
class Tokens:
    """A dispatcher token, and crew tokens minted per vehicle when the secret is known.

    Without the secret (a remote deployment driven with `--token`), crews act with the
    dispatcher token, which the service allows for status and position reports.
    """

    dispatcher: str
    jwt_secret: str | None = None
    _crew: dict[str, str] = field(default_factory=dict)

    @classmethod
    def minted(cls, *, secret: str) -> Tokens:
        """Tokens signed with a known secret (local instances)."""
        token = issue_token(secret=secret, issuer=JWT_ISSUER, subject="loadtest-dispatcher",
                            role=Role.DISPATCHER, now=datetime.now(UTC), ttl_s=12 * 3600)
        return cls(dispatcher=token, jwt_secret=secret)

    def crew(self, vehicle_id: str) -> str:
        """The token a crew tablet of this vehicle uses."""
        if self.jwt_secret is None:
            return self.dispatcher
        if vehicle_id not in self._crew:
            self._crew[vehicle_id] = issue_token(
                secret=self.jwt_secret, issuer=JWT_ISSUER, subject=f"loadtest-{vehicle_id}",
                role=Role.CREW, now=datetime.now(UTC), ttl_s=12 * 3600, vehicle_id=vehicle_id)
        return self._crew[vehicle_id]

    def hospital(self, hospital_id: str) -> str:
        """The token of a receiving centre's ED screen (needs the secret)."""
        if self.jwt_secret is None:
            raise ValueError("ED screens need hospital tokens: give the JWT secret")
        key = f"hospital:{hospital_id}"
        if key not in self._crew:
            self._crew[key] = issue_token(
                secret=self.jwt_secret, issuer=JWT_ISSUER, subject=f"loadtest-{hospital_id}",
                role=Role.HOSPITAL, now=datetime.now(UTC), ttl_s=12 * 3600,
                hospital_id=hospital_id)
        return self._crew[key]


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it was meant to start (monotonic s), its latency, its status."""

    label: str
    started: float
    latency_s: float
    status: int


class Api:
    """Lean keep-alive HTTP/1.1 clients (loadtests/lean_http.py) over one or more
    instances, taken in turn, recording every request."""

    def __init__(self, *, urls: tuple[str, ...], tokens: Tokens, max_connections: int = 200,
                 timeout_s: float = 30.0) -> None:
        self.urls = urls
        self.tokens = tokens
        self._next = itertools.cycle(range(len(urls)))
        self.clients = [LeanHttp(u, max_connections=max_connections, timeout_s=timeout_s)
                        for u in urls]
        self.samples: dict[str, list[Sample]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.t0 = time.perf_counter()

    async def aclose(self) -> None:
        """Close the connections."""
        for client in self.clients:
            await client.aclose()

    def record(self, *, label: str, started: float, status: int) -> None:
        """Record a message timed outside `request` (a websocket frame and its ack)."""
        self.samples[label].append(Sample(label, started, self.clock() - started, status))
        if status >= 400:
            self.errors[f"{label}:{status}"] += 1

    def clock(self) -> float:
        """Seconds since the client was made (the harness's monotonic clock)."""
        return time.perf_counter() - self.t0

    async def request(
        self, method: str, path: str, *, label: str, token: str | None = None,
        body: Any = None, headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None, meant_at: float | None = None,
        content: bytes | None = None,
    ) -> LeanResponse | None:
        """Send, time and record one request; None when the transport failed.

        `body` is sent as JSON; `content` is a JSON body already encoded."""
        start = self.clock() if meant_at is None else meant_at
        hdrs = {"Authorization": f"Bearer {token or self.tokens.dispatcher}"}
        if body is not None:
            content = orjson.dumps(body)
        if content is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        client = self.clients[next(self._next)]
        try:
            r = await client.request(method, path, headers=hdrs, params=params, body=content)
        except TransportError:
            self.errors[f"{label}:transport"] += 1
            return None
        self.samples[label].append(Sample(label, start, self.clock() - start, r.status_code))
        if r.status_code >= 400:
            self.errors[f"{label}:{r.status_code}"] += 1
        return r

    async def city(self) -> City:
        """The city as the service knows it."""
        parts = {}
        for name, path in (("districts", "/v1/districts"), ("stations", "/v1/stations"),
                           ("hospitals", "/v1/hospitals"), ("vehicles", "/v1/vehicles")):
            r = await self.request("GET", path, label="reference")
            if r is None or r.status_code != 200:
                raise RuntimeError(f"GET {path} failed: {r.status_code if r else 'transport'}"
                                   f" {r.text[:200] if r else ''}")
            parts[name] = r.json()
        return build_city(districts=parts["districts"],
                          stations=parts["stations"]["stations"],
                          hospitals=parts["hospitals"]["hospitals"],
                          vehicles=parts["vehicles"]["vehicles"])


def iso(dt: datetime) -> str:
    """An aware datetime as ISO 8601."""
    return dt.isoformat()


def run_loop(coro: Any) -> Any:
    """Run on uvloop when it is installed (it is, with uvicorn[standard]), with the
    service's collector settings: the harness's own collections would read as latency."""
    tune_gc()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
