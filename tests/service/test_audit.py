"""The audit trail: every read of patient data, every refusal, GET /v1/audit, append-only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from dispatch.domain import Role
from tests.conftest import DATABASE_URL, Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


async def _new_call(service: Service, number: str = "13800000001") -> str:
    r = await service.client.post("/v1/calls", json=call_body(*CENTRE, number=number),
                                  headers=service.auth())
    assert r.status_code == 201, r.text
    call_id: str = r.json()["id"]
    return call_id


async def _audit(service: Service, **query: str) -> list[dict[str, Any]]:
    r = await service.client.get("/v1/audit", params=query, headers=service.auth(Role.AUDITOR))
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def test_dispatcher_reads_of_a_call_and_of_lists_are_audited(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    call_id = await _new_call(service)
    other = await _new_call(service, number="13800000002")
    assert (await service.client.get(f"/v1/calls/{call_id}",
                                     headers=service.auth())).status_code == 200
    assert (await service.client.get("/v1/calls", headers=service.auth())).status_code == 200
    now = datetime.now(UTC)
    r = await service.client.get("/v1/calls", headers=service.auth(), params={
        "from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat()})
    assert r.status_code == 200 and len(r.json()["calls"]) == 2

    rows = await _audit(service, call_id=call_id, actor="test-dispatcher")
    reads = [(e["action"], e["detail"].get("via")) for e in rows if e["action"] != "assign"]
    assert ("read_call", "get_call") in reads
    # one row per list read, naming every call it showed
    assert ("read_calls", "queue") in reads and ("read_calls", "history") in reads
    lists = [e for e in rows if e["action"] == "read_calls"]
    assert all(set(e["detail"]["call_ids"]) == {call_id, other} for e in lists)
    assert all(e["role"] == "dispatcher" for e in rows)
    # the other call's own read is not in this call's trail
    assert not [e for e in rows if e["call_id"] == other]


async def test_refusals_of_patient_data_are_audited_with_who_and_why(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    call_id = await _new_call(service)
    r = await service.client.get(f"/v1/calls/{call_id}",
                                 headers=service.auth(Role.CREW, vehicle_id="V9999"))
    assert r.status_code == 403
    r = await service.client.get(f"/v1/calls/{call_id}",
                                 headers=service.auth(Role.HOSPITAL, hospital_id="H2"))
    assert r.status_code == 403
    assert (await service.client.get(f"/v1/calls/{call_id}")).status_code == 401
    forged = service.token(Role.DISPATCHER)[:-4] + "AAAA"
    r = await service.client.get(f"/v1/calls/{call_id}",
                                 headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    # an auditor reads the audit log, never patient data
    r = await service.client.get(f"/v1/calls/{call_id}", headers=service.auth(Role.AUDITOR))
    assert r.status_code == 403

    refused = [e for e in await _audit(service, call_id=call_id) if e["action"] == "refused"]
    assert [(e["actor"], e["detail"]["status"]) for e in refused] == [
        ("test-crew", 403), ("test-hospital", 403), ("anonymous", 401), ("anonymous", 401),
        ("test-auditor", 403)]
    crew, hospital, missing, bad, auditor = refused
    assert crew["vehicle_id"] == "V9999" and "not assigned" in crew["detail"]["reason"]
    assert hospital["hospital_id"] == "H2"
    assert missing["detail"]["claimed_subject"] is None
    assert "missing bearer token" in missing["detail"]["reason"]
    assert bad["detail"]["claimed_subject"] == "test-dispatcher"  # claimed, not verified
    assert auditor["role"] == "auditor"
    assert all(e["detail"]["method"] == "GET" and e["detail"]["path"] == f"/v1/calls/{call_id}"
               for e in refused)


async def test_only_auditors_and_admins_read_the_audit_log(service: Service) -> None:
    for role, binding, status in [
        (Role.DISPATCHER, {}, 403), (Role.CREW, {"vehicle_id": "V1"}, 403),
        (Role.HOSPITAL, {"hospital_id": "H1"}, 403), (Role.AUDITOR, {}, 200),
        (Role.ADMIN, {}, 200),
    ]:
        r = await service.client.get("/v1/audit", headers=service.auth(role, **binding))
        assert r.status_code == status, (role, r.text)
    # the refused tries are in the log; so are the auditor's own reads
    rows = await _audit(service)
    assert [e["role"] for e in rows if e["action"] == "refused"] == [
        "dispatcher", "crew", "hospital"]
    assert [e["role"] for e in rows if e["action"] == "read_audit"] == ["auditor", "admin"]


async def test_audit_pages_by_cursor_and_exports_csv(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    call_id = await _new_call(service)
    for _ in range(5):
        r = await service.client.get(f"/v1/calls/{call_id}", headers=service.auth())
        assert r.status_code == 200
    everything = await _audit(service, call_id=call_id)
    assert len(everything) >= 6  # the assignment and five reads
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params = {"call_id": call_id, "limit": "2", **({"cursor": cursor} if cursor else {})}
        r = await service.client.get("/v1/audit", params=params,
                                     headers=service.auth(Role.AUDITOR))
        assert r.status_code == 200, r.text
        pages.append(r.json()["entries"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    paged = [e["id"] for page in pages for e in page]
    assert paged == [e["id"] for e in everything]
    assert all(len(p) == 2 for p in pages[:-1])

    r = await service.client.get("/v1/audit", headers=service.auth(Role.AUDITOR),
                                 params={"call_id": call_id, "format": "csv", "limit": "3"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(x["id"]) for x in lines] == [e["id"] for e in everything[:3]]
    assert lines[0]["at"].endswith("+08:00")  # people read Asia/Shanghai time
    assert all(x["call_id"] == call_id for x in lines)
    following = r.headers["X-Next-Cursor"]
    r = await service.client.get("/v1/audit", headers=service.auth(Role.AUDITOR),
                                 params={"call_id": call_id, "cursor": following})
    assert [e["id"] for e in r.json()["entries"]] == [e["id"] for e in everything[3:]]

    # by actor and period
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await _audit(service, actor="nobody") == []
    assert await _audit(service, **{"from": later.isoformat(),
                                    "to": (later + timedelta(hours=1)).isoformat()}) == []


@pytest.mark.parametrize(("params", "field"), [
    ({"cursor": "yesterday|1"}, "cursor"),
    ({"cursor": "2026-01-01T00:00:00+00:00|x"}, "cursor"),
    ({"cursor": "2026-01-01T00:00:00|1"}, "cursor"),
    ({"cursor": "2026-01-01T00:00:00+00:00|99999999999999999999999"}, "cursor"),
    ({"limit": "0"}, "limit"),
    ({"from": "0001-01-01T00:00:00+00:00"}, "from"),
    ({"from": "2026-01-02T00:00:00+00:00", "to": "2026-01-01T00:00:00+00:00"}, "to"),
    ({"call_id": "not-a-uuid"}, "call_id"),
    ({"format": "xml"}, "format"),
])
async def test_bad_audit_queries_are_refused_naming_the_field(
    service: Service, params: dict[str, str], field: str
) -> None:
    r = await service.client.get("/v1/audit", params=params, headers=service.auth(Role.AUDITOR))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field


async def test_the_audit_log_refuses_update_delete_and_truncate(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    call_id = await _new_call(service)
    await service.client.get(f"/v1/calls/{call_id}", headers=service.auth())
    # as the service connects: the owner of the table, whom no REVOKE binds
    conn = await asyncpg.connect(DATABASE_URL, server_settings={
        "search_path": service.settings.db_schema})
    try:
        before = await conn.fetchval("SELECT count(*) FROM audit_log")
        assert before >= 2
        for statement in ("UPDATE audit_log SET actor = 'someone else'",
                          "DELETE FROM audit_log",
                          "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == before
        assert await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE actor = 'someone else'") == 0
        # and roles other than the owner hold no UPDATE or DELETE at all
        assert not await conn.fetchval(
            "SELECT has_table_privilege('public', 'audit_log', 'UPDATE, DELETE, TRUNCATE')")
        await conn.execute("INSERT INTO audit_log (actor, role, action) "
                           "VALUES ('t', 'admin', 'append')")  # appending still works
    finally:
        await conn.close()
