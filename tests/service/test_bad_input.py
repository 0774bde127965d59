"""Every class of bad input gets a 4xx whose JSON body names the field; never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dispatch.domain import Role
from tests.conftest import Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


def _with(path: str, value: Any) -> dict[str, Any]:
    body = call_body(*CENTRE)
    target = body
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]  # type: ignore[index]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return body


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "field"), [
    ("fixes.0.lat", 91.0, "fixes[0].lat"),
    ("fixes.0.lon", -181.0, "fixes[0].lon"),
    ("fixes.0.accuracy_m", -5, "fixes[0].accuracy_m"),
    ("fixes.0.source", "satellite", "fixes[0].source"),
    ("fixes.0.coord_system", "osgb36", "fixes[0].coord_system"),
    ("fixes.0.observed_at", "2026-11-23T10:00:00", "fixes[0].observed_at"),  # no timezone
    ("caller_number", _DELETE, "caller_number"),
    ("caller_number", "not-a-number", "caller_number"),
    ("received_at", _DELETE, "received_at"),
    ("answered_at", "2000-01-01T00:00:00+00:00", "body"),  # answered before it rang
    ("surprise", 1, "surprise"),
])
async def test_bad_call_fields_are_named(service: Service, path: str, value: Any,
                                         field: str) -> None:
    r = await service.client.post("/v1/calls", json=_with(path, value), headers=service.auth())
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input"
    assert any(d["field"] == field for d in body["detail"]), body


async def test_non_finite_coordinates(service: Service) -> None:
    raw = call_body(*CENTRE)
    text = __import__("json").dumps(raw).replace(f'"lat": {CENTRE[1]}', '"lat": NaN')
    r = await service.client.post("/v1/calls", content=text, headers={
        **service.auth(), "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"].startswith("fixes[0]")


async def test_malformed_json(service: Service) -> None:
    r = await service.client.post("/v1/calls", content=b'{"caller_number": "1', headers={
        **service.auth(), "content-type": "application/json"})
    assert r.status_code == 422
    assert "JSON" in r.json()["detail"][0]["reason"]


async def test_oversized_body(service: Service) -> None:
    body = call_body(*CENTRE, complaint="x" * (service.settings.max_body_bytes + 10))
    r = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert r.status_code == 413
    assert r.json()["detail"][0]["field"] == "body"


async def test_too_long_complaint_within_body_limit(service: Service) -> None:
    r = await service.client.post("/v1/calls", json=call_body(*CENTRE, complaint="x" * 3000),
                                  headers=service.auth())
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "complaint"


async def test_unknown_ids(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    missing = uuid.uuid4()
    r = await service.client.get(f"/v1/calls/{missing}", headers=service.auth())
    assert r.status_code == 404 and r.json()["detail"][0]["field"] == "call_id"
    r = await service.client.get("/v1/calls/not-a-uuid", headers=service.auth())
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "call_id"
    r = await service.client.post("/v1/vehicles/NOPE/status", json={"status": "en_route"},
                                  headers=service.auth())
    assert r.status_code == 404 and r.json()["detail"][0]["field"] == "vehicle_id"
    created = await service.client.post("/v1/calls", json=call_body(*CENTRE),
                                        headers=service.auth())
    r = await service.client.post(f"/v1/calls/{created.json()['id']}/dispatch",
                                  json={"vehicle_id": "NOPE"}, headers=service.auth())
    assert r.status_code == 404 and r.json()["detail"][0]["field"] == "vehicle_id"


async def test_bad_reference_data_names_the_feature(service: Service) -> None:
    bad = city(n_vehicles=1)
    bad["features"][2]["properties"]["kind"] = "helicopter"
    r = await service.client.post("/v1/admin/reference", json=bad, headers=service.auth(Role.ADMIN))
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"].startswith("features[2].properties")


async def test_refused_input_loses_nothing_already_accepted(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    good = await service.client.post("/v1/calls", json=call_body(*CENTRE), headers=service.auth())
    bad = await service.client.post("/v1/calls", json=_with("fixes.0.lat", 200),
                                    headers=service.auth())
    assert bad.status_code == 422
    r = await service.client.get(f"/v1/calls/{good.json()['id']}", headers=service.auth())
    assert r.status_code == 200 and r.json()["status"] == "assigned"
