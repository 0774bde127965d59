"""Find NUL (U+0000) anywhere in an HTTP request, refused once before any endpoint runs
(dispatch.api.edge).

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
from starlette.types import Scope, Send

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


def body_field(body: bytes) -> str | None:
    """The field of the first NUL in a JSON body ("body" if not JSON), or None."""
    if b"\x00" in body:
        return "body"
    if _ESCAPED_NUL not in body:
        return None
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # malformed JSON: the endpoint's validation says so
    return nul_field(decoded)


def request_line_field(scope: Scope) -> str | None:
    """The path parameter or query field holding a NUL, or None."""
    return _path_field(scope) or _query_field(scope)


async def refuse_nul(send: Send, field: str) -> None:
    body = orjson.dumps(error_body("invalid_input", field, NUL_REASON))
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
