"""One websocket client of a handover channel: its stream pump, its lanes of frames, and
how each frame is answered (the endpoints: dispatch.api.ws, which states the protocol).

A client's frames are read while earlier ones wait for their commit, and handed to a
lane; each lane handles its frames in order, answers each (an ack once committed, or an
error frame), then runs the frame's follow-up (publish, re-triage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import WebSocket
from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from dispatch.auth import Principal, Unauthenticated, verify_token
from dispatch.domain import Role
from dispatch.errors import Conflict, DispatchError, Forbidden, InvalidInput, NotFound
from dispatch.flows.crew_batches import CrewBatches
from dispatch.flows.crew_link import CrewLink, Handled
from dispatch.flows.record import audit_read, snapshot
from dispatch.handover.frames import encode_frame, error_frame
from dispatch.handover.messages import (
    CLOSE_INVALID_DATA,
    CLOSE_POLICY,
    ErrorFrame,
    FrameError,
    ResumeMsg,
    ResyncFrame,
    SnapshotFrame,
)
from dispatch.realtime.bus import StreamEvent
from dispatch.realtime.channels import Hub, pump, valid_event_id
from dispatch.refusals import record_refusal, uuid_or_none
from dispatch.runtime import Runtime

__all__ = ["BAD_RESUME_ID", "MAX_REFUSED_IN_A_ROW", "Connection", "Handler", "audit_refusal",
           "principal_of", "receive_loop"]

log = logging.getLogger(__name__)

CLOSE_SERVER_ERROR = 1011
# A tablet with a bug sends a few bad frames; a client that sends this many in a row
# is abusing the link.
MAX_REFUSED_IN_A_ROW = 20
# A dependency failed, not the frame: the same frame may succeed when resent.
_TRANSIENT = (asyncpg.PostgresError, asyncpg.InterfaceError, RedisError, OSError, TimeoutError)
BAD_RESUME_ID = ("last_event_id must be a stream id, '<ms>' or '<ms>-<seq>' "
                 "(digits, each at most 2^64-1)")
_ERROR_CODES: list[tuple[type[DispatchError], int]] = [
    (Forbidden, CLOSE_POLICY),
    (Unauthenticated, CLOSE_POLICY),
    (InvalidInput, CLOSE_INVALID_DATA),
    (NotFound, 4404),
    (Conflict, 4409),
]


def principal_of(websocket: WebSocket) -> Principal:
    """The caller's token from the header or the `token` query parameter."""
    token = websocket.query_params.get("token")
    header = websocket.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        token = value.strip()
    if not token:
        raise Unauthenticated("missing bearer token (Authorization header or ?token=)")
    settings = websocket.state.settings
    return verify_token(token=token, secret=settings.jwt_secret, issuer=settings.jwt_issuer)


async def audit_refusal(websocket: WebSocket, exc: DispatchError,
                         principal: Principal | None, call_id: object = None) -> None:
    """A refused connection or frame in the audit log (dispatch.refusals)."""
    token = websocket.query_params.get("token")
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        token = value.strip()
    if principal is None and isinstance(exc, Forbidden):
        principal = principal_of(websocket)  # its token verified; its role was refused
    await record_refusal(websocket.state.pool, principal=principal, token=token,
                         status=403 if isinstance(exc, Forbidden) else 401,
                         reason=exc.message, method="WEBSOCKET", path=websocket.url.path,
                         call_id=uuid_or_none(call_id))


def _fatal(error: FrameError) -> bool:
    """Whether a refused frame breaks the protocol (close) or only its content (keep)."""
    if error.code != CLOSE_INVALID_DATA or error.field == "type":
        return True  # unknown or foreign type, no type, too big
    # Not JSON, or not an object: the peer does not speak this protocol.
    return error.reason.startswith(("invalid JSON", "a frame must be a JSON object"))


