"""Two service processes on one PostgreSQL and Redis never assign one vehicle twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import asyncpg
import httpx

from dispatch.auth import issue_token
from dispatch.domain import Role
from tests.conftest import DATABASE_URL, drop_isolation, isolated_settings
from tests.instances import instances
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


async def test_two_instances_never_double_assign() -> None:
    settings = isolated_settings()
    token = issue_token(secret=settings.jwt_secret, issuer=settings.jwt_issuer, subject="t",
                        role=Role.ADMIN, now=datetime.now(UTC), ttl_s=600)
    headers = {"Authorization": f"Bearer {token}"}
    n_vehicles, n_calls = 12, 40
    try:
        async with instances(settings, 2) as urls, httpx.AsyncClient(timeout=30) as client:
            r = await client.post(f"{urls[0]}/v1/admin/reference", headers=headers,
                                  json=city(n_vehicles=n_vehicles, seed=3))
            assert r.status_code == 200, r.text
            # every call is near the centre, so every instance wants the same few vehicles
            answers = await asyncio.gather(*[
                client.post(f"{urls[i % 2]}/v1/calls", headers=headers,
                            json=call_body(CENTRE[0] + 0.001 * (i % 5), CENTRE[1],
                                           number=f"1380000{i:04d}"))
                for i in range(n_calls)
            ])
            assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
            assigned = [a.json()["assignments"][0]["vehicle_id"]
                        for a in answers if a.json()["assignments"]]
            queued = [a for a in answers if a.json()["status"] == "queued"]
        assert len(assigned) == n_vehicles
        assert len(queued) == n_calls - n_vehicles
        assert Counter(assigned).most_common(1)[0][1] == 1
        conn = await asyncpg.connect(DATABASE_URL)
        try:
            rows = await conn.fetch(
                f'''SELECT vehicle_id, count(*) AS n FROM "{settings.db_schema}".assignments
                     GROUP BY vehicle_id''')
            events = await conn.fetchval(
                f'''SELECT count(*) FROM "{settings.db_schema}".events
                     WHERE kind = 'dispatched' ''')
        finally:
            await conn.close()
        assert len(rows) == n_vehicles and all(r["n"] == 1 for r in rows)
        assert events == n_vehicles
    finally:
        await drop_isolation(settings)
