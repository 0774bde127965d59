"""Fan-out of the Redis streams to this instance's websocket clients.

Two reader tasks per instance block on XREAD over the topics local clients need (plus
a private control stream each, that wakes it when a topic is added), and offer each event,
encoded once, to the subscribers' bounded queues. One reads the crews' `vehicle:<id>`
topics, one the rest (centres and consoles): a thousand crews' quiet mission streams
would otherwise ride along on every XREAD of the busy centre streams (hundreds a second),
and Redis would scan them all each time. No client ever polls Redis for live events; a
client only reads Redis itself to catch up after a resume.

A subscriber whose queue is full loses its queue and gets one `Overflow` marker: its
pump tells the client to resync (resume from its last event id), so a slow screen costs
at most `queue_size` events of memory and never stalls the reader or other clients.

A reader whose Redis link failed (a restart, a Sentinel failover) may have missed events:
a fan-out that failed meanwhile is never written, and a failover loses what the old
master had not yet replicated. So once it reads again, a resume from before that moment
is unproven (`can_resume`) and its subscribers are told to resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dispatch.realtime.bus import Bus, StreamEvent

__all__ = [
    "Delivery",
    "Hub",
    "Overflow",
    "Subscription",
    "event_frame_bytes",
    "event_frame_text",
    "id_key",
    "pump",
    "server_started_ms",
    "valid_event_id",
]

log = logging.getLogger(__name__)

# A screen that falls 1,000 frames behind (minutes of one ambulance's 1 Hz data, or a
# second of a busy centre's) is better served by a resume than by a growing buffer.
DEFAULT_QUEUE_SIZE = 1_000
# Below the Redis client's socket timeout, so a quiet XREAD never looks like a dead link.
DEFAULT_BLOCK_MS = 2_000
# After a read that found events, the next XREAD waits this long: under load each read
# then carries a few milliseconds of events instead of one, which cuts the reader's Redis
# round trips (and Redis' scans of every listed stream) several-fold for at most this
# much added latency. A quiet topic's first event is still delivered at once (BLOCK).
DEFAULT_READ_GAP_S = 0.003
CATCH_UP_BATCH = 500


# Redis stream ids are two unsigned 64-bit integers; a larger one is an error in XRANGE.
_MAX_ID_PART = 2**64 - 1


def valid_event_id(text: str) -> bool:
    """Whether a client's resume id is a stream id: "<ms>" or "<ms>-<seq>", each within
    Redis' unsigned 64-bit range (ASCII digits only: no sign, no NUL, no other scripts)."""
    ms, sep, seq = text.partition("-")
    parts = (ms, seq) if sep else (ms,)
    return all(p.isascii() and p.isdigit() and len(p) <= 20 and int(p) <= _MAX_ID_PART
               for p in parts)


def server_started_ms(info: object) -> int | None:
    """When the Redis server started, in its own clock's milliseconds (the clock of its
    stream ids), from `INFO server`; None when it does not say (fakeredis, a managed
    Redis hiding INFO). Uptime is whole seconds, so this is at most a second late: ids of
    that second after the start are taken for older, which costs a snapshot, never a gap.
    """
    if not isinstance(info, dict):
        return None
    try:
        return int(info["server_time_usec"]) // 1000 - int(info["uptime_in_seconds"]) * 1000
    except (KeyError, TypeError, ValueError):
        return None


def id_key(event_id: str) -> tuple[int, int]:
    """A stream id as a comparable (milliseconds, sequence) pair; "0" sorts first."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Overflow:
    """Queue marker: the subscriber's queue overflowed and was dropped."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A live event with its frame, encoded once for every local subscriber of its topic."""

    event: StreamEvent
    text: str
    key: tuple[int, int]  # id_key(event.id), computed once for every subscriber


_OVERFLOW = Overflow()


