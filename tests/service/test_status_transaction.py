"""A crew's status report costs few statements (counted on the connection the report is
given: every step of it runs there): a plain one (its mission, no repeat, nothing queued
to take) is one statement, its own transaction; a clearing that takes a queued call is
one transaction. Both keep the lock order: the call, then the vehicle.

The bounds are statement counts, not times: each is what the report needs and fails
when a round trip creeps back in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.app import open_services
from dispatch.auth import Principal
from dispatch.domain import Role, VehicleStatus
from dispatch.flows.fleet import report_status
from dispatch.runtime import Runtime
from tests.conftest import DATABASE_URL, Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.waiting import waiting_for_lock

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
NEAR = (CENTRE[0] + 0.01, CENTRE[1])
# asyncpg's lookup of a type a connection meets for the first time (once per connection)
ASYNCPG_TYPE_LOOKUP = ("SELECT current_setting('jit')", "WITH RECURSIVE typeinfo_tree",
                       "SELECT set_config('jit'")
CREW = Principal(subject="crew-A1", role=Role.CREW, vehicle_id="A1")


async def _call(service: Service, number: str) -> dict[str, Any]:
    r = await service.client.post("/v1/calls", headers=service.auth(),
                                  json=call_body(*CENTRE, answers=CHEST_PAIN, number=number))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _vehicle(service: Service, vehicle: str) -> dict[str, Any]:
    r = await service.client.get(f"/v1/vehicles/{vehicle}", headers=service.auth())
    return dict(r.json())


@asynccontextmanager
async def _logged(service: Service) -> AsyncIterator[tuple[Runtime, asyncpg.Connection,
                                                             list[str]]]:
    """An instance on the service's schema and a connection of its pool that logs every
    statement sent on it."""
    async with open_services(service.settings) as state:
        rt = state["runtime"]
        async with rt.pool.acquire() as conn:
            sent: list[str] = []

            def log(q: asyncpg.connection.LoggedQuery) -> None:
                text = " ".join(q.query.split())
                if not text.startswith(ASYNCPG_TYPE_LOOKUP):
                    sent.append(text)

            conn.add_query_logger(log)
            try:
                yield rt, conn, sent
            finally:
                # back in the pool it serves others (the outbox's publisher, woken by
                # the report's commit): their statements are not the report's
                conn.remove_query_logger(log)


async def _clear(rt: Runtime, conn: asyncpg.Connection,
                 status: VehicleStatus = VehicleStatus.AVAILABLE) -> dict[str, Any]:
    now = datetime.now(UTC)
    return await report_status(rt=rt, vehicle_id="A1", status=status, at=now,
                               principal=CREW, now=now, report_id="tab-1", conn=conn)


def _transactions(sent: list[str]) -> int:
    return sum(1 for q in sent if q.upper().startswith("BEGIN"))


async def test_a_clearing_with_an_empty_queue_is_one_statement(
        service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    call = await _call(service, "13800000001")
    assert call["status"] == "assigned"
    async with _logged(service) as (rt, conn, sent):
        result = await _clear(rt, conn)
    assert result["call_id"] == call["id"]
    assert (await _vehicle(service, "A1"))["status"] == "available"
    # one statement locks, judges and writes the release, its event, audit, close,
    # report id and the receiving centre's news (outbox, notify), having found the
    # queue empty; a look at the queue after the vehicle is indexed
    assert _transactions(sent) == 0, sent
    assert len(sent) <= 2, "\n".join(q[:90] for q in sent)


async def test_a_clearing_that_takes_a_queued_call_is_one_short_transaction(
        service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    first = await _call(service, "13800000001")
    second = await _call(service, "13800000002")
    assert (first["status"], second["status"]) == ("assigned", "queued")
    async with _logged(service) as (rt, conn, sent):
        result = await _clear(rt, conn)
    assert result["call_id"] == first["id"]
    assert (await _vehicle(service, "A1"))["call_id"] == second["id"]
    # the one statement finds a queued call and writes nothing; then a transaction:
    # begin, lock and facts, release (event, audit, close, report id, the receiving
    # centre's news, queue head), the queued call's lock with its claim (vehicle,
    # assignment, call status, event, audit), commit; the mission's view read after it
    assert _transactions(sent) == 1, sent
    assert len(sent) <= 7, "\n".join(q[:90] for q in sent)


async def test_a_clock_status_is_one_statement(service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    call = await _call(service, "13800000001")
    async with _logged(service) as (rt, conn, sent):
        result = await _clear(rt, conn, VehicleStatus.EN_ROUTE)
    assert result["call_id"] == call["id"]
    assert (await _vehicle(service, "A1"))["status"] == "en_route"
    # lock and facts, the stamp (call active, vehicle status, clock, report id) and the
    # receiving centre's news (outbox, notify) in one statement
    assert _transactions(sent) == 0, sent
    assert len(sent) <= 1, "\n".join(q[:90] for q in sent)


@asynccontextmanager
async def _holding_the_call(service: Service, call_id: str
                            ) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    """A transaction on the service's schema holding the call's row lock, and an
    observer connection (for waiting_for_lock); the transaction commits on exit."""
    holder = await asyncpg.connect(DATABASE_URL)
    observer = await asyncpg.connect(DATABASE_URL)
    try:
        await holder.execute(f'SET search_path TO "{service.settings.db_schema}"')
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM calls WHERE id = $1 FOR UPDATE",
                                 UUID(call_id))
            yield holder, observer
    finally:
        await holder.close()
        await observer.close()


def _report(service: Service, **body: Any) -> asyncio.Task[Any]:
    return asyncio.create_task(service.client.post(
        "/v1/vehicles/A1/status", json=body, headers=service.auth(Role.CREW, vehicle_id="A1")))


async def test_a_clearing_takes_the_call_lock_before_the_vehicle(service: Service) -> None:
    """A dispatcher's cancel or override holds the call and then waits for the vehicle:
    a clearing arriving meanwhile waits on the call without holding the vehicle, so the
    holder gets the vehicle (no deadlock) and the clearing applies after it."""
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    call = await _call(service, "13800000001")
    async with _holding_the_call(service, call["id"]) as (holder, observer):
        clearing = _report(service, status="available")
        await waiting_for_lock(observer, statement="WITH seen AS")
        # the vehicle is free to lock: the clearing did not take it first
        held = await holder.fetchval(
            "SELECT status FROM vehicles WHERE id = 'A1' FOR UPDATE NOWAIT")
        assert held == "dispatched"
    r = await clearing
    assert r.status_code == 200, r.text
    assert r.json()["call_id"] == call["id"]
    assert (await _vehicle(service, "A1"))["status"] == "available"


async def test_a_report_waiting_on_the_same_report_is_judged_after_it(
        service: Service) -> None:
    """The same report through two instances at once: the second waits for the first's
    locks, then sees what the first wrote (the facts are read again once the lock is
    held) and answers as a repeat, not with a second departure."""
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    call = await _call(service, "13800000001")
    at = datetime.now(UTC)
    async with _holding_the_call(service, call["id"]) as (first, observer):
        # the first delivery, as report_status writes it, not yet committed
        await first.execute("UPDATE vehicles SET status = 'en_route', status_at = $1"
                            " WHERE id = 'A1'", at)
        await first.execute(
            "INSERT INTO events (call_id, vehicle_id, kind, occurred_at, data)"
            " VALUES ($1, 'A1', 'departed', $2, '{\"status\": \"en_route\"}')",
            UUID(call["id"]), at)
        second = _report(service, status="en_route", at=at.isoformat())
        await waiting_for_lock(observer, statement="WITH seen AS")
    r = await second
    assert r.status_code == 200, r.text
    assert r.json() == {"vehicle_id": "A1", "status": "en_route", "call_id": call["id"]}
    r = await service.client.get(f"/v1/calls/{call['id']}", headers=service.auth())
    assert [e["kind"] for e in r.json()["timeline"]].count("departed") == 1


async def _a2_joins(conn: asyncpg.Connection, call_id: UUID, status: str) -> None:
    """Vehicle A2 on the call too: its row and a live assignment."""
    await conn.execute("UPDATE vehicles SET status = $2, call_id = $1 WHERE id = 'A2'",
                       call_id, status)
    await conn.execute("INSERT INTO assignments (call_id, vehicle_id, assigned_at, assigned_by)"
                       " VALUES ($1, 'A2', now(), 'test')", call_id)


async def _after_a_waiting_clearing(
        service: Service, call_id: UUID,
        meanwhile: Callable[[asyncpg.Connection], Awaitable[None]]) -> str:
    """The call's status after A1's clearing waited on the call's lock while the holder
    wrote `meanwhile` (committed once the clearing waits)."""
    async with _holding_the_call(service, str(call_id)) as (holder, observer):
        await meanwhile(holder)
        clearing = _report(service, status="available", call_id=str(call_id))
        await waiting_for_lock(observer, statement="WITH seen AS")
    r = await clearing
    assert r.status_code == 200, r.text
    r = await service.client.get(f"/v1/calls/{call_id}", headers=service.auth())
    return str(r.json()["status"])


async def _two_vehicles(service: Service) -> UUID:
    """A1 on a call, A2 free far away."""
    far = (CENTRE[0] + 0.08, CENTRE[1])
    await service.load(city(vehicles=[("A1", "als", *NEAR), ("A2", "als", *far)]))
    return UUID((await _call(service, "13800000001"))["id"])


async def test_a_clearing_that_waited_on_its_call_sees_the_other_vehicle_cleared(
        service: Service) -> None:
    """Two vehicles on one call clear at once: the second waits on the call's lock while
    the first's clearing commits, then must see that clearing (its snapshot predates
    it) and close the call, the last vehicle on it, rather than leave it open empty."""
    call_id = await _two_vehicles(service)
    # A2 on the same call (committed before the clearing starts) ...
    setup = await asyncpg.connect(DATABASE_URL)
    try:
        await setup.execute(f'SET search_path TO "{service.settings.db_schema}"')
        await _a2_joins(setup, call_id, "on_scene")
    finally:
        await setup.close()

    async def a2_clears(holder: asyncpg.Connection) -> None:
        await holder.execute("UPDATE assignments SET released_at = now()"
                             " WHERE vehicle_id = 'A2' AND released_at IS NULL")
        await holder.execute("UPDATE vehicles SET status = 'available', call_id = NULL"
                             " WHERE id = 'A2'")

    assert await _after_a_waiting_clearing(service, call_id, a2_clears) == "closed"


async def test_a_clearing_that_waited_on_its_call_sees_a_vehicle_added_to_it(
        service: Service) -> None:
    """A dispatcher adds a second vehicle to the call while the crew's clearing waits on
    the call's lock: the clearing sees it (its snapshot predates it) and leaves the call
    open for that vehicle."""
    call_id = await _two_vehicles(service)

    async def a2_is_added(holder: asyncpg.Connection) -> None:
        # the second vehicle's claim, as dispatch.flows.claim.claim_first writes it
        await _a2_joins(holder, call_id, "dispatched")
        await holder.execute("UPDATE calls SET status = 'active', updated_at = now()"
                             " WHERE id = $1", call_id)

    assert await _after_a_waiting_clearing(service, call_id, a2_is_added) == "active"
