"""Every class of bad input gets a 4xx whose JSON body names the field; never a 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from dispatch.domain import Role
from dispatch.handover.frames import parse_crew_frame
from dispatch.handover.messages import CLOSE_INVALID_DATA, FrameError
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


# -- issue 14, defect 11: input that used to reach PostgreSQL or arithmetic as a 500 ---------


def _named(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input", body
    assert any(d["field"] == field for d in body["detail"]), body


async def test_nul_is_refused_in_body_path_and_query(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    r = await service.client.post("/v1/calls", json=call_body(*CENTRE, complaint="胸痛\u0000"),
                                  headers=service.auth())
    _named(r, "complaint")
    r = await service.client.post("/v1/calls", json=_with("fixes.0.source", "aml\u0000"),
                                  headers=service.auth())
    _named(r, "fixes[0].source")
    r = await service.client.post("/v1/vehicles/V%00/status", json={"status": "en_route"},
                                  headers=service.auth())
    _named(r, "vehicle_id")
    r = await service.client.get("/v1/vehicles/V0000%00", headers=service.auth())
    _named(r, "vehicle_id")
    r = await service.client.get("/v1/indicators?from=2026-01-01T00:00:00Z"
                                 "&to=2026-01-02T00:00:00Z&tz=Asia/Shanghai%00",
                                 headers=service.auth())
    _named(r, "tz")
    bad = city(n_vehicles=1)
    bad["features"][1]["properties"]["name"] = "站\u0000"
    r = await service.client.post("/v1/admin/reference", json=bad,
                                  headers=service.auth(Role.ADMIN))
    _named(r, "features[1].properties.name")
    # nothing of the refused requests was stored; the service still answers
    r = await service.client.get("/v1/calls", headers=service.auth())
    assert r.status_code == 200 and r.json()["calls"] == []


async def test_an_escaped_backslash_u0000_is_plain_text(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    r = await service.client.post("/v1/calls", json=call_body(*CENTRE, complaint="\\u0000"),
                                  headers=service.auth())
    assert r.status_code == 201, r.text
    assert r.json()["complaint"] == "\\u0000"


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00-13:59",
                                "9999-12-31T23:59:59+00:00"])
async def test_extreme_datetimes_are_refused(service: Service, at: str) -> None:
    await service.load(city(n_vehicles=1))
    r = await service.client.post("/v1/calls", json=_with("received_at", at),
                                  headers=service.auth())
    _named(r, "received_at")
    r = await service.client.post("/v1/calls", json=_with("fixes.0.observed_at", at),
                                  headers=service.auth())
    _named(r, "fixes[0].observed_at")
    r = await service.client.get("/v1/calls", params={"from": at, "to": "2026-01-01T00:00:00Z"},
                                 headers=service.auth())
    _named(r, "from")


async def test_tiny_accuracy_is_refused(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    r = await service.client.post("/v1/calls", json=_with("fixes.0.accuracy_m", 1e-170),
                                  headers=service.auth())
    _named(r, "fixes[0].accuracy_m")


@pytest.mark.parametrize("targets", [["0"], ["-5"], ["480", "0"], ["1e9"]])
async def test_response_targets_out_of_range_are_refused(service: Service,
                                                         targets: list[str]) -> None:
    r = await service.client.get("/v1/indicators", params={
        "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z",
        "response_target_s": targets}, headers=service.auth())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"].startswith("response_target_s"), r.text


async def test_reference_vehicle_with_missing_station_names_the_feature(
    service: Service,
) -> None:
    bad = city(n_vehicles=2)
    bad["features"][3]["properties"]["station_id"] = "S-NOWHERE"
    r = await service.client.post("/v1/admin/reference", json=bad,
                                  headers=service.auth(Role.ADMIN))
    _named(r, "features[3].properties.station_id")
    # a station loaded before counts
    await service.load(city(n_vehicles=1))
    later = city(n_vehicles=0, hospitals=False)
    later["features"] = [f for f in later["features"] if f["properties"]["type"] != "station"]
    later["features"].append(city(n_vehicles=1)["features"][2])
    r = await service.client.post("/v1/admin/reference", json=later,
                                  headers=service.auth(Role.ADMIN))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("coords", "index"), [("[1e309, 32.0]", 0), ("[118.0, 91]", 1),
                                               ("[-181, 32.0]", 0), ("[118.0, -1e309]", 1)])
async def test_reference_coordinates_off_the_earth_are_refused(service: Service,
                                                               coords: str, index: int) -> None:
    text = json.dumps(city(n_vehicles=1)).replace(
        json.dumps(city(n_vehicles=1)["features"][2]["geometry"]["coordinates"]), coords)
    r = await service.client.post("/v1/admin/reference", content=text, headers={
        **service.auth(Role.ADMIN), "content-type": "application/json"})
    _named(r, f"features[2].geometry.coordinates[{index}]")
    r = await service.client.get("/v1/vehicles", headers=service.auth())
    assert r.status_code == 200 and r.json()["vehicles"] == []


@pytest.mark.parametrize(("path", "value"), [
    ("fixes.0.lat", True), ("fixes.0.lon", "118.78"), ("fixes.0.accuracy_m", False),
    ("fixes.0.accuracy_m", "20"),
])
async def test_numbers_are_strict(service: Service, path: str, value: Any) -> None:
    r = await service.client.post("/v1/calls", json=_with(path, value), headers=service.auth())
    field = path.replace("fixes.0.", "fixes[0].")
    _named(r, field)


@pytest.mark.parametrize(("prop", "value"), [("crew_count", True), ("crew_count", "2"),
                                             ("trauma_level", True)])
async def test_reference_numbers_are_strict(service: Service, prop: str, value: Any) -> None:
    bad = city(n_vehicles=1)
    index = 2 if prop == "crew_count" else 3  # the vehicle, then the first hospital
    bad["features"][index]["properties"][prop] = value
    r = await service.client.post("/v1/admin/reference", json=bad,
                                  headers=service.auth(Role.ADMIN))
    _named(r, f"features[{index}].properties.{prop}")


@pytest.mark.parametrize(("frame", "field"), [
    ({"type": "treatment", "kind": "procedure", "name": "cpr\u0000",
      "at": "2026-11-23T10:00:00+08:00", "msg_id": "m1"}, "name"),
    ({"type": "vitals", "hr": True, "at": "2026-11-23T10:00:00+08:00", "msg_id": "m2"}, "hr"),
    ({"type": "vitals", "temp_c": "37.2", "at": "2026-11-23T10:00:00+08:00", "msg_id": "m3"},
     "temp_c"),
    ({"type": "position", "lon": 118.0, "lat": True, "at": "2026-11-23T10:00:00+08:00",
      "msg_id": "m4"}, "lat"),
    ({"type": "vitals", "hr": 80, "at": "0001-01-01T00:00:00+00:00", "msg_id": "m5"}, "at"),
])
def test_crew_frames_refuse_nul_non_numbers_and_extreme_times(frame: dict[str, Any],
                                                              field: str) -> None:
    with pytest.raises(FrameError) as refused:
        parse_crew_frame(json.dumps({**frame, "call_id": str(uuid.uuid4())}).encode())
    assert refused.value.code == CLOSE_INVALID_DATA
    assert refused.value.field == field
    assert refused.value.msg_id == frame["msg_id"]


def test_crew_frames_still_take_whole_floats_for_counts() -> None:
    msg = parse_crew_frame(json.dumps({"type": "vitals", "hr": 80.0, "spo2": 97,
                                       "at": "2026-11-23T10:00:00+08:00",
                                       "msg_id": "m6", "call_id": str(uuid.uuid4())}).encode())
    assert msg.hr == 80  # type: ignore[union-attr]