@dataclass(eq=False)
class Subscription:
    """One client's interest in one topic, with its bounded queue of live events."""

    topic: str
    queue: asyncio.Queue[Delivery | Overflow]
    overflowed: bool = False
    # Set when the stream itself may have lost events (Redis lost its data), not the client.
    stream_lost: bool = False

    def offer(self, delivery: Delivery) -> None:
        """Queue a live event; on overflow drop the queue and leave one Overflow marker."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.drop()

    def drop(self) -> None:
        """Drop the queue and leave one Overflow marker: the client must resume."""
        self.overflowed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(_OVERFLOW)


_VEHICLES, _OTHERS = "vehicles", "others"
_GROUPS = (_VEHICLES, _OTHERS)


def _group(topic: str) -> str:
    """Which reader reads a topic."""
    return _VEHICLES if topic.startswith("vehicle:") else _OTHERS


@dataclass(eq=False)
class _Feed:
    offset: str  # the last id read, for the next XREAD
    subscribers: set[Subscription] = field(default_factory=set)
    offset_key: tuple[int, int] = field(init=False)  # id_key(offset), kept with it
    # Read from before a failed read: checked (Hub._check_feeds) before it is read again.
    suspect: bool = False

    def __post_init__(self) -> None:
        self.offset_key = id_key(self.offset)


class Hub:
    """This instance's single reader of the streams its clients need."""

    def __init__(
        self,
        *,
        bus: Bus,
        redis: aioredis.Redis,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        block_ms: int = DEFAULT_BLOCK_MS,
        read_gap_s: float = DEFAULT_READ_GAP_S,
    ) -> None:
        self.bus = bus
        self._redis = redis
        self._queue_size = queue_size
        self._block_ms = block_ms
        self._read_gap_s = read_gap_s
        # Topic -> feed, by the reader that reads it: each XREAD lists only its own topics.
        self._feeds: dict[str, dict[str, _Feed]] = {group: {} for group in _GROUPS}
        tag = uuid.uuid4().hex
        self._controls = {group: f"_control:{tag}:{group}" for group in _GROUPS}
        self._control_offsets = dict.fromkeys(_GROUPS, "0")
        self._readers = {group: bus.reader() for group in _GROUPS}
        # Redis' clock when a reader read again after its link failed (a restart, a
        # Sentinel failover): a resume from an older id may have missed events that no
        # stream holds (a fan-out that failed meanwhile, writes the old master had not
        # replicated), so it is no proof of a gap-free resume.
        self._resume_floor = (0, 0)
        self._tasks: list[asyncio.Task[None]] = []
        # set before cancelling the readers: redis-py may turn a cancellation inside a
        # blocking read into a ConnectionError, which the retry loop would otherwise swallow
        self._stopping = False
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the reader tasks."""
        for group in _GROUPS:
            self._control_offsets[group] = await self.last_id(self._controls[group]) or "0"
            self._tasks.append(asyncio.create_task(self._run(group),
                                                   name=f"handover-hub-reader-{group}"))

    async def stop(self) -> None:
        """Stop the reader tasks and remove the control streams."""
        self._stopping = True
        for group in self._controls:
            # end each reader's blocking XREAD now rather than at its timeout
            with contextlib.suppress(RedisError, OSError):
                await self._wake(group)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=5.0)  # cancels it if still running
        self._tasks.clear()
        for reader in self._readers.values():
            await reader.close()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(*(self.bus.key(c) for c in self._controls.values()))

    async def last_id(self, topic: str) -> str | None:
        """The newest id of a topic's stream, or None when it is empty."""
        rows = await self._redis.xrevrange(self.bus.key(topic), max="+", min="-", count=1)
        if not rows:
            return None
        raw = rows[0][0]
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def can_resume(self, topic: str, after_id: str) -> bool:
        """Whether a resume from `after_id` is provably gap-free: the stream still holds
        the very entry the client saw last, and it is newer than the Redis server's start.

        A stream only ever loses entries from its start (MAXLEN trimming), so while that
        entry is there, so is everything after it. Once it is gone, the stream was trimmed
        past it or Redis lost its data; a Redis restarted empty gives new entries newer ids,
        which say nothing of the entries lost with the old ones. "0" (a snapshot taken of
        an empty stream) proves nothing either. And a Redis restored after a crash (AOF,
        RDB) may hold the entry but not the ones after it that never reached its disk: an
        id from before the server started is not proof. Anything unproven: a snapshot.
        """
        pipe = self._redis.pipeline(transaction=False)
        pipe.xrange(self.bus.key(topic), min=after_id, max=after_id, count=1)
        pipe.info("server")
        rows, info = await pipe.execute(raise_on_error=False)
        if isinstance(rows, Exception):
            raise rows
        if not rows:
            return False
        if id_key(after_id) < self._resume_floor:
            return False  # from before a Redis failure this instance saw
        started_ms = server_started_ms(info)
        return started_ms is None or id_key(after_id) >= (started_ms, 0)

    async def subscribe(self, topic: str) -> Subscription:
        """Start queueing the topic's live events for a new subscriber."""
        sub = Subscription(topic=topic, queue=asyncio.Queue(maxsize=self._queue_size))
        async with self._lock:
            group = _group(topic)
            feeds = self._feeds[group]
            feed = feeds.get(topic)
            if feed is None:
                # Events after the current end are live; the subscriber catches up on
                # anything older from the stream itself.
                feed = _Feed(offset=await self.last_id(topic) or "0")
                feeds[topic] = feed
                feed.subscribers.add(sub)
                await self._wake(group)
            else:
                feed.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop queueing for this subscriber; forget the topic when nobody wants it."""
        feeds = self._feeds[_group(sub.topic)]
        feed = feeds.get(sub.topic)
        if feed is None:
            return
        feed.subscribers.discard(sub)
        if not feed.subscribers:
            del feeds[sub.topic]

    @property
    def topics(self) -> frozenset[str]:
        """Topics this instance reads now."""
        return frozenset(topic for feeds in self._feeds.values() for topic in feeds)

    def subscriber_counts(self) -> dict[str, int]:
        """Live subscriptions on this instance by channel (console, vehicle, hospital)."""
        counts: dict[str, int] = {}
        for topic, feed in self._all_feeds():
            channel = topic.split(":", 1)[0]
            counts[channel] = counts.get(channel, 0) + len(feed.subscribers)
        return counts

    async def stream_lag_s(self) -> float:
        """Age of the oldest stream entry written but not yet fanned out here (0 if none)."""
        lag_ms = 0
        for topic, feed in self._all_feeds():
            seen_ms = feed.offset_key[0]
            newest = await self.last_id(topic)
            if seen_ms and newest is not None and id_key(newest) > feed.offset_key:
                # stream ids start with their millisecond timestamp
                lag_ms = max(lag_ms, id_key(newest)[0] - seen_ms)
        return lag_ms / 1000.0

    def _all_feeds(self) -> list[tuple[str, _Feed]]:
        """Every (topic, feed) of both readers (a copy: callers may await meanwhile)."""
        return [item for feeds in self._feeds.values() for item in feeds.items()]

    async def _wake(self, group: str) -> None:
        # Interrupts the reader's XREAD BLOCK so it includes the new topic at once.
        await self._redis.xadd(self.bus.key(self._controls[group]), {"d": b"{}"}, maxlen=16,
                               approximate=True)

    async def _run(self, group: str) -> None:
        control = self._controls[group]
        failed = False
        while not self._stopping:
            try:
                if failed:
                    await self._raise_resume_floor()
                    await self._check_feeds(group)
                    failed = False
                offsets = {control: self._control_offsets[group]}
                offsets.update({topic: feed.offset
                                for topic, feed in self._feeds[group].items()})
                events = await self._readers[group].wait(offsets, block_ms=self._block_ms)
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                log.warning("stream reader: %s; retrying", exc)
                failed = True
                for feed in self._feeds[group].values():
                    feed.suspect = True
                await asyncio.sleep(0.5)
                continue
            self._dispatch(group, events)
            if events and self._read_gap_s > 0:
                await asyncio.sleep(self._read_gap_s)

    async def _raise_resume_floor(self) -> None:
        """The reader reads again after its link failed: what any feed read before now is
        unproven (every feed's subscribers then resync in _check_feeds)."""
        seconds, micros = await self._redis.time()
        self._resume_floor = max(self._resume_floor, (seconds * 1000 + micros // 1000, 0))

    async def _check_feeds(self, group: str) -> None:
        """After a failed read: a feed read before it whose last event is no longer in its
        stream, or older than the Redis server's start, may have missed events (can_resume);
        its subscribers must resume, which gets them a snapshot, and the feed goes on from
        the stream's end. (A feed made since reads the current server: nothing to check.)"""
        async with self._lock:
            for topic, feed in list(self._feeds[group].items()):
                if not feed.suspect:
                    continue
                if await self.can_resume(topic, feed.offset):
                    feed.suspect = False
                    continue
                log.warning("stream %s lost events after %s; its screens resync", topic,
                            feed.offset)
                for sub in feed.subscribers:
                    sub.stream_lost = True
                    sub.drop()
                feed.offset = await self.last_id(topic) or "0"
                feed.offset_key = id_key(feed.offset)
                feed.suspect = False

    def _dispatch(self, group: str, events: list[StreamEvent]) -> None:
        control = self._controls[group]
        for event in events:
            if event.topic == control:
                self._control_offsets[group] = event.id
                continue
            feed = self._feeds[group].get(event.topic)
            if feed is None:
                continue
            key = id_key(event.id)
            if key <= feed.offset_key:
                continue
            feed.offset, feed.offset_key = event.id, key
            if not feed.subscribers:
                continue
            # One encoding per event and instance, however many screens watch the topic.
            delivery = Delivery(event=event, text=event_frame_text(event), key=key)
            for sub in tuple(feed.subscribers):
                sub.offer(delivery)


def event_frame_text(event: StreamEvent) -> str:
    """The `event` frame of a bus event as the text a websocket sends."""
    return event_frame_bytes(event).decode()


def event_frame_bytes(event: StreamEvent) -> bytes:
    """The `event` frame of a bus event: {"type", "id", "kind", "call_id", "data"}."""
    data = dict(event.payload)
    frame: dict[str, object] = {"type": "event", "id": event.id,
                                "kind": str(data.pop("kind", "event"))}
    call_id = data.pop("call_id", None)
    if call_id is not None:
        frame["call_id"] = call_id
    frame["data"] = data
    return orjson.dumps(frame)


Send = Callable[[str], Awaitable[None]]
BeforeSend = Callable[[StreamEvent], Awaitable[bool]]


async def pump(
    *,
    hub: Hub,
    sub: Subscription,
    after_id: str,
    send: Send,
    before_send: BeforeSend | None = None,
) -> str:
    """Send everything after `after_id`, then live events, in order and without duplicates.

    Returns the last id sent when the subscriber overflowed (the caller sends `resync`).
    The subscription must already be registered, so nothing falls between the catch-up
    read and the live queue; ids at or below the last sent one are skipped.
    """
    last = after_id
    while True:
        batch = await hub.bus.read_after(sub.topic, after_id=last, count=CATCH_UP_BATCH)
        for event in batch:
            if before_send is None or await before_send(event):
                await send(event_frame_text(event))
            last = event.id
        if len(batch) < CATCH_UP_BATCH:
            break
    last_key = id_key(last)
    while True:
        item = await sub.queue.get()
        if isinstance(item, Overflow):
            return last
        if item.key <= last_key:
            continue
        if before_send is None or await before_send(item.event):
            await send(item.text)
        last, last_key = item.event.id, item.key
