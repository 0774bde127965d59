"""A crew's clearing, and the queue drain it triggers, cost one transaction of few
statements: counted on the connection the report is given (every step of it runs there).

The bounds are statement counts, not times: each is what the clearing needs (lock and
facts, the release with its event, audit, close and queue head, the claim, the receiving
centre's news, the commit) and fails when a round trip creeps back in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from dispatch.app import open_services
from dispatch.auth import Principal
from dispatch.domain import Role, VehicleStatus
from dispatch.flows.fleet import report_status
from dispatch.runtime import Runtime
from tests.conftest import Service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

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
            yield rt, conn, sent


async def _clear(rt: Runtime, conn: asyncpg.Connection) -> dict[str, Any]:
    now = datetime.now(UTC)
    return await report_status(rt=rt, vehicle_id="A1", status=VehicleStatus.AVAILABLE,
                               at=now, principal=CREW, now=now, report_id="tab-1",
                               conn=conn)


def _transactions(sent: list[str]) -> int:
    return sum(1 for q in sent if q.upper().startswith("BEGIN"))


async def test_a_clearing_with_an_empty_queue_is_one_short_transaction(
        service: Service) -> None:
    await service.load(city(vehicles=[("A1", "als", *NEAR)]))
    call = await _call(service, "13800000001")
    assert call["status"] == "assigned"
    async with _logged(service) as (rt, conn, sent):
        result = await _clear(rt, conn)
    assert result["call_id"] == call["id"]
    assert (await _vehicle(service, "A1"))["status"] == "available"
    # begin, lock and facts, release (event, audit, close, report id, queue head), the
    # receiving centre's news (call, outbox, notify), commit; a look at the queue after
    assert _transactions(sent) == 1, sent
    assert len(sent) <= 8, "\n".join(q[:90] for q in sent)


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
    # as above, with the queued call's lock and its claim (claim, status, event, audit)
    # in the same transaction, and the mission's view read after it
    assert _transactions(sent) == 1, sent
    assert len(sent) <= 13, "\n".join(q[:90] for q in sent)
