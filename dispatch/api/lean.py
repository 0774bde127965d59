"""A lean path for the hottest endpoints: the same operation, without FastAPI's per-request
machinery when the request is an ordinary one.

FastAPI's handling of a request (matching it through the included routers, telemetry,
reading the body as a Python object, solving the dependency graph, validating the body
from that object) cost more CPU than the intake's own validation and answer. An endpoint
marked with `lean(handler)` gets a route of its own ahead of every other (`install`),
hidden from the OpenAPI document, whose `handler` reads the body with the endpoint's model
straight from the JSON bytes, authenticates, and calls the endpoint function itself with
what FastAPI would have given it. The handler answers only a request FastAPI would hand
to the endpoint with the same arguments; for anything else (a body or header FastAPI
refuses or reads differently, no or a bad token, dependency overrides in tests) it
answers None and the request, its body replayed, goes on to the FastAPI route, so every
refusal, its status, body and headers are FastAPI's and the app's error handlers',
unchanged. The FastAPI route stays what the OpenAPI document describes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.auth import Principal, Unauthenticated, verify_token

__all__ = ["install", "lean", "lean_inputs"]

LeanHandler = Callable[[Request], Awaitable[Response | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)

_MARK = "__lean_handler__"
_DECLINED = "dispatch.lean_declined"


def lean(handler: LeanHandler) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint to be tried by `handler` first (see `install`)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _MARK, handler)
        return endpoint

    return mark


def install(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Put a lean route for each marked endpoint of `routers` ahead of the app's routes."""
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            handler: LeanHandler | None = getattr(route.endpoint, _MARK, None)
            if handler is not None:
                app.router.routes.insert(0, _LeanRoute(route.path, handler, route.methods,
                                                       fallback=app.router))


async def _unused(request: Request) -> Response:  # pragma: no cover - handle() serves
    raise NotImplementedError


class _LeanRoute(Route):
    def __init__(self, path: str, handler: LeanHandler, methods: set[str] | None, *,
                 fallback: ASGIApp) -> None:
        super().__init__(path, _unused, methods=methods, include_in_schema=False)
        self.handler = handler
        self.fallback = fallback  # the app's router: it routes what this one declines

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # only a full match, and never a request it declined: everything else is the
        # FastAPI routes' (their 405s included)
        if _DECLINED in scope:
            return Match.NONE, {}
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        child["route"] = self  # the template, for the request metrics, as FastAPI's routes
        return match, child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        body: bytes | None = None  # read here (the request keeps it), replayed if declined
        declined = bool(getattr(scope.get("app"), "dependency_overrides", None))
        if not declined:  # an overridden dependency (a test's clock) is FastAPI's to resolve
            try:
                body = await request.body()
            except ClientDisconnect:
                declined = True

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal declined
            answer = await self.handler(request)
            if answer is None:
                declined = True
            else:
                await answer(scope, receive, send)

        if not declined:  # what the handler raises, the app's handlers answer, as in every
            # Starlette and FastAPI route (starlette.routing.request_response)
            await wrap_app_handling_exceptions(serve, request)(scope, receive, send)
        if declined:
            scope[_DECLINED] = True
            await self.fallback(scope, _replay(body, receive), send)


def _replay(body: bytes | None, receive: Receive) -> Receive:
    if body is None:
        return receive
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


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
    raw = await request.body()
    try:
        body = model.model_validate_json(raw)
    except ValidationError:
        return None
    principal = _principal(request)
    if principal is None:
        return None
    return body, principal
