"""One place that turns domain errors and refused input into HTTP answers.

Every answer is JSON: {"error": <kind>, "detail": [{"field": ..., "reason": ...}]}.
"""

from __future__ import annotations

import logging

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dispatch.api.json import JSON
from dispatch.auth import Principal, Unauthenticated, verify_token
from dispatch.errors import (
    Conflict,
    DispatchError,
    Forbidden,
    GeoError,
    InvalidInput,
    NotFound,
    TriageError,
)
from dispatch.refusals import concerns_patient_data, record_refusal, uuid_or_none

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[DispatchError], int, str]] = [
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (InvalidInput, 422, "invalid_input"),
    (GeoError, 422, "invalid_input"),
    (TriageError, 422, "invalid_input"),
]


# PostgreSQL or Redis unreachable, restarting, frozen, out of connections or slots: 503.
UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisError, OSError, TimeoutError,
    asyncpg.PostgresConnectionError,  # 08xxx, ConnectionDoesNotExistError
    asyncpg.InterfaceError,  # connection closed or released under a query
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,  # 57xxx: CannotConnectNow, shutdown, cancel
    asyncpg.exceptions.InsufficientResourcesError,  # 53xxx: TooManyConnections, disk full
)


def error_body(kind: str, field: str | None, reason: str) -> dict[str, object]:
    return {"error": kind, "detail": [{"field": field, "reason": reason}]}


def _location(loc: tuple[object, ...] | list[object]) -> str:
    # ("body", "fixes", 0, "lat") -> "fixes[0].lat"
    parts: list[str] = []
    for item in loc:
        if item in ("body", "query", "path", "header"):
            continue
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    """Map DispatchError subclasses, validation errors and HTTP errors to JSON answers."""

    @app.exception_handler(DispatchError)
    async def _domain(request: Request, exc: DispatchError) -> JSON:
        for cls, status, kind in _STATUS:
            if isinstance(exc, cls):
                if status in (401, 403) and concerns_patient_data(request.url.path):
                    await _audit_refusal(request, status, exc.message)
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return JSON(error_body(kind, exc.field, exc.message), status_code=status,
                                      headers=headers)
        log.error("unmapped domain error %r", exc)
        return JSON(error_body("error", exc.field, exc.message), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSON:
        detail = []
        for err in exc.errors():
            loc = err.get("loc", ())
            reason = err.get("msg", "invalid")
            field = _location(loc)
            if err.get("type") == "json_invalid":
                # loc is ("body", <offset>): the body as a whole is what is refused
                reason = f"malformed JSON: {err.get('ctx', {}).get('error', reason)}"
                field = "body"
            detail.append({"field": field, "reason": reason})
        return JSON({"error": "invalid_input", "detail": detail}, status_code=422)

    async def _unavailable(request: Request, exc: Exception) -> JSON:
        # PostgreSQL or Redis is unreachable or timed out: say so, never a bare 500. A call
        # whose intake committed before the failure is safe: retry with its Idempotency-Key.
        log.error("backing service unavailable on %s: %r", request.url.path, exc)
        return JSON(error_body("unavailable", None,
                               "a backing service (PostgreSQL or Redis) is unavailable; retry"),
                    status_code=503, headers={"Retry-After": "2"})

    for infrastructure in UNAVAILABLE:
        app.add_exception_handler(infrastructure, _unavailable)

    async def _out_of_range(request: Request, exc: Exception) -> JSON:
        # A value every model accepted that PostgreSQL or date arithmetic still cannot take
        # (the models bound what they can; this keeps the rest a 422, not a 500).
        log.warning("refused a value out of range on %s: %r", request.url.path, exc)
        return JSON(error_body("invalid_input", None, f"a value is out of range: {exc}"),
                    status_code=422)

    for data_error in (asyncpg.DataError, OverflowError):
        app.add_exception_handler(data_error, _out_of_range)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSON:
        # FastAPI raises 400 for a body it cannot read at all: that is the field
        field = "body" if exc.status_code == 400 else None
        return JSON(error_body("http_error", field, str(exc.detail)),
                              status_code=exc.status_code, headers=exc.headers)


async def _audit_refusal(request: Request, status: int, reason: str) -> None:
    """Who was refused which patient's data and why (dispatch.refusals)."""
    pool = getattr(request.state, "pool", None)
    if pool is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    principal: Principal | None = None
    if status == 403:  # the token was good; only the role or binding was refused
        auth = request.state.settings.auth
        try:
            principal = verify_token(token=token, secret=auth.jwt_secret, issuer=auth.jwt_issuer)
        except Unauthenticated:
            principal = None
    await record_refusal(pool, principal=principal, token=token or None, status=status,
                         reason=reason, method=request.method, path=request.url.path,
                         call_id=uuid_or_none(request.path_params.get("call_id")))


def too_large_body(limit: int) -> bytes:
    return orjson.dumps(error_body("payload_too_large", "body",
                                   f"request body exceeds {limit} bytes"))
