"""A lean path for the hottest endpoints: the same operation, without FastAPI's per-request
machinery when the request is an ordinary one.

FastAPI's handling of a request (telemetry, reading the body as a Python object, solving
the dependency graph, validating the body from that object) cost more CPU than the
intake's own validation and answer. An endpoint marked with `lean(handler)` and routed by
`LeanRoute` is tried first by `handler`, which reads the body with the endpoint's model
straight from the JSON bytes, authenticates, and calls the endpoint function itself with
what FastAPI would have given it. The handler answers only a request FastAPI would hand
to the endpoint with the same arguments; for anything else (a body or header FastAPI
refuses or reads differently, no or a bad token, dependency overrides in tests) it
answers None and FastAPI's own handling answers, so every refusal, its status, body and
headers are FastAPI's and the app's error handlers', unchanged. The route stays a FastAPI
route: the OpenAPI document, matching, the route template in metrics are as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from dispatch.auth import Principal, Unauthenticated, verify_token

__all__ = ["LeanRoute", "lean", "lean_inputs"]

LeanHandler = Callable[[Request], Awaitable[Response | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)

_MARK = "__lean_handler__"


def lean(handler: LeanHandler) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint to be tried by `handler` first (when its router uses LeanRoute)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _MARK, handler)
        return endpoint

    return mark


class LeanRoute(APIRoute):
    """An APIRoute whose endpoint, if marked with `lean`, is tried by its lean handler."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        handler: LeanHandler | None = getattr(self.endpoint, _MARK, None)
        if handler is None:
            return full

        async def app(request: Request) -> Response:
            # an overridden dependency (a test's clock) is FastAPI's to resolve
            if not getattr(request.app, "dependency_overrides", None):
                answer = await handler(request)
                if answer is not None:
                    return answer
            return await full(request)

        return app


def _is_json(content_type: str | None) -> bool:
    # FastAPI reads application/json (or +json) bodies as JSON and nothing else; the
    # lean path takes the plain one, the rest go the long way
    return content_type is not None and \
        content_type.partition(";")[0].strip().lower() == "application/json"


def _principal(request: Request) -> Principal | None:
    """The bearer token's principal, as dispatch.api.deps.get_principal finds it; None where
    that one refuses (FastAPI's path then refuses with its reason)."""
    authorization = request.headers.get("authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if not token or scheme.lower() != "bearer":
        return None
    settings = request.state.settings
    try:
        return verify_token(token=token, secret=settings.jwt_secret,
                            issuer=settings.jwt_issuer)
    except Unauthenticated:
        return None


async def lean_inputs(request: Request, model: type[M]) -> tuple[M, Principal] | None:
    """The JSON body as `model` and the caller, or None if FastAPI would refuse either."""
    if not _is_json(request.headers.get("content-type")):
        return None
    raw = await request.body()  # kept on the request: FastAPI's path reads it again
    try:
        body = model.model_validate_json(raw)
    except ValidationError:
        return None
    principal = _principal(request)
    if principal is None:
        return None
    return body, principal
