"""Websocket frames of the handover channels in and out of bytes (sans-I/O).

Bytes or text in, a validated message (dispatch.handover.messages) or a `FrameError` out;
a server frame in, bytes out. The endpoints feed frames here and never look inside the
JSON themselves.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from dispatch.fields import NUL_REASON, nul_field
from dispatch.handover.messages import (
    CLOSE_INVALID_DATA,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    MAX_FRAME_BYTES,
    CrewMessage,
    ErrorFrame,
    FrameError,
    HospitalMessage,
    ServerFrame,
)

__all__ = [
    "encode_frame",
    "error_frame",
    "parse_crew_frame",
    "parse_hospital_frame",
    "parse_server_frame",
]

_CREW: TypeAdapter[CrewMessage] = TypeAdapter(CrewMessage)
_HOSPITAL: TypeAdapter[HospitalMessage] = TypeAdapter(HospitalMessage)
_SERVER: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)

# Types a client may know from another channel: sending one is a rights problem (1008),
# not a malformed frame.
_ALL_CLIENT_TYPES = frozenset(
    {
        "status",
        "position",
        "vitals",
        "ecg",
        "stroke",
        "injuries",
        "treatment",
        "destination_request",
        "activate_team",
        "resume",
        "ack",
        "arrived",
        "handover_complete",
        "diversion",
        "capacity",
    }
)


def _check_size(raw: bytes | str) -> None:
    # A character is 1-4 bytes of UTF-8: most frames need no encoding to be measured.
    if isinstance(raw, str) and len(raw) * 4 <= MAX_FRAME_BYTES:
        return
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_FRAME_BYTES:
        raise FrameError(code=CLOSE_TOO_BIG, reason=f"frame of {size} bytes is too big")


def _decode(raw: bytes | str) -> dict[str, Any]:
    """Decode one frame into a JSON object, or raise FrameError."""
    _check_size(raw)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FrameError(code=CLOSE_INVALID_DATA, reason=f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise FrameError(code=CLOSE_INVALID_DATA, reason="a frame must be a JSON object")
    return obj


def _validate(adapter: TypeAdapter[Any], obj: dict[str, Any], *, channel: str) -> Any:
    """Validate a decoded frame against one channel's union, mapping errors to FrameError."""
    msg_id = obj.get("msg_id") if isinstance(obj.get("msg_id"), str) else None
    try:
        return adapter.validate_python(obj)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        if err["type"] == "union_tag_invalid":
            kind = obj.get("type")
            known = "of another channel" if kind in _ALL_CLIENT_TYPES else "unknown"
            raise FrameError(
                code=CLOSE_POLICY,
                reason=f"{channel} may not send type {kind!r} ({known})",
                field="type",
                msg_id=msg_id,
            ) from None
        if err["type"] == "union_tag_not_found":
            raise FrameError(
                code=CLOSE_INVALID_DATA, reason="frame has no type", field="type", msg_id=msg_id
            ) from None
        # loc[0] is the union tag; the rest is the path inside the frame.
        path = ".".join(str(part) for part in err["loc"][1:]) or None
        reason = err["msg"].removeprefix("Value error, ")
        raise FrameError(
            code=CLOSE_INVALID_DATA,
            reason=f"{path}: {reason}" if path else reason,
            field=path,
            msg_id=msg_id,
        ) from None


def _refuse_nul(raw: bytes | str) -> None:
    # PostgreSQL cannot store NUL: refuse the frame, naming the field, before it joins a
    # batch whose commit it would fail. JSON carries NUL only as the escape \u0000.
    if ("\\u0000" not in raw) if isinstance(raw, str) else (b"\\u0000" not in raw):
        return
    obj = _decode(raw)
    field = nul_field(obj)
    if field is not None:
        msg_id = obj.get("msg_id") if isinstance(obj.get("msg_id"), str) else None
        raise FrameError(code=CLOSE_INVALID_DATA, reason=f"{field}: {NUL_REASON}", field=field,
                         msg_id=msg_id)


def _parse(adapter: TypeAdapter[Any], raw: bytes | str, *, channel: str) -> Any:
    """Validate one frame of a channel, or raise FrameError."""
    _check_size(raw)
    _refuse_nul(raw)
    try:
        # A thousand crews' frames a second: pydantic's own JSON parser in one step.
        return adapter.validate_json(raw)
    except ValidationError:
        # Refused: decoded again, for the error that says what is wrong and where.
        return _validate(adapter, _decode(raw), channel=channel)


def parse_crew_frame(raw: bytes | str) -> CrewMessage:
    """Parse one frame from a crew tablet, or raise FrameError."""
    result: CrewMessage = _parse(_CREW, raw, channel="crew")
    return result


def parse_hospital_frame(raw: bytes | str) -> HospitalMessage:
    """Parse one frame from a receiving centre's screen, or raise FrameError."""
    result: HospitalMessage = _parse(_HOSPITAL, raw, channel="hospital")
    return result


def parse_server_frame(raw: bytes | str) -> ServerFrame:
    """Parse one frame the server sent (for clients and the load harness)."""
    result: ServerFrame = _parse(_SERVER, raw, channel="server")
    return result


def encode_frame(frame: BaseModel) -> bytes:
    """Serialise any frame model to JSON bytes (UUIDs and datetimes as strings)."""
    return orjson.dumps(frame.model_dump(mode="json", exclude_none=True))


def error_frame(error: FrameError) -> ErrorFrame:
    """The error frame that tells the client why its frame was refused."""
    return ErrorFrame(code=error.code, reason=error.reason, field=error.field, msg_id=error.msg_id)
