"""The websocket protocol as an AsyncAPI 3.0 document, built from the frame models.

Pure: the frame models of dispatch.handover.messages in, a JSON-ready dict out. Every
frame of a channel's union is a message whose payload is the model's own JSON Schema, so
the document cannot drift from what the endpoints parse and send
(tests/handover/test_asyncapi.py holds it to the models and to the AsyncAPI 3.0 schema).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel

from dispatch.domain import Role
from dispatch.handover.messages import (
    MAX_FRAME_BYTES,
    AckFrame,
    CrewMessage,
    ErrorFrame,
    HospitalMessage,
    ResumeMsg,
    ServerFrame,
)

__all__ = ["CHANNELS", "CLOSE_CODES", "Channel", "asyncapi_document", "frames_of"]

ASYNCAPI_VERSION = "3.0.0"
_SCHEMAS = "#/components/schemas/"


def frames_of(union: Any) -> tuple[type[BaseModel], ...]:
    """The frame models of a discriminated union, `Annotated[A | B | ..., Field(...)]`."""
    members: tuple[type[BaseModel], ...] = get_args(get_args(union)[0])
    return members


@dataclass(frozen=True, slots=True)
class Channel:
    """One websocket endpoint: who may open it, what they send and what they receive."""

    name: str
    address: str
    roles: tuple[Role, ...]
    summary: str
    client_frames: tuple[type[BaseModel], ...]
    server_frames: tuple[type[BaseModel], ...]


_SERVER = frames_of(ServerFrame)
CHANNELS: tuple[Channel, ...] = (
    Channel("crew", "/v1/ws/crew", (Role.CREW,),
            "急救车组平板：接收任务与更新，上报状态、位置与病情 / A crew tablet: its "
            "mission stream in; status, position and findings out",
            frames_of(CrewMessage), _SERVER),
    Channel("hospital", "/v1/ws/hospital", (Role.HOSPITAL,),
            "接收医院（胸痛、卒中、创伤等中心）屏幕：仅本院的来院患者 / A receiving "
            "centre's screen: its inbound patients only",
            frames_of(HospitalMessage), _SERVER),
    # Consoles only listen: nothing of theirs is acknowledged.
    Channel("console", "/v1/ws/console", (Role.DISPATCHER, Role.ADMIN),
            "调度台：呼叫队列、派车、车辆状态与告警 / A dispatcher console: queue, "
            "assignments, fleet status and alerts",
            (ResumeMsg,), tuple(f for f in _SERVER if f is not AckFrame)),
)

# Close codes and error-frame codes (RFC 6455 section 7.4.1 and the 4000-4999 private
# range), as dispatch.handover.ws uses them.
CLOSE_CODES: tuple[dict[str, Any], ...] = (
    {"code": 1007, "closes": "when the frame is not JSON, not an object or has no type",
     "meaning": "数据无效 / invalid data: not JSON, or a field missing or out of range "
                "(`field` names it)"},
    {"code": 1008, "closes": "when the connection is refused, the frame's type is unknown "
                             "or of another channel, or after too many refused frames",
     "meaning": "不允许 / not allowed: bad or missing token, a role that may not open the "
                "channel, a malformed last_event_id, a frame of a type the channel may "
                "not send, a call the client is not bound to"},
    {"code": 1009, "closes": "always",
     "meaning": f"帧过大 / frame too big (over {MAX_FRAME_BYTES} bytes)"},
    {"code": 1011, "closes": "only when the event stream cannot be served",
     "meaning": "服务暂不可用 / PostgreSQL or Redis failed: the frame was not stored; "
                "resend it (or reconnect and resume)"},
    {"code": 4400, "closes": "never",
     "meaning": "其他拒绝 / refused for another reason (`reason` says why)"},
    {"code": 4404, "closes": "never", "meaning": "不存在 / no such call or hospital"},
    {"code": 4409, "closes": "never",
     "meaning": "冲突 / not allowed in the call's current state, or a msg_id reused "
                "for other content"},
)

_DESCRIPTION = """\
急救调度与院前-院内交接的 websocket 协议。The websocket protocol of the dispatch and \
handover service.

**Frames.** Every frame is one JSON text message, an object whose `type` says which \
frame it is. A client frame that changes something carries a `msg_id` (unique within \
its call: a resend is answered with the first ack) and is answered once, by an `ack` \
naming the event it was stored as, or by an `error`. A client's frames are handled in \
the order sent; a crew's positions in a lane of their own beside its other frames.

**Authentication.** A bearer token (JWT, `dispatch token` or `POST /v1/auth/login`) in \
the `Authorization: Bearer` header or, for browsers, the `token` query parameter. The \
role and binding (vehicle, hospital) are checked before anything is read or sent; a \
refused client is closed with 1008 and the reason.

