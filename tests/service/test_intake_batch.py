"""Group commit of intakes (settings intake_batch_ms): calls taken together are committed
together, each still gets its own row, claims and errors stay each call's own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import DATABASE_URL, Service, drop_isolation, isolated_settings
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

# long enough that calls sent together on a busy test machine meet in one window
WINDOW_MS = 50.0


@asynccontextmanager
async def _service(**overrides: Any) -> AsyncIterator[tuple[Service, dict[str, Any]]]:
    """A service with its lifespan state (the instance's intake writer)."""
    from asgi_lifespan import LifespanManager

    from dispatch.app import create_app

    settings = isolated_settings(**overrides)
    manager = LifespanManager(create_app(settings), startup_timeout=60, shutdown_timeout=60)
    try:
        async with manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as c:
                yield Service(settings=settings, client=c, app=manager.app), manager._state
    finally:
        await drop_isolation(settings)


@asynccontextmanager
async def _logged_batches(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Service]:
    """A batching service with a fleet, its batches' refusals logged to `caplog`."""
    caplog.set_level(logging.INFO, logger="dispatch.flows.intake_batch")
    async with _service(intake_batch_ms=WINDOW_MS) as (service, _):
        await service.load(city(n_vehicles=10, seed=3))
        yield service


async def _transactions(service: Service) -> dict[str, int]:
    """Each stored call's intake transaction (the xmin of its `call_received` event, a row
    never updated): calls committed together share one."""
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        rows = await conn.fetch(
            f'''SELECT call_id::text AS id, xmin::text::bigint AS tx
                  FROM "{service.settings.db_schema}".events WHERE kind = 'call_received' ''')
    finally:
        await conn.close()
    return {r["id"]: r["tx"] for r in rows}


async def _take(service: Service, n: int, *, key: str | None = None,
                numbers: list[str] | None = None) -> list[httpx.Response]:
    headers = {**service.auth(), **({"Idempotency-Key": key} if key else {})}
    return list(await asyncio.gather(*[
        service.client.post("/v1/calls", headers=headers, json=call_body(
            CENTRE[0] + 0.001 * i, CENTRE[1], number=(numbers or [])[i] if numbers
            else f"1381111{i:04d}"))
        for i in range(n)]))


async def test_calls_taken_together_are_committed_together() -> None:
    async with _service(intake_batch_ms=WINDOW_MS) as (service, state):
        await service.load(city(n_vehicles=10, seed=3))
        answers = await _take(service, 6)
        assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
        # each answer is its own call, with its own vehicle
        assert len({a.json()["id"] for a in answers}) == 6
        vehicles = [a.json()["assignments"][0]["vehicle_id"] for a in answers]
        assert len(set(vehicles)) == 6
        tx = await _transactions(service)
        assert set(tx) == {a.json()["id"] for a in answers}
        assert len(set(tx.values())) < 6  # some calls shared a commit
        batcher = state["runtime"].intakes
        assert batcher.intakes == 6 and batcher.transactions == len(set(tx.values()))


async def test_two_calls_of_one_batch_never_claim_one_vehicle() -> None:
    async with _service(intake_batch_ms=WINDOW_MS) as (service, _):
        await service.load(city(n_vehicles=1, seed=3))
        answers = await _take(service, 2)
        assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
        tx = await _transactions(service)
        assert len(set(tx.values())) == 1  # one transaction: the later saw the earlier claim
        assert sorted(a.json()["status"] for a in answers) == ["assigned", "queued"]
        conn = await asyncpg.connect(DATABASE_URL)
        try:
            live = await conn.fetchval(
                f'''SELECT count(*) FROM "{service.settings.db_schema}".assignments
                     WHERE released_at IS NULL''')
        finally:
            await conn.close()
        assert live == 1


async def test_a_key_replayed_inside_a_batch_returns_the_first_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with _logged_batches(caplog) as service:
        body = call_body(*CENTRE, number="13822220000")
        keyed = {**service.auth(), "Idempotency-Key": "batch-key-1"}
        answers = await asyncio.gather(
            service.client.post("/v1/calls", headers=keyed, json=body),
            service.client.post("/v1/calls", headers=keyed, json=body),
            service.client.post("/v1/calls", headers=service.auth(),
                                json=call_body(CENTRE[0] + 0.01, CENTRE[1],
                                               number="13822220001")))
        first, again, other = answers
        assert sorted([first.status_code, again.status_code]) == [200, 201], \
            [a.text for a in answers]
        assert first.json()["id"] == again.json()["id"]
        assert other.status_code == 201, other.text
        assert "refused" in caplog.text  # the batch met the key, rolled back, went alone
        tx = await _transactions(service)
        assert set(tx) == {first.json()["id"], other.json()["id"]}


async def test_one_refused_call_in_a_batch_does_not_fail_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with _logged_batches(caplog) as service:
        keyed = {**service.auth(), "Idempotency-Key": "batch-key-2"}
        answers = await asyncio.gather(
            service.client.post("/v1/calls", headers=keyed,
                                json=call_body(*CENTRE, number="13833330000")),
            # the same key with another body: refused once the first holds the key
            service.client.post("/v1/calls", headers=keyed,
                                json=call_body(*CENTRE, number="13833339999")),
            *[service.client.post("/v1/calls", headers=service.auth(), json=call_body(
                CENTRE[0] + 0.001 * i, CENTRE[1], number=f"1383333{i:04d}"))
              for i in range(1, 4)])
        codes = [a.status_code for a in answers]
        assert sorted(codes[:2]) == [201, 422], [a.text for a in answers]
        assert codes[2:] == [201] * 3, [a.text for a in answers]
        refused = answers[codes.index(422)].json()
        assert refused["detail"][0]["field"] == "Idempotency-Key"
        assert "refused" in caplog.text  # in one batch with the others, rolled back
        tx = await _transactions(service)
        assert set(tx) == {a.json()["id"] for a in answers if a.status_code == 201}


async def test_stopping_writes_the_calls_pending() -> None:
    async with _service(intake_batch_ms=WINDOW_MS) as (service, state):
        await service.load(city(n_vehicles=10, seed=3))
        batcher = state["runtime"].intakes
        sent = asyncio.gather(*[
            service.client.post("/v1/calls", headers=service.auth(), json=call_body(
                CENTRE[0] + 0.001 * i, CENTRE[1], number=f"1384444{i:04d}"))
            for i in range(4)])
        while batcher.pending == 0:
            await asyncio.sleep(0.001)
        await batcher.stop()  # as the lifespan does on shutdown: pending ones are written
        answers = await sent
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        assert set(await _transactions(service)) == {a.json()["id"] for a in answers}
        # and a call taken after that is written on its own
        [late] = await _take(service, 1, numbers=["13844449999"])
        assert late.status_code == 201, late.text


async def test_batching_off_commits_each_call_alone() -> None:
    async with _service(intake_batch_ms=0) as (service, state):
        assert state["runtime"].intakes is None
        await service.load(city(n_vehicles=10, seed=3))
        answers = await _take(service, 4)
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        assert len(set((await _transactions(service)).values())) == 4
