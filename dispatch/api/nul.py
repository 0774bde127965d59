"""Refuse NUL (U+0000) anywhere in an HTTP request, once, before any endpoint runs.

PostgreSQL text and jsonb cannot hold NUL, so a NUL that reached a query failed there as a
500. Checking each field of each model would leave the next field open; this layer covers
every endpoint's path parameters, query and body, and names the field in the 422.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.api.errors import error_body
from dispatch.fields import NUL, NUL_REASON, nul_field

_ESCAPED_NUL = b"\\u0000"


_PARAM = re.compile(r"\\{([A-Za-z_][A-Za-z0-9_]*)\\}")


@functools.cache
def _template(path: str) -> re.Pattern[str]:
    """`/v1/vehicles/{vehicle_id}/status` as a pattern capturing `vehicle_id`."""
    pattern = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path))
    return re.compile(f"^{pattern}$")


def _path_field(scope: Scope) -> str | None:
    path: str = scope.get("path", "")
    if NUL not in path:
        return None
    openapi = getattr(scope.get("app"), "openapi", None)
    schema: dict[str, Any] = openapi() if openapi is not None else {}  # built once, cached
    for template in schema.get("paths", {}):
        match = _template(template).match(path)
        if match is not None:
            for name, value in match.groupdict().items():
                if NUL in value:
                    return name
    return "path"


def _query_field(scope: Scope) -> str | None:
    raw: bytes = scope.get("query_string", b"")
    if b"%00" not in raw and b"\x00" not in raw:
        return None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if NUL in name or NUL in value:
            return name.replace(NUL, "") or "query"
    return None


def _body_field(body: bytes) -> str | None:
    if b"\x00" in body:
        return "body"
    if _ESCAPED_NUL not in body:
        return None
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # malformed JSON: the endpoint's validation says so
    return nul_field(decoded)


class RefuseNul:
    """ASGI middleware: a 422 naming the field for any NUL in the path, query or body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        field = _path_field(scope) or _query_field(scope)
        if field is not None:
            await _refuse(send, field)
            return
        messages: list[Message] = []
        body = b""
        while True:  # the body is bounded by BodyLimit, outside this middleware
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        field = _body_field(body)
        if field is not None:
            await _refuse(send, field)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, field: str) -> None:
    body = orjson.dumps(error_body("invalid_input", field, NUL_REASON))
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
