"""What an intake stores, compared with a golden record made before the intake was rewritten.

A fixed set of calls goes through the public API: claimed, with a specialist pathway,
with a held AML report, queued for lack of a vehicle, out of area, without a fix, booked
for later, an Idempotency-Key replay and a same-key race. The stored result (the call rows, fixes,
timeline, assignments, audit rows, the `call_clocks` cache, booked trips, the centres'
handovers and the indicators) is normalised (times relative to each call's receipt, ids by
order of appearance) and compared with tests/service/intake_golden.json.

DISPATCH_WRITE_GOLDEN=1 rewrites the golden file from the code under test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.db.statements import counting_statements
from dispatch.domain import Role
from dispatch.metrics.clock_folder import fold_pending
from tests.conftest import DATABASE_URL, Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.service.test_bookings import booking

GOLDEN = Path(__file__).with_name("intake_golden.json")


def _last_local_midday() -> datetime:
    """The latest 13:00 in the centre's zone (UTC+8) not after now: travel times depend
    on the hour (dispatch.geo.eta's bands), so the record is taken at one hour of day,
    whenever the test runs; within a day of now, as the service's other clocks expect."""
    now = datetime.now(UTC).replace(microsecond=0)
    midday = now.replace(hour=5, minute=0, second=0)  # 13:00 at UTC+8
    return midday if midday <= now else midday - timedelta(days=1)


# each call is received at its own time: the queue's order must not hang on random ids
T0 = _last_local_midday()
CX, CY = CENTRE
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
LOCAL_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
FIX_LISTS = ("used", "rejected", "superseded")
# Statements each claimed intake sends, at most: "claimed" loads the places (3) first,
# "aml" attaches a held report in a transaction (begin, commit). An intake: the
# Idempotency-Key, held reports and fix ids in one read, the candidates' rows, then one
# statement that claims and writes it all, a pathway call's centre alert included.
STATEMENT_BOUNDS = {"claimed": 6, "pathway": 3, "aml": 5}


def ago(seconds: int) -> datetime:
    return T0 - timedelta(seconds=seconds)


class Normaliser:
    """Ids by order of first appearance; times in seconds from a reference instant."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def name(self, value: str) -> str:
        return self.ids.setdefault(value, f"id{len(self.ids)}")

    def __call__(self, value: Any, ref: datetime, fixes: dict[int, int] | None = None) -> Any:
        if isinstance(value, asyncpg.Record):
            value = dict(value)
        if isinstance(value, dict):
            return {k: (sorted(fixes.get(i, -1) for i in v)
                        if k in FIX_LISTS and fixes is not None and isinstance(v, list)
                        else self(v, ref, fixes))
                    for k, v in sorted(value.items())}
        if isinstance(value, list | tuple):
            return [self(v, ref, fixes) for v in value]
        if isinstance(value, UUID):
            return self.name(str(value))
        if isinstance(value, datetime):
            return round((value - ref).total_seconds(), 3)
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, str):
            if ISO.fullmatch(value):
                return self(datetime.fromisoformat(value), ref, fixes)
            if ISO.search(value):  # a time quoted in a text
                return ISO.sub(lambda m: f"<{self(datetime.fromisoformat(m[0]), ref)}s>",
                               value)
            if LOCAL_MINUTE.search(value):  # a time as people read it, in the centre's zone
                return LOCAL_MINUTE.sub("<local time>", value)
            try:
                return self.name(str(UUID(value)))
            except ValueError:
                return value
        return value


async def _intakes(
    service: Service,
) -> tuple[dict[str, Any], list[str], dict[str, int], dict[str, Any]]:
    """Post the fixed set of calls; return their ids by name, the replies' status
    codes, the statements each claimed intake sent and the replies' bodies."""
    post = service.client.post
    ids: dict[str, Any] = {}
    codes: list[str] = []
    claimed_statements: dict[str, int] = {}
    replies: dict[str, Any] = {}

    async def intake(name: str, body: dict[str, Any], key: str | None = None) -> Any:
        headers = service.auth() | ({"Idempotency-Key": key} if key else {})
        with counting_statements() as count:
            r = await post("/v1/calls", json=body, headers=headers)
        assert r.status_code in (200, 201), r.text
        codes.append(f"{name}:{r.status_code}:{r.json()['status']}")
        ids[name] = r.json()["id"]
        replies[name] = r.json()
        if r.status_code == 201 and r.json()["status"] == "assigned":
            claimed_statements[name] = count.n
        return r.json()

    await intake("claimed", call_body(CX + 0.002, CY, number="13800000001", now=ago(20)),
                 key="golden-0001")
    await intake("replayed", call_body(CX + 0.002, CY, number="13800000001", now=ago(20)),
                 key="golden-0001")
    await intake("pathway", call_body(
        CX - 0.01, CY + 0.005, number="13800000002", now=ago(18),
        answers={"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}))
    fields = {
        "v": "3", "device_number": "+8613700000003", "emergency_number": "120",
        "location_latitude": f"{CY - 0.015}", "location_longitude": f"{CX + 0.01}",
        "location_accuracy": "15", "location_source": "gps",
        "location_time": str(int(T0.timestamp() * 1000)),
    }
    r = await post("/v1/aml", json={"fields": fields}, headers=service.auth(Role.GATEWAY))
    assert r.status_code == 202 and r.json()["held"] is True, r.text
    await intake("aml", call_body(CX + 0.03, CY, accuracy_m=3000, source="cell",
                                  number="13700000003", now=ago(16)))
    await intake("queued", call_body(CX, CY + 0.01, number="13800000004", now=ago(14)))
    await intake("out_of_area", call_body(CX + 0.3, CY, number="13800000005", now=ago(12)))
    unlocated = call_body(CX, CY, number="13800000008", now=ago(11))
    await intake("unlocated", unlocated | {"fixes": []})
    booked = booking(T0 + timedelta(days=1), number="13500000006")
    booked |= {k: v for k, v in call_body(*CENTRE, now=ago(10)).items()
               if k in ("received_at", "answered_at", "fixes")}
    await intake("booked", booked)
    race = call_body(CX, CY - 0.01, number="13800000007", now=ago(8))
    headers = service.auth() | {"Idempotency-Key": "golden-0007"}
    answers = await asyncio.gather(*[post("/v1/calls", json=race, headers=headers)
                                     for _ in range(3)])
    assert len({a.json()["id"] for a in answers}) == 1
    codes.append(f"race:{sorted(a.status_code for a in answers)}")
    ids["race"] = answers[0].json()["id"]
    return ids, codes, claimed_statements, replies


async def _stored(
    service: Service, ids: dict[str, Any], codes: list[str], replies: dict[str, Any],
) -> dict[str, Any]:
    norm = Normaliser()
    for name in ids:
        norm.name(ids[name])
    schema = service.settings.db_schema
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads,
                                  schema="pg_catalog")
    try:
        await fold_pending(conn)  # call_clocks is folded after the writes (migration 0024)
        out: dict[str, Any] = {"replies": codes, "calls": {}}
        for name, call_id in ids.items():
            if name == "replayed":
                assert call_id == ids["claimed"]
                continue
            cid = UUID(call_id)
            call = dict(await conn.fetchrow("SELECT * FROM calls WHERE id = $1", cid))
            ref = call["received_at"]
            fixes = await conn.fetch("SELECT * FROM fixes WHERE call_id = $1 ORDER BY id", cid)
            order = {f["id"]: i for i, f in enumerate(fixes)}
            for volatile in ("created_at", "updated_at", "request_fingerprint"):
                call[volatile] = call[volatile] is not None
            events = await conn.fetch(
                """SELECT kind, vehicle_id, occurred_at, data FROM events
                    WHERE call_id = $1 ORDER BY occurred_at, kind, vehicle_id""", cid)
            out["calls"][name] = norm({
                "call": call,
                "fixes": [{k: v for k, v in f.items() if k not in ("id", "received_at")}
                          for f in map(dict, fixes)],
                "events": events,
                "assignments": await conn.fetch(
                    """SELECT vehicle_id, assigned_at, released_at, eta_s, distance_m,
                              reason, assigned_by FROM assignments
                        WHERE call_id = $1 ORDER BY assigned_at, vehicle_id""", cid),
                "audit": await conn.fetch(
                    """SELECT actor, role, action, vehicle_id, hospital_id, detail
                         FROM audit_log WHERE call_id = $1 ORDER BY id""", cid),
                "call_clocks": await conn.fetch(
                    "SELECT * FROM call_clocks WHERE call_id = $1", cid),
                "call_vehicle_clocks": await conn.fetch(
                    "SELECT * FROM call_vehicle_clocks WHERE call_id = $1 ORDER BY vehicle_id",
                    cid),
                "booked_trips": await conn.fetch(
                    "SELECT status, plan FROM booked_trips WHERE call_id = $1", cid),
                "handovers": await conn.fetch(
                    """SELECT hospital_id, phase, state FROM handovers
                        WHERE call_id = $1 ORDER BY hospital_id""", cid),
            }, ref, order)
        for body in replies.values():  # the server's clock, not the request's
            for fix in body["fixes"]:
                del fix["received_at"]
        out["replies_bodies"] = {
            name: {k: v for k, v in norm(body, T0).items()
                   if k not in ("created_at", "updated_at")}
            for name, body in replies.items()}
        out["vehicles"] = norm(await conn.fetch(
            """SELECT id, status, call_id, CASE WHEN call_id IS NOT NULL THEN status_at END
                 FROM vehicles ORDER BY id"""), T0)
    finally:
        await conn.close()
    r = await service.client.get("/v1/indicators", headers=service.auth(), params={
        "from": (T0 - timedelta(hours=1)).isoformat(),
        "to": (T0 + timedelta(hours=1)).isoformat()})
    assert r.status_code == 200, r.text
    out["indicators"] = norm(r.json(), T0)
    return json.loads(json.dumps(out, default=str))


async def test_intake_stores_what_it_stored_before() -> None:
    async with running_service(clock=lambda: T0) as service:
        await service.load(city(vehicles=[("A1", "als", CX + 0.01, CY),
                                          ("A2", "als", CX - 0.02, CY + 0.01),
                                          ("A3", "als", CX, CY - 0.03),
                                          ("N1", "net", CX + 0.05, CY)]))
        ids, codes, claimed_statements, replies = await _intakes(service)
        stored = await _stored(service, ids, codes, replies)
    if os.environ.get("DISPATCH_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    assert stored == json.loads(GOLDEN.read_text())
    assert claimed_statements.keys() == STATEMENT_BOUNDS.keys()
    assert all(claimed_statements[k] <= n for k, n in STATEMENT_BOUNDS.items()), \
        claimed_statements
