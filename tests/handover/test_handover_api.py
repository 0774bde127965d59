"""GET /v1/incidents/{id}/handover: ATMIST JSON and text, FHIR, access and audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from fhir.resources.bundle import Bundle
from fhir.resources.condition import Condition

from dispatch.domain import Role
from tests.conftest import DATABASE_URL
from tests.handover.wsclient import Cluster, ack, cluster, recv, send, until


async def _crew_findings(c: Cluster, call: dict[str, Any]) -> None:
    call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    frames: list[dict[str, Any]] = [
        {"type": "vitals", "hr": 118, "sbp": 92, "dbp": 60, "spo2": 91, "rr": 24, "gcs": 15,
         "at": t0},
        {"type": "ecg", "rhythm": "sinus_tachycardia", "st_elevation_leads": ["II", "III", "aVF"],
         "stemi": True, "at": t0 + timedelta(minutes=2)},
        {"type": "treatment", "kind": "medication", "name": "Aspirin", "code": "aspirin",
         "dose": {"value": 300, "unit": "mg"}, "route": "po", "at": t0 + timedelta(minutes=3)},
        {"type": "treatment", "kind": "procedure", "name": "IV access",
         "at": t0 + timedelta(minutes=4)},
        {"type": "vitals", "hr": 96, "sbp": 110, "spo2": 95, "at": t0 + timedelta(minutes=8)},
    ]
    async with c.ws(0, "crew", Role.CREW, vehicle_id=vehicle) as crew:
        await recv(crew)
        for i, frame in enumerate(frames):
            body = {**frame, "msg_id": f"f{i}", "call_id": call_id,
                    "at": frame["at"].isoformat()}
            await send(crew, body)
            got, _ = await until(crew, ack(f"f{i}"))
            assert got["type"] == "ack", got


async def test_record_as_json_text_and_fhir_for_those_allowed() -> None:
    async with cluster(1) as c:
        call = await c.new_call()
        call_id, vehicle = call["id"], call["assignments"][0]["vehicle_id"]
        await _crew_findings(c, call)
        url = f"{c.urls[0]}/v1/incidents/{call_id}/handover"
        hospital = c.auth(Role.HOSPITAL, hospital_id="H1")

        r = await c.http.get(url, headers=hospital)
        assert r.status_code == 200, r.text
        record = r.json()
        assert record["atmist"]["age"]["years"] == 60
        hr = next(s for s in record["atmist"]["signs"] if s["code"] == "hr")
        assert (hr["first"], hr["last"], hr["trend"]) == (118, 96, "↓")
        assert [t["name"] for t in record["atmist"]["treatments"]] == ["Aspirin", "IV access"]
        assert "ATMIST" in record["text"] and "Aspirin" in record["text"]
        assert [h["hospital_id"] for h in record["handover"]] == ["H1"]
        assert "centre_alerted" in [e["kind"] for e in record["timeline"]]

        r = await c.http.get(url, params={"format": "text"}, headers=hospital)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert r.text.startswith("ATMIST")

        r = await c.http.get(url, params={"format": "fhir"},
                             headers=c.auth(Role.CREW, vehicle_id=vehicle))
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/fhir+json"
        bundle = Bundle.model_validate_json(r.content)
        resources = [e.resource for e in bundle.entry or []]
        assert all(res is not None for res in resources)
        kinds = [res.get_resource_type() for res in resources if res is not None]
        assert {"Patient", "Encounter", "Observation", "Condition", "Procedure",
                "MedicationAdministration"} <= set(kinds)
        stemi = [res for res in resources
                 if isinstance(res, Condition) and res.code is not None
                 and any(cd.code == "401303003" for cd in res.code.coding or [])]
        assert stemi, "the crew's STEMI ECG is a Condition"

        r = await c.http.get(url, headers=c.auth())
        assert r.status_code == 200
        for headers, status in [
            (c.auth(Role.HOSPITAL, hospital_id="H2"), 403),
            (c.auth(Role.CREW, vehicle_id="V9999"), 403),
            ({}, 401),
        ]:
            assert (await c.http.get(url, headers=headers)).status_code == status
        r = await c.http.get(f"{c.urls[0]}/v1/incidents/{call_id}/handover",
                             params={"format": "xml"}, headers=hospital)
        assert r.status_code == 422

        conn = await asyncpg.connect(DATABASE_URL)
        try:
            rows = await conn.fetch(
                f"""SELECT role, detail->>'format' AS format FROM "{c.settings.db_schema}".audit_log
                     WHERE call_id = $1 AND action = 'read_handover' ORDER BY id""",
                UUID(call_id))
        finally:
            await conn.close()
        assert [(r["role"], r["format"]) for r in rows] == [
            ("hospital", "json"), ("hospital", "text"), ("crew", "fhir"), ("dispatcher", "json")]


async def test_unknown_incident_is_404() -> None:
    async with cluster(1) as c:
        r = await c.http.get(
            f"{c.urls[0]}/v1/incidents/00000000-0000-0000-0000-000000000000/handover",
            headers=c.auth())
        assert r.status_code == 404
