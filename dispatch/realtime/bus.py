"""Redis Streams as the nervous system: publish an event, read from an id.

PostgreSQL has already committed whatever is published here; the streams only fan events
out to every service instance and let a reconnecting client replay what it missed.
Topics: ``console`` (dispatchers), ``vehicle:<id>`` (a crew), ``hospital:<id>`` (an ED).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from dispatch.jsoncodec import dumps
from dispatch.realtime.resp import Command, RespEndpoint, RespLink


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: str
    topic: str
    payload: dict[str, Any]


class Along(Protocol):
    """A write to send with a batch of appends (dispatch.live_index.IndexWrite)."""

    @property
    def command(self) -> Command: ...

    def settled(self, error: Exception | None) -> None:
        """Its outcome: None when Redis applied it, else why not."""


class Bus:
    """Publish to and read from the per-topic streams under one key prefix.

    With `endpoint` (a Redis server reached over the network, as in every deployment)
    appends and live reads go over lean pipelined connections (dispatch.realtime.resp); without
    it (the demo's in-process Redis) everything goes through the redis-py client.
    """

    def __init__(self, *, redis: aioredis.Redis, prefix: str, maxlen: int,
                 endpoint: RespEndpoint | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self._maxlen = maxlen
        self._endpoint = endpoint
        # Every append of this instance, pipelined on one connection in call order.
        self._appender = RespLink(endpoint) if endpoint is not None else None

    def key(self, topic: str) -> str:
        return f"{self._prefix}:stream:{topic}"

    async def publish(self, topic: str, payload: dict[str, Any]) -> str:
        """Append one event to a topic; return its stream id."""
        [event_id] = await self.publish_many([(topic, payload)])
        return event_id

    async def publish_many(self, items: list[tuple[str, dict[str, Any]]], *,
                           along: Sequence[Along] = ()) -> list[str]:
        """Append several events in one round trip, in order; return their ids.

        `along`: other writes (the live index's) sent first in the same exchange, so a
        request's post-commit work wakes Redis once. Each hears its own outcome
        (`settled`); the appends raise as alone: an exchange that failed after settling
        them, an append Redis refused after the others ran."""
        if not items and not along:
            return []
        commands: list[Command] = [a.command for a in along]
        maxlen = self._maxlen
        commands += [("XADD", self.key(topic), "MAXLEN", "~", maxlen, "*", "d", dumps(payload))
                     for topic, payload in items]
        replies: list[Any]
        try:
            if self._appender is not None:
                replies = await self._appender.execute(commands, raise_errors=False)
            else:
                pipe = self._redis.pipeline(transaction=False)
                for command in commands:
                    pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for a in along:
                a.settled(exc)
            raise
        for a, reply in zip(along, replies, strict=False):
            a.settled(reply if isinstance(reply, Exception) else None)
        ids = replies[len(along):]
        for reply in ids:
            if isinstance(reply, Exception):
                raise reply
        return [_text(i) for i in ids]

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

    def reader(self) -> StreamReader:
        """A reader for blocking reads of live events, with a connection of its own."""
        return StreamReader(bus=self, redis=self._redis, link=RespLink(self._endpoint)
                            if self._endpoint is not None else None)

    async def close(self) -> None:
        """Close the appends' connection."""
        if self._appender is not None:
            await self._appender.close()


class StreamReader:
    """Blocking XREADs of one reader task (Bus.reader): on its own lean connection, or
    through the redis-py client (`link` None: the demo's in-process Redis)."""

    def __init__(self, *, bus: Bus, redis: aioredis.Redis, link: RespLink | None) -> None:
        self._bus = bus
        self._redis = redis
        self._link = link
        self._prefix_len = len(bus.key(""))

    async def wait(
        self, offsets: dict[str, str], *, block_ms: int, count: int = 500
    ) -> list[StreamEvent]:
        """Block until any topic has events after its offset; return them."""
        keys = [self._bus.key(t) for t in offsets]
        reply: Any
        if self._link is not None:
            [reply] = await self._link.execute(
                [("XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", *keys,
                  *offsets.values())],
                extra_wait_s=block_ms / 1000)
        else:
            reply = await self._redis.xread(dict(zip(keys, offsets.values(), strict=True)),
                                            block=block_ms, count=count)
        events: list[StreamEvent] = []
        prefix_len = self._prefix_len
        for key, rows in reply or []:
            topic = _text(key)[prefix_len:]
            events.extend(_event(topic, row) for row in rows)
        return events

    async def close(self) -> None:
        """Close the reader's connection."""
        if self._link is not None:
            await self._link.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _event(topic: str, row: Any) -> StreamEvent:
    event_id, fields = row
    if isinstance(fields, list):  # a raw reply: [field, value, ...]
        data = fields[fields.index(b"d") + 1]
    else:  # redis-py's: {field: value}
        data = fields.get(b"d") if b"d" in fields else fields.get("d")
    return StreamEvent(id=_text(event_id), topic=topic, payload=orjson.loads(data))
