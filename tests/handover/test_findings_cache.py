"""The per-call findings cache of HandoverService against the real PostgreSQL.

Whatever the cache holds, a re-triage must see merge_findings of every stored frame of the
call: frames another instance stored, a tablet's buffered frame measured earlier, and
after a restart (a new service with an empty cache).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.db.pool import create_pool
from dispatch.domain import Role
from dispatch.handover import repo
from dispatch.handover.findings import merge_findings
from dispatch.handover.service import HandoverConfig, HandoverService
from dispatch.triage import Findings
from tests.conftest import DATABASE_URL, running_service
from tests.handover.wsclient import CHEST_PAIN
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

T0 = datetime.now(UTC).replace(microsecond=0)


def instance(pool: asyncpg.Pool) -> HandoverService:
    # Only the frame writer and the findings check are used: no bus, runtime, outbox.
    return HandoverService(pool=pool, bus=None, runtime=None,  # type: ignore[arg-type]
                           outbox=None, config=HandoverConfig())  # type: ignore[arg-type]


async def store(service: HandoverService, vehicle: str, call_id: UUID, msg_id: str,
                at: datetime, **values: Any) -> None:
    body = {"type": "vitals", "msg_id": msg_id, "call_id": str(call_id), "at": at.isoformat(),
            **values}
    [stored] = await service._write_frames([repo.CrewRow(
        vehicle_id=vehicle, msg_id=msg_id, call_id=call_id, kind="vitals", occurred_at=at,
        body=body)])
    assert stored.created


async def checked(service: HandoverService, pool: asyncpg.Pool, call_id: UUID) -> Findings:
    """The service's findings, held to merge_findings of every stored frame."""
    async with pool.acquire() as conn:
        [inputs] = await repo.retriage_inputs(conn=conn, call_ids=[call_id])
        assert inputs is not None
        frames = await repo.finding_frames(conn=conn, call_id=call_id)
        assert inputs.stored_frames == (len(frames), max(row_id for _, row_id, _ in frames))
        found = await service._findings(call_id, inputs.stored_frames)
        reference = merge_findings(await repo.findings_of(conn=conn, call_id=call_id))
    assert found == reference
    assert found is not None
    return found


async def test_cached_findings_follow_every_stored_frame() -> None:
    async with running_service() as svc:
        await svc.load(city(n_vehicles=2, seed=3))
        r = await svc.client.post("/v1/calls", headers=svc.auth(Role.DISPATCHER),
                                  json=call_body(CENTRE[0], CENTRE[1], answers=CHEST_PAIN))
        assert r.status_code == 201, r.text
        call_id = UUID(r.json()["id"])
        vehicle = r.json()["assignments"][0]["vehicle_id"]
        pool = await create_pool(dsn=DATABASE_URL, schema=svc.settings.db_schema, min_size=1,
                                 max_size=4, command_timeout_s=10)
        a, b = instance(pool), instance(pool)
        try:
            await store(a, vehicle, call_id, "v1", T0, hr=80, spo2=97)
            assert (await checked(a, pool, call_id)).hr == 80  # built from the database
            fold = a._folds.get(call_id)
            assert fold is not None
            await store(a, vehicle, call_id, "v2", T0 + timedelta(seconds=1), hr=90)
            assert (await checked(a, pool, call_id)).hr == 90
            assert a._folds.get(call_id) is fold  # kept up to date, not read back
            # Another instance stores a frame of the call: not served stale.
            await store(b, vehicle, call_id, "v3", T0 + timedelta(seconds=2), hr=130, spo2=85)
            found = await checked(a, pool, call_id)
            assert (found.hr, found.spo2) == (130, 85)
            # A buffered frame measured earlier arrives late: it does not replace newer values.
            await store(a, vehicle, call_id, "v0", T0 - timedelta(seconds=5), hr=60, sbp=110)
            found = await checked(a, pool, call_id)
            assert (found.hr, found.spo2, found.sbp) == (130, 85, 110)
            # A restart: a new service starts with an empty cache and reads them all.
            assert (await checked(instance(pool), pool, call_id)) == found
            # Evicted calls are read back; the cache stays bounded.
            small = HandoverService(pool=pool, bus=None, runtime=None,  # type: ignore[arg-type]
                                    outbox=None,  # type: ignore[arg-type]
                                    config=HandoverConfig(findings_cache_calls=0))
            assert (await checked(small, pool, call_id)) == found
            assert not small._folds
        finally:
            await a.stop()
            await b.stop()
            await pool.close()
