"""The service folds call_clocks in the background (dispatch/metrics/clock_folder.py): an
intake's calls are folded with no reader asking, and the folder stops with the service."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.conftest import DATABASE_URL, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city
from tests.waiting import eventually

CX, CY = CENTRE


def _folders() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "call_clocks fold"]


async def test_the_service_folds_in_the_background_and_stops_its_folder() -> None:
    async with running_service() as service:
        assert len(_folders()) == 1
        await service.load(city(vehicles=[("A1", "als", CX + 0.01, CY)]))
        r = await service.client.post("/v1/calls", json=call_body(CX, CY),
                                      headers=service.auth())
        assert r.status_code == 201, r.text
        call_id = r.json()["id"]
        conn = await asyncpg.connect(
            DATABASE_URL, server_settings={"search_path": service.settings.db_schema})
        try:
            async def folded() -> bool:
                return bool(await conn.fetchval(
                    """SELECT NOT EXISTS (SELECT 1 FROM call_clocks_pending)
                              AND EXISTS (SELECT 1 FROM call_clocks
                                          WHERE call_id = $1 AND cv_vehicle_id = 'A1')""",
                    call_id))

            await eventually(folded, what="the intake folded into call_clocks")
        finally:
            await conn.close()
    assert _folders() == []
