"""The service's own layer around every HTTP request, as one pure-ASGI middleware.

In order, as the four middlewares it replaces did, each one's work unchanged: the request
id and the call or vehicle of the path in the log context, and `X-Request-ID` on every
answer (dispatch.logs); the request counted and timed by route template
(dispatch.metrics.prometheus); a body over the limit refused with a 413 before it is read
whole; NUL anywhere in the path, query or body refused with a 422 naming the field
(dispatch.api.nul). One layer instead of four saves three coroutine frames and three
wrapped `send`s a request, a measurable part of the framework's cost on the hot endpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.api.errors import too_large_body
from dispatch.api.nul import body_field, refuse_nul, request_line_field
from dispatch.logs import enter_request
from dispatch.metrics.prometheus import Metrics, route_of

__all__ = ["Edge"]


class Edge:
    """ASGI middleware: request context, metrics, body limit and NUL refusal."""

    def __init__(self, app: ASGIApp, *, limit: int,
                 metrics: Callable[[], Metrics | None]) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = (b"x-request-id", enter_request(scope).encode("latin-1"))
        metrics = self.metrics()
        started = time.perf_counter()
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), request_id]
            await send(message)

        try:
            await self._checked(scope, receive, answer)
        finally:
            if metrics is not None:
                metrics.observe_request(scope["method"], route_of(scope), status,
                                        time.perf_counter() - started)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._too_large(send)
                return
        field = request_line_field(scope)
        if field is not None:
            await refuse_nul(send, field)
            return
        messages: list[Message] = []
        body = b""
        while True:  # read whole (NUL may be anywhere), never beyond the limit
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        field = body_field(body)
        if field is not None:
            await refuse_nul(send, field)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = too_large_body(self.limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
