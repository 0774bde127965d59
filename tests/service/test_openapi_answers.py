"""Real answers of every operation that answers JSON, checked against the schema
/openapi.json declares for them (dispatch.api.responses): a model that says more, or
other, than an endpoint returns fails here, on answers the fuzz test rarely reaches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema

from dispatch.domain import Role
from tests.conftest import Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.service.test_aml_intake import aml_sms
from tests.service.test_login import _add


class _Checked:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, r: httpx.Response, path: str, *, status: int = 200) -> Any:
        assert r.status_code == status, (path, r.text)
        method = r.request.method.lower()
        media_type = r.headers["content-type"].split(";")[0]
        declared = self.spec["paths"][path][method]["responses"][str(status)]["content"]
        schema = {"components": self.spec["components"], **declared[media_type]["schema"]}
        errors = [f"{e.json_path}: {e.message[:200]}"
                  for e in jsonschema.Draft202012Validator(schema).iter_errors(r.json())]
        assert errors == [], (method, path)
        self.seen.add((path, method))
        return r.json()


async def test_real_answers_match_their_declared_schemas(service: Service) -> None:
    c = service.client
    check = _Checked((await c.get("/openapi.json")).json())
    admin, dispatcher = service.auth(Role.ADMIN), service.auth()
    collection = city(n_vehicles=3)
    collection["features"].append({
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [CENTRE[0] + 0.05,
                                                                          CENTRE[1]]},
        "properties": {"type": "station", "id": "S2", "name": "东站", "district_id": "D1"}})
    check(await c.post("/v1/admin/reference", json=collection, headers=admin),
          "/v1/admin/reference")
    check(await c.get("/v1/reference/schema"), "/v1/reference/schema")
    call = check(await c.post("/v1/calls", json=call_body(*CENTRE, answers={
        "chest_pain": True}, number="13912345678"), headers=dispatcher), "/v1/calls",
        status=201)
    cid, vid = call["id"], call["assignments"][0]["vehicle_id"]
    check(await c.get("/v1/calls", headers=dispatcher), "/v1/calls")
    check(await c.get(f"/v1/calls/{cid}", headers=dispatcher), "/v1/calls/{call_id}")
    check(await c.get(f"/v1/calls/{cid}/recommendations", headers=dispatcher),
          "/v1/calls/{call_id}/recommendations")
    check(await c.post("/v1/aml", params={"sender": "+8613912345678"},
                       content=aml_sms(*CENTRE), headers={**service.auth(Role.GATEWAY),
                                                          "content-type": "text/plain"}),
          "/v1/aml", status=202)
    check(await c.get("/v1/vehicles", headers=dispatcher), "/v1/vehicles")
    check(await c.get(f"/v1/vehicles/{vid}", headers=dispatcher), "/v1/vehicles/{vehicle_id}")
    crew = service.auth(Role.CREW, vehicle_id=vid)
    check(await c.post(f"/v1/vehicles/{vid}/status", json={"status": "en_route",
                                                           "call_id": cid}, headers=crew),
          "/v1/vehicles/{vehicle_id}/status")
    check(await c.post(f"/v1/vehicles/{vid}/milestones", json={"kind": "patient_contact"},
                       headers=crew), "/v1/vehicles/{vehicle_id}/milestones")
    check(await c.get("/v1/vehicles/nearest/search", params={"lon": CENTRE[0],
                                                             "lat": CENTRE[1]},
                      headers=dispatcher), "/v1/vehicles/nearest/search")
    for path in ("/v1/stations", "/v1/hospitals", "/v1/districts", "/v1/triage/protocol",
                 "/v1/coverage", "/v1/coverage/moves", "/v1/eta/model"):
        check(await c.get(path, headers=dispatcher), path)
    check(await c.get("/v1/coverage", params={"format": "geojson", "target_s": 480},
                      headers=dispatcher), "/v1/coverage")
    check(await c.post("/v1/triage/evaluate", json={"complaint": "胸痛"}, headers=dispatcher),
          "/v1/triage/evaluate")
    check(await c.post(f"/v1/calls/{cid}/destination", json={"hospital_id": "H2",
                                                             "reason": "家属要求"},
                       headers=dispatcher), "/v1/calls/{call_id}/destination")
    check(await c.post("/v1/hospitals/H1/capacity", json={
        "ed_beds_available": 0, "capabilities": {"pci": {"available": False,
                                                         "reason": "导管室占用"}}},
        headers=dispatcher), "/v1/hospitals/{hospital_id}/capacity")
    check(await c.get("/v1/hospitals/H1/timeline", headers=dispatcher),
          "/v1/hospitals/{hospital_id}/timeline")
    for fmt in ("json", "fhir"):
        check(await c.get(f"/v1/incidents/{cid}/handover", params={"format": fmt},
                          headers=dispatcher), "/v1/incidents/{call_id}/handover")
    idle = next(v["id"] for v in check(await c.get("/v1/vehicles", params={
        "status": "available"}, headers=dispatcher), "/v1/vehicles")["vehicles"])
    check(await c.post("/v1/coverage/moves/accept", json={"vehicle_id": idle,
                                                          "to_station_id": "S2"},
                       headers=dispatcher), "/v1/coverage/moves/accept")
    check(await c.post("/v1/admin/eta/calibrate", headers=admin), "/v1/admin/eta/calibrate")
    now = datetime.now(UTC)
    check(await c.get("/v1/indicators", params={
        "from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(hours=1))
        .isoformat(), "by": "district"}, headers=dispatcher), "/v1/indicators")
    check(await c.get("/v1/audit", headers=admin), "/v1/audit")
    for action, body in (("fixes", {"fixes": call_body(*CENTRE)["fixes"]}),
                         ("triage", {"answers": {"chest_pain": True}}),
                         ("dispatch", {"vehicle_id": idle, "additional": True}),
                         ("cancel", {"reason": "重复呼叫"})):
        check(await c.post(f"/v1/calls/{cid}/{action}", json=body, headers=dispatcher),
              f"/v1/calls/{{call_id}}/{action}")
    await _add(service, "dispatcher-a", Role.DISPATCHER, "correct horse")
    check(await c.post("/v1/auth/login", json={"name": "dispatcher-a",
                                                "password": "correct horse"}),
          "/v1/auth/login")
    for path in ("/healthz", "/readyz"):
        check(await c.get(path), path)
    answering = {(p, m) for p, ops in check.spec["paths"].items() for m, op in ops.items()
                 if any("application/json" in r.get("content", {})
                        for s, r in op["responses"].items() if s.startswith("2"))}
    assert answering == check.seen  # every operation that answers JSON