@dataclass(eq=False)
class Connection:
    """One accepted websocket: its topic, its pump and a lock so frames never interleave."""

    websocket: WebSocket
    principal: Principal
    topic: str
    hub: Hub
    rt: Runtime
    crew: CrewBatches
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pump_task: asyncio.Task[None] | None = None
    seen_calls: set[str] = field(default_factory=set)
    link: CrewLink | None = None
    refused: int = 0  # frames refused in a row

    async def send(self, text: str) -> None:
        async with self.send_lock:
            await self.websocket.send_text(text)

    async def send_frame(self, frame: BaseModel) -> None:
        await self.send(encode_frame(frame).decode())

    async def start_pump(self, after_id: str | None) -> None:
        await self.stop_pump()
        self.pump_task = asyncio.create_task(self._pump(after_id))

    async def stop_pump(self) -> None:
        task, self.pump_task = self.pump_task, None
        # redis-py may swallow a cancellation that lands in a command (the pump's catch-up
        # read) and return its reply: the pump would go on to wait for live events, and a
        # resume wait for it forever. Cancel again until it has ended.
        while task is not None and not task.done():
            task.cancel()
            try:
                await asyncio.wait({task}, timeout=0.1)
            except asyncio.CancelledError:
                task.cancel()  # we are cancelled ourselves: do not leave it running
                raise
        if task is not None and not task.cancelled():
            task.exception()  # retrieved: a pump that failed has already closed the link

    async def _pump(self, after_id: str | None) -> None:
        sub = await self.hub.subscribe(self.topic)
        try:
            resumable = after_id is not None and await self.hub.can_resume(self.topic, after_id)
            start = after_id if resumable else None
            if start is None:
                start = await self.hub.last_id(self.topic) or "0"
                now = datetime.now(UTC)
                calls = await snapshot(rt=self.rt, principal=self.principal, now=now)
                if self.principal.role is Role.HOSPITAL:
                    self.seen_calls.update(str(c.get("call_id")) for c in calls)
                await self.send_frame(SnapshotFrame(last_event_id=start, calls=calls))
            last = await pump(hub=self.hub, sub=sub, after_id=start, send=self.send,
                              before_send=self._before_send)
            reason = ("the event stream lost events (Redis lost its data)" if sub.stream_lost
                      else f"more than {sub.queue.maxsize} frames behind")
            await self.send_frame(ResyncFrame(reason=f"{reason}; resume from last_event_id",
                                              last_event_id=last))
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client left while we were sending
        except (RedisError, OSError, asyncpg.PostgresError) as exc:
            # Never leave a screen open and silent: it reconnects and resumes.
            log.warning("stream of %s not served: %r", self.topic, exc)
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.close(code=CLOSE_SERVER_ERROR,
                                           reason="temporarily unavailable; resume later")
        finally:
            self.hub.unsubscribe(sub)

    async def _before_send(self, event: StreamEvent) -> bool:
        """Audit a centre's first read of each patient on this connection."""
        if self.principal.role is not Role.HOSPITAL:
            return True
        call_id = event.payload.get("call_id")
        if call_id and event.payload.get("kind") != "patient_removed" \
                and call_id not in self.seen_calls:
            self.seen_calls.add(call_id)
            await audit_read(rt=self.rt, principal=self.principal, call_id=UUID(call_id),
                             via="stream")
        return True


Handler = Callable[[Connection, Any, datetime], Awaitable[Handled]]


async def receive_loop(
    conn: Connection,
    parse: Callable[[str | bytes], Any] | None,
    handle: Handler | None,
    side_types: frozenset[str] = frozenset(),
) -> None:
    """Read the client's frames and hand them to their lane: frames whose type is in
    `side_types` to one, every other frame to the other (_Lane). Reading goes on while a
    lane waits for a commit, so neither lane waits for the other's."""
    websocket = conn.websocket
    lanes: dict[bool, _Lane] = {}
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text") if message.get("text") is not None \
                else message.get("bytes")
            try:
                if parse is None:
                    raise FrameError(code=CLOSE_POLICY, reason="this channel only listens")
                msg: Any = parse(raw or b"")
            except FrameError as exc:
                if _fatal(exc):
                    # The frames sent before it are still handled and answered first.
                    for pending in lanes.values():
                        await pending.finish()
                    if _open(websocket):
                        await conn.send_frame(error_frame(exc))
                        await websocket.close(code=exc.code, reason=exc.reason[:120])
                    return
                msg = _Refused(error_frame(exc))  # answered in its turn
            if isinstance(msg, ResumeMsg):
                if not await _resume(conn, msg):
                    return
                continue
            if handle is None:  # a listening channel: nothing of its own in flight
                assert isinstance(msg, _Refused)
                if not await _refuse(conn, msg.error):
                    return
                continue
            side = getattr(msg, "type", None) in side_types
            lane = lanes.get(side)
            if lane is None:
                lane = lanes[side] = _Lane(conn, handle)
            if not await lane.put(msg):
                return
    finally:
        for lane in lanes.values():
            await lane.stop()


async def _resume(conn: Connection, msg: ResumeMsg) -> bool:
    """Restart the stream after the client's id, or refuse an id Redis would not take."""
    if not valid_event_id(msg.last_event_id):
        return await _refuse(conn, ErrorFrame(code=CLOSE_INVALID_DATA, reason=BAD_RESUME_ID,
                                              field="last_event_id"))
    conn.refused = 0
    await conn.start_pump(msg.last_event_id)
    return True


