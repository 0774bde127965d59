"""Chief-complaint cards through the service: the protocol endpoint serves them, evaluate
and call intake take them (naming the field of a bad one), and re-triage keeps the call's
card. The card table itself is tested without the app in tests/triage/test_cards.py."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from dispatch.domain import Role
from dispatch.triage.protocol import load_protocol
from tests.conftest import DATABASE_URL, Service
from tests.handover.wsclient import ack, cluster, now_iso, recv, send, until
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

PROTOCOL = load_protocol()


async def test_protocol_serves_the_cards_beside_the_tables(service: Service) -> None:
    r = await service.client.get("/v1/triage/protocol", headers=service.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["tables"]) == {"protocol", "rules", "vitals", "keywords", "destination"}
    assert body["card_version"] == PROTOCOL.card_version
    cards = {c["id"]: c for c in body["cards"]}
    assert len(cards) == len(PROTOCOL.cards)
    stroke = cards["stroke"]
    # common questions written out, in the card's order, with both wordings
    assert [q["id"] for q in stroke["questions"]][:3] == ["conscious", "breathing",
                                                         "facial_droop"]
    assert stroke["questions"][2]["field"] == "facial_droop"
    assert stroke["questions"][2]["text_zh"] and stroke["questions"][2]["text_en"]
    assert "BE-FAST" in stroke["source_text"]
    assert all(d["source_text"] for d in stroke["determinants"])


async def test_evaluate_with_a_card(service: Service) -> None:
    r = await service.client.post("/v1/triage/evaluate", json={
        "card": "poisoning_overdose",
        "card_answers": {"conscious": True, "breathing": True, "breathing_normally": True,
                         "substance": "pesticide"},
        "answers": {"age_years": 45}}, headers=service.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["acuity"] == 2 and body["card"] == "poisoning_overdose"
    assert "CC-POISON-LETHAL" in [x["rule_id"] for x in body["reasons"]]


@pytest.mark.parametrize(("payload", "field"), [
    ({"card": "no_such_card"}, "card"),
    ({"card": "stroke", "card_answers": {"nope": True}}, "card_answers.nope"),
    ({"card": "stroke", "card_answers": {"facial_droop": 3}}, "card_answers.facial_droop"),
    ({"card_answers": {"conscious": True}}, "card"),
])
async def test_evaluate_refuses_a_bad_card_naming_the_field(
        service: Service, payload: dict[str, Any], field: str) -> None:
    r = await service.client.post("/v1/triage/evaluate", json=payload, headers=service.auth())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field


async def test_a_call_taken_on_a_card_keeps_it_through_retriage(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    body = call_body(*CENTRE, answers={"age_years": 50})
    body["card"] = "poisoning_overdose"
    body["card_answers"] = {"conscious": True, "breathing": True, "breathing_normally": True,
                            "substance": "pesticide"}
    created = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert created.status_code == 201, created.text
    call = created.json()
    assert call["acuity"] == 2
    assert call["triage"]["card"] == "poisoning_overdose"
    assert call["triage"]["card_answers"]["substance"] == "pesticide"
    # normal vitals from the crew: the card's pesticide rule still counts
    vehicle = call["assignments"][0]["vehicle_id"]
    r = await service.client.post(f"/v1/calls/{call['id']}/triage", json={
        "findings": {"hr": 80, "sbp": 125, "spo2": 98, "rr": 16, "gcs": 15}},
        headers=service.auth(Role.CREW, vehicle_id=vehicle))
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["acuity"] == 2 and after["triage"]["card"] == "poisoning_overdose"
    assert "CC-POISON-LETHAL" in [x["rule_id"] for x in after["triage"]["reasons"]]


async def test_a_call_with_a_bad_card_answer_is_refused(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    body = call_body(*CENTRE)
    body["card"] = "stroke"
    body["card_answers"] = {"substance": "pesticide"}
    r = await service.client.post("/v1/calls", json=body, headers=service.auth())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "card_answers.substance"
    listed = await service.client.get("/v1/calls", headers=service.auth())
    assert listed.json()["calls"] == []  # nothing stored


async def test_a_stored_card_the_table_no_longer_has_does_not_block_retriage(
        service: Service) -> None:
    await service.load(city(n_vehicles=2))
    body = call_body(*CENTRE, answers={"age_years": 50, "conscious": True, "breathing": True})
    body["card"] = "chest_pain"
    body["card_answers"] = {"breathing_normally": True}
    call = (await service.client.post("/v1/calls", json=body, headers=service.auth())).json()
    assert call["triage"]["card"] == "chest_pain"
    # the card table changed since intake: the stored card is gone
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(
            f'UPDATE "{service.settings.db_schema}".calls '
            """SET triage = jsonb_set(triage, '{card}', '"retired_card"') WHERE id = $1::uuid""",
            call["id"])
    finally:
        await conn.close()
    vehicle = call["assignments"][0]["vehicle_id"]
    r = await service.client.post(f"/v1/calls/{call['id']}/triage", json={
        "findings": {"hr": 80, "sbp": 125, "spo2": 98}},
        headers=service.auth(Role.CREW, vehicle_id=vehicle))
    assert r.status_code == 200, r.text
    assert r.json()["triage"]["card"] is None


async def test_crew_vitals_that_change_nothing_do_not_retriage_a_call_on_a_card() -> None:
    # The crew link's quick check ("would the findings change the level or pathway?")
    # must read the call's card as the full re-triage does: without it, a call whose
    # level comes from its card looks changed on every vitals frame.
    async with cluster() as c:
        body = call_body(*CENTRE, number="13800000077", answers={
            "age_years": 50, "conscious": True, "breathing": True, "breathing_normally": True})
        body["card"] = "poisoning_overdose"
        body["card_answers"] = {"substance": "pesticide"}  # level II by the card's rule
        r = await c.http.post(f"{c.urls[0]}/v1/calls", json=body, headers=c.auth())
        assert r.status_code == 201, r.text
        call = r.json()
        assert call["acuity"] == 2
        vehicle = call["assignments"][0]["vehicle_id"]
        async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
            await recv(crew)  # snapshot
            vitals = {"type": "vitals", "call_id": call["id"], "hr": 82, "sbp": 128,
                      "spo2": 98, "rr": 16, "gcs": 15}
            await send(crew, {**vitals, "msg_id": "n1", "at": now_iso()})
            # A lane handles its frames in order, each one's follow-up (the check, and a
            # re-triage) before the next: once n2 is acked, n1's check has run.
            await send(crew, {**vitals, "msg_id": "n2", "at": now_iso()})
            await until(crew, ack("n2"))
            got = await c.http.get(f"{c.urls[0]}/v1/calls/{call['id']}", headers=c.auth())
            kinds = [e["kind"] for e in got.json()["timeline"]]
            assert "retriaged" not in kinds, kinds
