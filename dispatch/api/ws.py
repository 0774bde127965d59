"""Websocket endpoints: /v1/ws/crew, /v1/ws/hospital, /v1/ws/console.

The bearer token comes in the Authorization header or, for browsers, a `token` query
parameter; role and binding are checked before anything is read or sent, and a refused
client is closed with 1008 and the reason. Every frame sent carries its stream id; a
client resumes with `?last_event_id=` or a `resume` frame.

Error frames: `code` is 1007 (invalid data) or 1008 (not allowed), 1009 (too big), or
4404 / 4409 / 4400 (no such call, not allowed in its current state or a msg_id reused
for other content, other refusals), 1011 (a server dependency failed; resend later).
Every frame is answered, an ack or an error, whatever failed. The connection stays open
after an error about one frame's content or rights, or a dependency's failure; it is
closed (with the same code) after a frame that breaks the protocol (not JSON, no or
unknown type, too big) or after too many refused frames in a row.

A client's frames are handled in the order it sent them, each acknowledged once
committed or refused in its turn; a frame that breaks the protocol closes the connection
once the frames sent before it are answered. A crew's positions are the exception: they
are handled in that order among themselves, but beside its other frames, so the ack of a
position and of the vitals sent after it may come in either order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from dispatch.api.ws_session import (
    BAD_RESUME_ID,
    Connection,
    Handler,
    audit_refusal,
    principal_of,
    receive_loop,
)
from dispatch.auth import Principal
from dispatch.domain import Role
from dispatch.errors import DispatchError, Forbidden, InvalidInput
from dispatch.flows.crew import crew_message
from dispatch.flows.crew_link import CrewLink, Handled
from dispatch.flows.hospital import hospital_message
from dispatch.handover.frames import parse_crew_frame, parse_hospital_frame
from dispatch.handover.messages import CLOSE_POLICY, FrameError, ResumeMsg
from dispatch.realtime.channels import valid_event_id

__all__ = ["router"]

router = APIRouter(prefix="/v1/ws", tags=["handover"])


async def _serve(
    websocket: WebSocket,
    *,
    allowed: tuple[Role, ...],
    topic_of: Callable[[Principal], str],
    parse: Callable[[str | bytes], Any] | None,
    handle: Handler | None,
    side_types: frozenset[str] = frozenset(),
) -> None:
    try:
        principal = principal_of(websocket)
        if principal.role not in allowed:
            raise Forbidden(f"role '{principal.role.value}' may not use this channel")
        last_event_id = websocket.query_params.get("last_event_id")
        if last_event_id is not None and not valid_event_id(last_event_id):
            raise InvalidInput(BAD_RESUME_ID, field="last_event_id")
    except DispatchError as exc:
        # Checked before accepting: nothing is read or sent. The handshake completes
        # only so that the client learns the close code and the reason.
        await audit_refusal(websocket, exc, None)
        await websocket.accept()
        await websocket.close(code=CLOSE_POLICY, reason=exc.message[:120])
        return
    await websocket.accept()
    conn = Connection(websocket=websocket, principal=principal, topic=topic_of(principal),
                      hub=websocket.state.hub, rt=websocket.state.runtime,
                      crew=websocket.state.crew)
    try:
        await conn.start_pump(last_event_id)
        await receive_loop(conn, parse, handle, side_types)
    except WebSocketDisconnect:
        pass
    finally:
        await conn.stop_pump()


async def _crew(conn: Connection, msg: Any, now: datetime) -> Handled:
    if conn.link is None:
        conn.link = CrewLink(vehicle_id=str(conn.principal.vehicle_id))
    return await crew_message(rt=conn.rt, crew=conn.crew, link=conn.link,
                              principal=conn.principal, msg=msg, now=now)


async def _hospital(conn: Connection, msg: Any, now: datetime) -> Handled:
    ack = await hospital_message(rt=conn.rt, principal=conn.principal, msg=msg, now=now)
    return Handled(ack)


@router.websocket("/crew")
async def crew_channel(websocket: WebSocket) -> None:
    """A crew tablet: its mission stream in, status / position / findings out."""
    await _serve(websocket, allowed=(Role.CREW,),
                 topic_of=lambda p: f"vehicle:{p.vehicle_id}",
                 parse=parse_crew_frame, handle=_crew, side_types=frozenset({"position"}))


@router.websocket("/hospital")
async def hospital_channel(websocket: WebSocket) -> None:
    """A receiving centre's screen: its inbound patients only."""
    await _serve(websocket, allowed=(Role.HOSPITAL,),
                 topic_of=lambda p: f"hospital:{p.hospital_id}",
                 parse=parse_hospital_frame, handle=_hospital)


@router.websocket("/console")
async def console_channel(websocket: WebSocket) -> None:
    """A dispatcher console: queue, assignments, fleet status and alerts."""
    await _serve(websocket, allowed=(Role.DISPATCHER, Role.ADMIN),
                 topic_of=lambda p: "console", parse=_parse_console, handle=None)


def _parse_console(raw: str | bytes) -> ResumeMsg:
    """Consoles only listen; the one frame they may send is `resume`."""
    try:
        msg = parse_hospital_frame(raw)  # the resume frame is common to every channel
    except FrameError as exc:
        if exc.field != "type":
            raise
        msg = None
    if not isinstance(msg, ResumeMsg):
        raise FrameError(code=CLOSE_POLICY, reason="a console may only send resume",
                         field="type")
    return msg