async def _handle(conn: Connection, handle: Handler, msg: Any) -> bool:
    """Handle one frame, ack or refuse it, then run its follow-up; False once closed."""
    msg_id = getattr(msg, "msg_id", None)
    try:
        handled = await handle(conn, msg, datetime.now(UTC))
    except DispatchError as exc:
        code = next((c for cls, c in _ERROR_CODES if isinstance(exc, cls)), 4400)
        if isinstance(exc, Forbidden):
            await audit_refusal(conn.websocket, exc, conn.principal, getattr(msg, "call_id", None))
        return await _refuse(conn, ErrorFrame(code=code, reason=exc.message, field=exc.field,
                                              msg_id=msg_id))
    except asyncpg.DataError as exc:
        # Content PostgreSQL cannot store (validation let it through): resending it as it
        # is would fail again, so it is refused, not "resend".
        log.warning("frame %s refused by the database: %r", msg_id, exc)
        return await _refuse(conn, ErrorFrame(
            code=CLOSE_INVALID_DATA, msg_id=msg_id,
            reason=f"the frame's content cannot be stored: {str(exc).splitlines()[0]}"))
    except Exception as exc:  # noqa: BLE001 - whatever failed, the frame is answered
        if isinstance(exc, _TRANSIENT):
            log.warning("frame %s not processed: %r", msg_id, exc)
            reason = "temporarily unavailable; resend"
        else:
            log.exception("frame %s not processed", msg_id)
            reason = "internal error; the frame was not stored"
        await conn.send_frame(ErrorFrame(code=CLOSE_SERVER_ERROR, msg_id=msg_id, reason=reason))
        return True
    conn.refused = 0
    try:
        await conn.send_frame(handled.ack)
    finally:
        # Committed: published (and re-triaged) even if the client left before its ack.
        try:
            await handled.follow_up()
        except Exception as exc:  # noqa: BLE001 - acked; the lane goes on with the next
            log.error("follow-up of frame %s failed: %r", msg_id, exc)
    return _open(conn.websocket)


@dataclass(frozen=True, slots=True)
class _Refused:
    """A frame refused as read (its content, not the protocol): answered in its lane, after
    the frames sent before it."""

    error: ErrorFrame


async def _refuse(conn: Connection, error: ErrorFrame) -> bool:
    """Send a refusal; close the link after too many in a row. False once closed."""
    conn.refused += 1
    await conn.send_frame(error)
    if conn.refused >= MAX_REFUSED_IN_A_ROW:
        await conn.websocket.close(code=CLOSE_POLICY, reason="too many refused frames")
        return False
    return True


def _open(websocket: WebSocket) -> bool:
    """Neither side has closed the connection."""
    return (websocket.client_state is WebSocketState.CONNECTED
            and websocket.application_state is WebSocketState.CONNECTED)


class _Lane:
    """Some of a connection's frames, handled in the order sent by a task of their own.

    A crew's position and its vital signs leave the tablet together every second; handled
    in one line, each waited for the other's commit, ack and follow-up before its own
    began. Positions (the latest stands, an older one is ignored) do not depend on the
    clinical frames nor they on positions, so a crew connection has a lane for each.
    """

    # A tablet resending a buffer after a reconnect fills this; then the reader waits.
    SIZE = 64
    # After the client left, the frame in hand may finish (its commit and publish).
    FINISH_S = 5.0

    def __init__(self, conn: Connection, handle: Handler) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.SIZE)
        self._task = asyncio.create_task(self._run(conn, handle))

    async def put(self, msg: Any) -> bool:
        """Queue a frame; False when the lane has closed the connection."""
        if self._task.done():
            return False
        await self._queue.put(msg)
        return True

    async def _run(self, conn: Connection, handle: Handler) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the client left
            while (msg := await self._queue.get()) is not None:
                if isinstance(msg, _Refused):
                    if not await _refuse(conn, msg.error):
                        return
                elif not await _handle(conn, handle, msg):
                    return

    async def finish(self) -> None:
        """Handle the frames already queued, then end the task."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._end_after_queued(), timeout=self.FINISH_S)

    async def _end_after_queued(self) -> None:
        if not self._task.done():
            await self._queue.put(None)
        await self._task  # cancelled with this coroutine if it takes too long

    async def stop(self) -> None:
        """Finish the frame in hand, drop the queued ones (never acknowledged: the client
        resends them), and end the task."""
        while not self._queue.empty():
            self._queue.get_nowait()
        await self.finish()
