"""A steady stream of 120 calls with the retries a real call-taking client makes.

Every call has its own Idempotency-Key. An answer other than 200/201 that may be
transient (a 5xx, no answer, a dropped connection) is retried with the same key on the
other instance, after the Retry-After the service asked for (capped: a call taker does
not wait long). Every attempt is recorded, so a test can say what clients saw.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.service.calls import call_body

MAX_BACKOFF_S = 0.5


@dataclass(frozen=True, slots=True)
class Answer:
    """One attempt: which instance, its HTTP status (None: no HTTP answer) and timing."""

    instance: int
    status: int | None
    error: str
    sent_at: float  # loop time
    elapsed_s: float
    retry_after: str | None = None
    body: str = ""


@dataclass
class Call:
    key: str
    number: str
    body: dict[str, Any]
    first_sent: float = 0.0
    answers: list[Answer] = field(default_factory=list)
    call_id: str | None = None  # from the first 200/201
    ids_seen: set[str] = field(default_factory=set)  # every id any answer named
    created: bool = False  # some answer was a 201
    acked_at: float | None = None
    status: str | None = None  # the call's status in the acknowledging answer

    @property
    def acknowledged(self) -> bool:
        return self.call_id is not None

    @property
    def retried(self) -> bool:
        return len(self.answers) > 1


@dataclass
class CallLoad:
    """Send calls at a steady rate, alternating instances, each retried until acknowledged."""

    http: httpx.AsyncClient
    urls: list[str]  # read at each attempt: a test may replace an instance meanwhile
    headers: dict[str, str]
    points: list[tuple[float, float]]
    retry_for_s: float = 30.0
    timeout_s: float = 10.0
    seed: int = 14
    calls: list[Call] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def new_call(self) -> Call:
        i = len(self.calls)
        lon, lat = self._rng.choice(self.points)
        lon += self._rng.uniform(-0.003, 0.003)
        lat += self._rng.uniform(-0.003, 0.003)
        number = f"13{self.seed % 10}{i:08d}"
        call = Call(key=f"fault-{self.seed}-{i}", number=number,
                    body=call_body(lon, lat, number=number))
        self.calls.append(call)
        return call

    async def send(self, call: Call, instance: int) -> None:
        """Post `call` until an instance acknowledges it or `retry_for_s` runs out."""
        loop = asyncio.get_running_loop()
        call.first_sent = loop.time()
        deadline = call.first_sent + self.retry_for_s
        while True:
            answer, data = await self._attempt(call, instance)
            call.answers.append(answer)
            if answer.status in (200, 201) and data is not None:
                call.ids_seen.add(data["id"])
                if call.call_id is None:
                    call.call_id = data["id"]
                    call.acked_at = loop.time()
                    call.status = data.get("status")
                call.created = call.created or answer.status == 201
                return
            if answer.status is not None and answer.status < 500:
                return  # refused: never retried, the test reports it
            if loop.time() >= deadline:
                return
            wait = 0.1
            if answer.retry_after is not None:
                try:
                    wait = float(answer.retry_after)
                except ValueError:
                    pass
            await asyncio.sleep(min(wait, MAX_BACKOFF_S))
            instance = (instance + 1) % len(self.urls)

    async def _attempt(self, call: Call, instance: int) -> tuple[Answer, dict[str, Any] | None]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            r = await self.http.post(f"{self.urls[instance]}/v1/calls", json=call.body,
                                     headers={**self.headers, "Idempotency-Key": call.key},
                                     timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            return Answer(instance, None, type(exc).__name__, t0, loop.time() - t0), None
        data = r.json() if r.status_code in (200, 201) else None
        return Answer(instance, r.status_code, "", t0, loop.time() - t0,
                      r.headers.get("retry-after"),
                      "" if data is not None else r.text[:300]), data

    def start(self, call: Call, instance: int) -> None:
        self._tasks.append(asyncio.create_task(self.send(call, instance)))

    async def run(self, *, rate_per_s: float, duration_s: float) -> None:
        """Start a call every 1/rate s for `duration_s` (alternating instances)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = int(rate_per_s * duration_s)
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / rate_per_s - loop.time()))
            self.start(self.new_call(), i % len(self.urls))

    async def settle(self) -> None:
        """Wait until every call is acknowledged or has given up."""
        await asyncio.gather(*self._tasks)

    # ------------------------------------------------------------------ summaries

    def statuses(self) -> Counter[int | None]:
        return Counter(a.status for c in self.calls for a in c.answers)

    def answers(self) -> list[Answer]:
        return [a for c in self.calls for a in c.answers]

    def unacknowledged(self) -> list[Call]:
        return [c for c in self.calls if not c.acknowledged]

    def inconsistent(self) -> list[Call]:
        """Calls whose answers named more than one call id (a duplicate made by a retry)."""
        return [c for c in self.calls if len(c.ids_seen) > 1]
