"""The protocol documents are served without a token: /asyncapi.json for the host the
client asked, /v1/reference/schema as dispatch.reference_format builds it."""

from __future__ import annotations

from dispatch.reference_format import reference_schema
from tests.conftest import Service


async def test_asyncapi_is_served_without_a_token(service: Service) -> None:
    r = await service.client.get("/asyncapi.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["service"]["host"] == r.request.url.netloc.decode()
    assert doc["servers"]["service"]["protocol"] == "ws"
    assert {c["address"] for c in doc["channels"].values()} == {
        "/v1/ws/crew", "/v1/ws/hospital", "/v1/ws/console"}


async def test_the_reference_schema_is_served_without_a_token(service: Service) -> None:
    r = await service.client.get("/v1/reference/schema")
    assert r.status_code == 200, r.text
    assert r.json() == reference_schema()
