"""The OpenAPI document: every operation's error answers and JSON bodies declared.

Endpoints return `JSON` responses directly, so FastAPI described each success as a string
and each refusal as its own validation shape, neither of which the service sends. Here the
one error shape (`Error`, see dispatch.api.errors) is declared once and referenced by every
status an operation can answer with, and successes are declared as JSON objects (or the
model an endpoint names), so clients and the fuzz test can check answers against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from dispatch.domain import CallStatus, VehicleKind

ERROR_REF = {"$ref": "#/components/schemas/Error"}


class ErrorDetail(BaseModel):
    field: str | None = Field(description="the refused field, e.g. fixes[0].lat; null: "
                                          "the request as a whole")
    reason: str


class Error(BaseModel):
    """Every 4xx and 5xx answer."""

    error: str = Field(description="invalid_input, not_found, conflict, unavailable, ...")
    message: str | None = Field(default=None, description="a sentence for people in the "
                                "language Accept-Language prefers (zh-CN by default)")
    detail: list[ErrorDetail]


# Success bodies worth declaring field by field (only what every role's view holds; the
# rest stays open: `extra="allow"`). Not used to build answers, only to describe them.


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Status(_Open):
    status: str


class CallView(_Open):
    """A call as the API shows it (dispatch.views.render_call)."""

    id: UUID
    status: CallStatus
    received_at: datetime | None = None
    assignments: list[dict[str, Any]] | None = None
    out_of_area: bool = Field(default=False, description=(
        "located outside every district of the centre (out_of_area_reason says what to do)"))
    recommendations: list[dict[str, Any]] | None = Field(
        default=None, description="ranked vehicles (answers to intake, fixes and dispatch)")


class CallList(_Open):
    calls: list[dict[str, Any]]
    next_cursor: str | None = Field(default=None, description="with from/to: the next page")


class AuditPage(_Open):
    entries: list[dict[str, Any]] = Field(description="id, at, actor, role, action, call_id, "
                                          "vehicle_id, hospital_id, detail")
    next_cursor: str | None = Field(default=None, description="the next page, if any")


class NearbyVehicle(BaseModel):
    vehicle_id: str
    kind: VehicleKind
    lon: float
    lat: float
    distance_m: float


class NearbyVehicles(BaseModel):
    vehicles: list[NearbyVehicle]


class ReferenceCounts(BaseModel):
    districts: int
    stations: int
    vehicles: int
    hospitals: int


_CALL_ANSWERS = {f"/v1/calls/{{call_id}}/{action}": "post"
                 for action in ("fixes", "dispatch", "cancel", "triage")}
# (path, method) -> {status: model}
_MODELS: dict[tuple[str, str], dict[str, type[BaseModel]]] = {
    ("/healthz", "get"): {"200": Status},
    ("/readyz", "get"): {"200": Status},
    # 200: a retry with the same Idempotency-Key, answered with the first call
    ("/v1/calls", "post"): {"201": CallView, "200": CallView},
    ("/v1/calls", "get"): {"200": CallList},
    ("/v1/calls/{call_id}", "get"): {"200": CallView},
    **{(path, method): {"200": CallView} for path, method in _CALL_ANSWERS.items()},
    ("/v1/vehicles/nearest/search", "get"): {"200": NearbyVehicles},
    ("/v1/admin/reference", "post"): {"200": ReferenceCounts},
    ("/v1/audit", "get"): {"200": AuditPage},
}

_OTHER_FORMATS: dict[str, dict[str, dict[str, Any]]] = {
    "/v1/indicators": {"text/csv": {"type": "string"}},
    "/v1/audit": {"text/csv": {"type": "string"}},
    "/v1/incidents/{call_id}/handover": {"application/fhir+json": {"type": "object"},
                                         "text/plain": {"type": "string"}},
}

_REASONS = {
    "400": "The body is not readable (not UTF-8 or not JSON)",
    "401": "No valid bearer token (sign-in: a wrong name or password)",
    "403": "The token's role or binding may not do this",
    "404": "A named call, vehicle, hospital or move does not exist",
    "409": "The call or vehicle is in a state that forbids this",
    "413": "The body is larger than the service accepts",
    "422": "A field is refused; `detail` names it and says why",
    "503": "PostgreSQL or Redis is unavailable; retry after Retry-After seconds",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                                "schema": {"type": "integer"}}}


# operations that take credentials in their body instead of a bearer token
_SIGN_IN = frozenset({"/v1/auth/login"})


def _error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    if path == "/healthz":
        return []
    statuses = ["503"]
    if operation.get("security"):
        statuses += ["401", "403"]
    elif path in _SIGN_IN:
        statuses += ["401"]  # the credentials in the body are refused
    if "{" in path or method == "post":
        statuses += ["404", "409"]
    if operation.get("parameters") or operation.get("requestBody") or method == "post":
        statuses += ["400", "413", "422"]
    return sorted(statuses)


def _ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _declare(path: str, method: str, operation: dict[str, Any],
             components: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, model in _MODELS.get((path, method), {}).items():
        responses[status] = {"description": model.__doc__ or "Successful Response",
                             "content": {"application/json": {"schema": _ref(model,
                                                                             components)}}}
    # formats other than JSON that an endpoint offers (its `format` parameter)
    for media_type, schema in _OTHER_FORMATS.get(path, {}).items():
        responses["200"].setdefault("content", {})[media_type] = {"schema": schema}
    for status, response in responses.items():
        content = response.get("content", {}).get("application/json")
        if status.startswith("2") and content is not None and \
                content.get("schema") == {"type": "string"}:
            content["schema"] = {"type": "object"}
    for status in _error_statuses(path, method, operation):
        responses[status] = {"description": _REASONS[status],
                             "content": {"application/json": {"schema": ERROR_REF}}}
        if status == "503":
            responses[status]["headers"] = _RETRY_AFTER


def install_openapi(app: FastAPI) -> None:
    """Replace app.openapi with the document above (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    _declare(path, method, operation, components)
            # FastAPI's validation shapes: the service never sends them
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            defs = Error.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(defs.pop("$defs", {}))
            components["Error"] = defs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
