"""A plain status report (the vehicle's mission, no repeat, nothing queued to take) is
applied in one statement; any other is judged in a transaction. Both leave the same
record: the same mission played through each path, on the same clock, stores the same
events, audit rows, call statuses, call_clocks, report answers and receiving-centre
frames, and answers the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

import dispatch.flows.fleet as fleet_flow
from dispatch.db.statements import counting_statements
from dispatch.domain import Role
from tests.conftest import DATABASE_URL, REDIS_URL, Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.waiting import eventually

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
NEAR = (CENTRE[0] + 0.01, CENTRE[1])
# the mission's statuses, each with a report id, and whether it names its call
MISSION = [("en_route", True), ("on_scene", False), ("transporting", True),
           ("available", True)]


@contextmanager
def _judged_only() -> Iterator[None]:
    """Every report takes the judged path (a transaction), none the one statement."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fleet_flow, "_AT_ONCE", frozenset())
        yield


async def _rows(service: Service, query: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'SET search_path TO "{service.settings.db_schema}"')
        return [dict(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


async def _frames(service: Service, hospital_id: str) -> list[bytes]:
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        key = f"{service.settings.redis_prefix}:stream:hospital:{hospital_id}"
        return [fields[b"d"] for _, fields in await redis.xrange(key)]
    finally:
        await redis.aclose()


def _same_ids(value: Any, ids: dict[str, str]) -> Any:
    """`value` with the run's call ids named by their order of creation."""
    text = str(value)
    for real, name in ids.items():
        text = text.replace(real, name)
    return text


async def _play(base: datetime, *, judged: bool) -> tuple[list[Any], Any, int]:
    """The mission on a fresh service on a clock starting at `base`: the answers, the
    stored record (ids named), and the statements the reports sent."""
    now = [base]
    async with running_service(clock=lambda: now[0]) as service:
        await service.load(city(vehicles=[("A1", "als", *NEAR)]))
        r = await service.client.post(
            "/v1/calls", headers=service.auth(),
            json=call_body(*CENTRE, answers=CHEST_PAIN, number="13800000001", now=base))
        assert r.status_code == 201, r.text
        call = r.json()
        assert call["status"] == "assigned"
        answers: list[Any] = []
        with counting_statements() as count:
            for i, (status, named) in enumerate(MISSION):
                now[0] = base + timedelta(minutes=i + 1)
                body: dict[str, Any] = {"status": status, "at": now[0].isoformat(),
                                        "report_id": f"tab-{i}"}
                if named:
                    body["call_id"] = call["id"]
                if judged:
                    with _judged_only():
                        r = await _status(service, body)
                else:
                    r = await _status(service, body)
                answers.append((r.status_code, r.json()))
        ids = {call["id"]: "call-1"}
        hospital = call.get("destination_id") or (call.get("destination") or {}).get("id")
        assert hospital, call
        # the receiving centre's frames leave through the outbox after the commit
        frames = await eventually(lambda: _frames_when(service, hospital, len(MISSION)),
                                  what="the receiving centre's crew_status frames")
        record = {
            "events": await _rows(service, """
                SELECT kind, vehicle_id, occurred_at, data FROM events ORDER BY id"""),
            "audit": await _rows(service, """
                SELECT actor, role, action, call_id, vehicle_id, hospital_id, detail
                  FROM audit_log WHERE action IN ('unassign', 'assign') ORDER BY id"""),
            "calls": await _rows(service, "SELECT id, status FROM calls"),
            "clocks": await _rows(service, "SELECT * FROM call_clocks"),
            "vehicles": await _rows(service, """
                SELECT id, status, call_id, status_at FROM vehicles"""),
            "assignments": await _rows(service, """
                SELECT vehicle_id, call_id, assigned_at, released_at FROM assignments"""),
            "reports": await _rows(service, """
                SELECT vehicle_id, report_id, fingerprint, result FROM status_reports
                 ORDER BY report_id"""),
            "frames": frames,
        }
        return ([(code, _same_ids(a, ids)) for code, a in answers], _same_ids(record, ids),
                count.n)


async def _frames_when(service: Service, hospital: str, n: int) -> list[bytes] | None:
    frames = await _frames(service, hospital)
    crew = [f for f in frames if b'"crew_status"' in f]
    return frames if len(crew) >= n else None


async def _status(service: Service, body: dict[str, Any]) -> Any:
    return await service.client.post("/v1/vehicles/A1/status", json=body,
                                     headers=service.auth(Role.CREW, vehicle_id="A1"))


async def test_one_statement_and_judged_reports_leave_the_same_record() -> None:
    base = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    judged_answers, judged, judged_n = await _play(base, judged=True)
    plain_answers, plain, plain_n = await _play(base, judged=False)
    assert plain_answers == judged_answers
    assert all(code == 200 for code, _ in plain_answers), plain_answers
    assert plain == judged
    # four reports: one statement each and the clearing's look at the queue
    assert plain_n <= len(MISSION) + 1 < judged_n, (plain_n, judged_n)
