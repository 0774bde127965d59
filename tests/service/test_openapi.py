"""/openapi.json declares what the service answers: the one error shape for every refusal,
JSON objects (or named models) for successes, never FastAPI's unused validation shape."""

from __future__ import annotations

from typing import Any

from tests.conftest import Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


async def test_every_refusal_references_the_error_shape(service: Service) -> None:
    spec: dict[str, Any] = (await service.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["Error"]["required"] == ["error", "detail"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                body = response.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith(("4", "5")):
                    assert body == {"$ref": "#/components/schemas/Error"}, (path, method)
                elif body is not None:
                    assert body != {"type": "string"}, (path, method, status)
            if path != "/healthz":
                assert "503" in operation["responses"], (path, method)
                assert "422" in operation["responses"] or not (
                    operation.get("parameters") or operation.get("requestBody")), (path, method)


async def test_a_real_refusal_matches_the_declared_shape(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    body = call_body(*CENTRE)
    body["fixes"][0]["lat"] = 91
    r = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert r.status_code == 422
    refusal = r.json()
    assert set(refusal) == {"error", "message", "detail"}
    assert all(set(d) == {"field", "reason"} for d in refusal["detail"])
    r = await service.client.post("/v1/calls", content=b"\xff\xfe", headers={
        **service.auth(), "content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["detail"][0]["field"] == "body"


async def test_sign_in_declares_its_refusal(service: Service) -> None:
    # a wrong name or password is a 401 on an operation without a bearer token
    spec = (await service.client.get("/openapi.json")).json()
    login = spec["paths"]["/v1/auth/login"]["post"]
    assert "401" in login["responses"]
    r = await service.client.post("/v1/auth/login", json={"name": "nobody", "password": "x"})
    assert r.status_code == 401, r.text


# bodies that are not JSON, by media type: their schema is a string
_NOT_JSON = frozenset({"text/csv", "text/plain", "text/html", "application/pdf"})


def _concrete(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """An object with named properties (or alternatives that each are one)."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema or "oneOf" in schema:
        return all(_concrete(s, schemas) for s in schema.get("anyOf", schema.get("oneOf")))
    return schema.get("type") == "object" and bool(schema.get("properties"))


def _generic_successes(spec: dict[str, Any]) -> list[str]:
    schemas = spec["components"]["schemas"]
    generic = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                content = response.get("content", {})
                if status == "204" and not content:
                    continue  # no body
                if not content:
                    generic.append(f"{method} {path} {status}: no content declared")
                for media_type, body in content.items():
                    schema = body.get("schema", {})
                    ok = (schema == {"type": "string"} if media_type in _NOT_JSON
                          else _concrete(schema, schemas))
                    if not ok:
                        generic.append(f"{method} {path} {status} {media_type}: {schema}")
    return generic


async def test_every_success_declares_what_it_returns(service: Service) -> None:
    spec = (await service.client.get("/openapi.json")).json()
    assert _generic_successes(spec) == []


def test_a_generic_success_would_be_found() -> None:
    spec = {"components": {"schemas": {"Open": {"type": "object"}}},
            "paths": {"/a": {"get": {"responses": {"200": {"content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Open"}},
                "text/csv": {"schema": {"type": "string"}}}}}}},
                      "/b": {"post": {"responses": {"200": {"content": {
                          "application/json": {"schema": {"type": "object"}}}},
                          "201": {"description": "created"}}}}}}
    assert len(_generic_successes(spec)) == 3
