"""Redis Streams as the nervous system: publish an event, read from an id.

PostgreSQL has already committed whatever is published here; the streams only fan events
out to every service instance and let a reconnecting client replay what it missed.
Topics: ``console`` (dispatchers), ``vehicle:<id>`` (a crew), ``hospital:<id>`` (an ED).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from dispatch.jsoncodec import dumps


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: str
    topic: str
    payload: dict[str, Any]


class Bus:
    """Publish to and read from the per-topic streams under one key prefix."""

    def __init__(self, *, redis: aioredis.Redis, prefix: str, maxlen: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._maxlen = maxlen

    def key(self, topic: str) -> str:
        return f"{self._prefix}:stream:{topic}"

    async def publish(self, topic: str, payload: dict[str, Any]) -> str:
        """Append one event to a topic; return its stream id."""
        event_id = await self._redis.xadd(
            self.key(topic),
            {"d": dumps(payload)},
            maxlen=self._maxlen,
            approximate=True,
        )
        return _text(event_id)

    async def publish_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Append several events in one round trip, in order."""
        if not items:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for topic, payload in items:
            pipe.xadd(
                self.key(topic),
                {"d": dumps(payload)},
                maxlen=self._maxlen,
                approximate=True,
            )
        return [_text(i) for i in await pipe.execute()]

    async def read_after(
        self, topic: str, *, after_id: str, count: int = 500
    ) -> list[StreamEvent]:
        """Events strictly after `after_id` ("0" for all), oldest first."""
        start = f"({after_id}" if after_id != "0" else "-"
        rows: Any = await self._redis.xrange(self.key(topic), min=start, max="+",
                                                   count=count)
        return [_event(topic, row) for row in rows]

    async def oldest_id(self, topic: str) -> str | None:
        """The first id still kept, or None for an empty stream (trimming drops the oldest)."""
        rows: Any = await self._redis.xrange(self.key(topic), min="-", max="+", count=1)
        return _text(rows[0][0]) if rows else None

    async def wait(
        self, offsets: dict[str, str], *, block_ms: int, count: int = 500
    ) -> list[StreamEvent]:
        """Block until any topic has events after its offset; return them."""
        streams: dict[Any, Any] = {self.key(t): i for t, i in offsets.items()}
        reply: Any = await self._redis.xread(streams, block=block_ms, count=count)
        events: list[StreamEvent] = []
        prefix_len = len(self.key(""))
        for key, rows in reply or []:
            topic = _text(key)[prefix_len:]
            events.extend(_event(topic, row) for row in rows)
        return events


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _event(topic: str, row: Any) -> StreamEvent:
    event_id, fields = row
    data = fields.get(b"d") if b"d" in fields else fields.get("d")
    return StreamEvent(id=_text(event_id), topic=topic, payload=orjson.loads(data))
