"""Triage through the API: intake, re-triage with answers or crew findings, evaluation,
and the protocol tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.domain import Role
from dispatch.triage import PROTOCOL_VERSION
from tests.conftest import Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

MINOR = {"conscious": True, "breathing": True, "breathing_normally": True, "age_years": 70}


async def test_evaluate_without_a_call(service: Service) -> None:
    r = await service.client.post("/v1/triage/evaluate", json={
        "answers": {"conscious": False, "breathing": False}}, headers=service.auth())
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["acuity"] == 1 and result["protocol_version"] == PROTOCOL_VERSION
    assert "GEN-ARREST" in [x["rule_id"] for x in result["reasons"]]
    bad = await service.client.post("/v1/triage/evaluate", json={
        "answers": {"age_years": 200}}, headers=service.auth())
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "answers.age_years"


async def test_evaluate_gives_each_reason_in_chinese_and_english(service: Service) -> None:
    r = await service.client.post("/v1/triage/evaluate", json={
        "answers": {"conscious": False, "breathing": False}, "complaint": "大面积烧伤"},
        headers=service.auth())
    assert r.status_code == 200, r.text
    reasons = {x["rule_id"]: x for x in r.json()["reasons"]}
    arrest = reasons["GEN-ARREST"]
    assert arrest["text_zh"] == "无意识且无呼吸：心跳呼吸骤停"
    assert arrest["text_en"] == arrest["text"] and arrest["text"].startswith("Not conscious")
    assert reasons["CC-BURN-LARGE"]["text_zh"].startswith("烧伤面积达整条手臂或以上")
    assert reasons["KW-BURN-LARGE"]["text_zh"].startswith("主诉文字“大面积烧伤”")


async def test_protocol_tables_carry_their_version_and_sources(service: Service) -> None:
    r = await service.client.get("/v1/triage/protocol",
                                 headers=service.auth(Role.HOSPITAL, hospital_id="H1"))
    assert r.status_code == 200
    body = r.json()
    assert body["version"] == PROTOCOL_VERSION
    assert set(body["tables"]) == {"protocol", "rules", "vitals", "keywords", "destination"}
    rules = body["tables"]["rules"]["rules"]
    assert rules and all(r["source"] and r["text"] for r in rules)


async def test_crew_findings_retriage_and_move_the_destination(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    created = await service.client.post(
        "/v1/calls", json=call_body(*CENTRE, answers=MINOR, complaint="dizzy"),
        headers=service.auth())
    call = created.json()
    assert call["acuity"] == 3 and call["destination_id"] is None
    vehicle = call["assignments"][0]["vehicle_id"]
    crew = service.auth(Role.CREW, vehicle_id=vehicle)
    lkw = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = await service.client.post(f"/v1/calls/{call['id']}/triage", json={
        "findings": {"sbp": 170, "hr": 90, "gcs": 14, "stroke": {"lams": 5},
                     "last_known_well": lkw},
        "answers": {"facial_droop": True, "arm_weakness": True}}, headers=crew)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["pathway"] == "stroke" and after["acuity"] <= 2
    assert after["destination_id"] == "H1"  # the only thrombectomy-capable centre
    timeline = (await service.client.get(f"/v1/calls/{call['id']}",
                                         headers=service.auth())).json()["timeline"]
    retriaged = [e for e in timeline if e["kind"] == "retriaged"]
    assert retriaged[0]["data"]["old"]["acuity"] == 3
    assert retriaged[0]["data"]["new"]["pathway"] == "stroke"
    assert any(e["kind"] == "destination_chosen" for e in timeline)


async def test_other_crews_cannot_retriage(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    call = (await service.client.post("/v1/calls", json=call_body(*CENTRE, answers=MINOR),
                                      headers=service.auth())).json()
    mine = call["assignments"][0]["vehicle_id"]
    other = "V0001" if mine == "V0000" else "V0000"
    r = await service.client.post(f"/v1/calls/{call['id']}/triage",
                                  json={"findings": {"hr": 150}},
                                  headers=service.auth(Role.CREW, vehicle_id=other))
    assert r.status_code == 403


async def test_retriage_reorders_the_queue(service: Service) -> None:
    await service.load(city(n_vehicles=0))
    first = (await service.client.post("/v1/calls", json=call_body(*CENTRE, answers=MINOR),
                                       headers=service.auth())).json()
    second = (await service.client.post("/v1/calls", json=call_body(*CENTRE, answers=MINOR),
                                        headers=service.auth())).json()
    r = await service.client.post(f"/v1/calls/{second['id']}/triage",
                                  json={"answers": {"conscious": False}}, headers=service.auth())
    assert r.json()["acuity"] <= 2
    queue = (await service.client.get("/v1/calls", headers=service.auth())).json()["calls"]
    assert [c["id"] for c in queue] == [second["id"], first["id"]]


async def test_a_retriage_that_keeps_the_centre_records_its_new_reasons(
        service: Service) -> None:
    # Chest pain goes to the PCI centre; the crew's STEMI ECG keeps it there, and the
    # record must show why now (the STEMI's reasons), not only that nothing moved.
    await service.load(city(n_vehicles=2))
    answers = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
    call = (await service.client.post("/v1/calls", json=call_body(*CENTRE, answers=answers),
                                      headers=service.auth())).json()
    assert call["destination_id"] == "H1"
    vehicle = call["assignments"][0]["vehicle_id"]
    r = await service.client.post(f"/v1/calls/{call['id']}/triage", json={
        "findings": {"ecg": {"stemi": True}}},
        headers=service.auth(Role.CREW, vehicle_id=vehicle))
    assert r.status_code == 200, r.text
    assert r.json()["destination_id"] == "H1"
    timeline = (await service.client.get(f"/v1/calls/{call['id']}",
                                         headers=service.auth())).json()["timeline"]
    chosen = [e for e in timeline if e["kind"] == "destination_chosen"]
    reviewed = [e for e in timeline if e["kind"] == "destination_reviewed"]
    assert len(chosen) == 1 and len(reviewed) == 1
    assert reviewed[0]["data"]["hospital_id"] == "H1"
    assert reviewed[0]["data"]["reasons"] != chosen[0]["data"]["reasons"]
    # the same findings again change nothing: nothing more to record
    r = await service.client.post(f"/v1/calls/{call['id']}/triage", json={
        "findings": {"ecg": {"stemi": True}}},
        headers=service.auth(Role.CREW, vehicle_id=vehicle))
    timeline = (await service.client.get(f"/v1/calls/{call['id']}",
                                         headers=service.auth())).json()["timeline"]
    assert len([e for e in timeline if e["kind"] == "destination_reviewed"]) == 1