**Resume.** Every `event` carries its stream `id`. A client reconnects with \
`?last_event_id=<id>` (or sends a `resume` frame) and gets every event after it, with \
no gap or duplicate, on any instance. When that cannot be proven gap-free it gets a \
`snapshot` first; a client too far behind gets `resync` and must resume from its \
`last_event_id`.

**Errors and close codes.** An `error` frame's `code` is one of `x-close-codes`. The \
connection stays open after an error about one frame's content or rights; it is closed \
with the same code after a frame that breaks the protocol (not JSON, no or unknown \
type, too big) or too many refused frames in a row.
"""

_QUERY = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "description": "the bearer token, for clients that "
                  "cannot set headers (browsers); access logs never show it"},
        "last_event_id": {"type": "string", "pattern": r"^[0-9]+(-[0-9]+)?$",
                          "description": "resume after this event id (a malformed id: "
                                         "close 1008)"},
    },
}
_HEADERS = {
    "type": "object",
    "properties": {"Authorization": {"type": "string", "pattern": "^[Bb]earer .+$"}},
}


def _frame_type(model: type[BaseModel]) -> str:
    (literal,) = get_args(model.model_fields["type"].annotation)
    return str(literal)


def frame_schema(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A frame model's JSON Schema with references into components, and the schemas
    those references name."""
    schema = model.model_json_schema(ref_template=_SCHEMAS + "{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    return schema, defs


def _add_schema(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if schemas.setdefault(name, schema) != schema:
        raise ValueError(f"two different schemas are named {name}")


def _message(model: type[BaseModel], sender: str) -> dict[str, Any]:
    doc = (model.__doc__ or "").strip()
    return {
        "name": model.__name__,
        "title": f"{_frame_type(model)} ({sender})",
        # the docstring's first paragraph, on one line
        "summary": " ".join(doc.split("\n\n")[0].split()) or f"a `{_frame_type(model)}` frame",
        "contentType": "application/json",
        "payload": {"$ref": _SCHEMAS + model.__name__},
    }


def _refs(channel: Channel, frames: tuple[type[BaseModel], ...]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/{channel.name}/messages/{f.__name__}"} for f in frames]


@cache
def _document_body() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel in CHANNELS:
        for sender, frames in (("client", channel.client_frames),
                               ("server", channel.server_frames)):
            for model in frames:
                schema, defs = frame_schema(model)
                for name, sub in defs.items():
                    _add_schema(schemas, name, sub)
                _add_schema(schemas, model.__name__, schema)
                messages.setdefault(model.__name__, _message(model, sender))
        roles = ", ".join(r.value for r in channel.roles)
        channels[channel.name] = {
            "address": channel.address,
            "title": channel.name,
            "summary": channel.summary,
            "description": f"Roles: {roles}.",
            "messages": {f.__name__: {"$ref": f"#/components/messages/{f.__name__}"}
                         for f in (*channel.client_frames, *channel.server_frames)},
            "bindings": {"ws": {"method": "GET", "query": _QUERY, "headers": _HEADERS,
                                "bindingVersion": "0.1.0"}},
        }
        ref = {"$ref": f"#/channels/{channel.name}"}
        receive: dict[str, Any] = {
            "action": "receive", "channel": ref,
            "summary": f"what a {channel.name} client sends",
            "messages": _refs(channel, channel.client_frames)}
        if AckFrame in channel.server_frames:
            receive["reply"] = {"channel": ref,
                                "messages": _refs(channel, (AckFrame, ErrorFrame))}
        operations[f"{channel.name}Receive"] = receive
        operations[f"{channel.name}Send"] = {
            "action": "send", "channel": ref,
            "summary": f"what the service sends a {channel.name} client",
            "messages": _refs(channel, channel.server_frames)}
    return {
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": dict(sorted(messages.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "Authorization: Bearer <token>"},
                "tokenQuery": {"type": "httpApiKey", "name": "token", "in": "query",
                               "description": "?token=<token>, for browsers"},
            },
        },
        "x-close-codes": list(CLOSE_CODES),
    }


def asyncapi_document(*, title: str, version: str, host: str, secure: bool) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the websocket channels served at `host`."""
    body = copy.deepcopy(_document_body())  # the caller's to change
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": f"{title} websockets", "version": version,
                 "description": _DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "service": {
                "host": host, "protocol": "wss" if secure else "ws",
                "description": "this service",
                "security": [{"$ref": "#/components/securitySchemes/bearer"},
                             {"$ref": "#/components/securitySchemes/tokenQuery"}],
            },
        },
        **body,
    }
