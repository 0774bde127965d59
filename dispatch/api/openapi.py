"""The OpenAPI document: every operation's error answers and JSON bodies declared.

Endpoints return `JSON` responses directly, so FastAPI described each success as a string
and each refusal as its own validation shape, neither of which the service sends. Here the
one error shape (`Error`, see dispatch.api.errors) is declared once and referenced by every
status an operation can answer with, and each success by its model (dispatch.api.responses),
so clients and the fuzz test can check answers against it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from dispatch.api import responses as r

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


_CALL_ANSWERS = {f"/v1/calls/{{call_id}}/{action}": "post"
                 for action in ("fixes", "dispatch", "cancel", "triage")}
# (path, method) -> {status: model}: every operation that answers JSON
_MODELS: dict[tuple[str, str], dict[str, type[BaseModel]]] = {
    ("/healthz", "get"): {"200": r.Status},
    ("/readyz", "get"): {"200": r.Status},
    # 200: a retry with the same Idempotency-Key, answered with the first call
    ("/v1/calls", "post"): {"201": r.CallView, "200": r.CallView},
    ("/v1/calls", "get"): {"200": r.CallList},
    ("/v1/calls/{call_id}", "get"): {"200": r.CallView},
    **{(path, method): {"200": r.CallView} for path, method in _CALL_ANSWERS.items()},
    ("/v1/calls/{call_id}/recommendations", "get"): {"200": r.Recommendations},
    ("/v1/calls/{call_id}/destination", "post"): {"200": r.DestinationChange},
    ("/v1/aml", "post"): {"202": r.AmlReceipt},
    ("/v1/vehicles", "get"): {"200": r.VehicleList},
    ("/v1/vehicles/{vehicle_id}", "get"): {"200": r.VehicleView},
    ("/v1/vehicles/{vehicle_id}/status", "post"): {"200": r.StatusReport},
    ("/v1/vehicles/{vehicle_id}/milestones", "post"): {"200": r.MilestoneReport},
    ("/v1/vehicles/nearest/search", "get"): {"200": r.NearbyVehicles},
    ("/v1/stations", "get"): {"200": r.StationList},
    ("/v1/hospitals", "get"): {"200": r.HospitalList},
    ("/v1/districts", "get"): {"200": r.DistrictCollection},
    ("/v1/reference/schema", "get"): {"200": r.JsonSchemaDocument},
    ("/v1/admin/reference", "post"): {"200": r.ReferenceCounts},
    ("/v1/triage/protocol", "get"): {"200": r.TriageProtocol},
    ("/v1/triage/evaluate", "post"): {"200": r.TriageResult},
    ("/v1/hospitals/{hospital_id}/capacity", "post"): {"200": r.HospitalCapacity},
    ("/v1/hospitals/{hospital_id}/timeline", "get"): {"200": r.HospitalTimeline},
    ("/v1/incidents/{call_id}/handover", "get"): {"200": r.HandoverRecord},
    ("/v1/coverage", "get"): {"200": r.CoverageAnswer},
    ("/v1/coverage/moves", "get"): {"200": r.MovePlan},
    ("/v1/coverage/moves/accept", "post"): {"200": r.MoveAccepted},
    ("/v1/eta/model", "get"): {"200": r.EtaModelView},
    ("/v1/admin/eta/calibrate", "post"): {"200": r.EtaCalibration},
    ("/v1/indicators", "get"): {"200": r.Indicators},
    ("/v1/audit", "get"): {"200": r.AuditPage},
    ("/v1/auth/login", "post"): {"200": r.SignedIn},
}

# Formats other than JSON that an endpoint offers (its `format` parameter): a model, or
# the schema of a body that is not JSON.
_OTHER_FORMATS: dict[str, dict[str, type[BaseModel] | dict[str, Any]]] = {
    "/v1/indicators": {"text/csv": {"type": "string"}},
    "/v1/audit": {"text/csv": {"type": "string"}},
    "/v1/incidents/{call_id}/handover": {"application/fhir+json": r.FhirBundle,
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
        if not isinstance(schema, dict):
            schema = _ref(schema, components)
        responses["200"].setdefault("content", {})[media_type] = {"schema": schema}
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
