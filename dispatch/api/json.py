"""JSON answers rendered by orjson."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dispatch.jsoncodec import dumps


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
