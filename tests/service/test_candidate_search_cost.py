"""What a call's candidate search asks of Redis, counted on a redis-server of the test's
own (INFO commandstats): one GEOSEARCH per required kind, all in one round trip."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from loadtests.redis_probe import private_redis
from tests.conftest import DATABASE_URL, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


async def test_each_intake_searches_the_index_once_per_required_kind() -> None:
    async with private_redis() as server, running_service(redis_url=server.url) as service:
        await service.load(city(n_vehicles=60, kinds=("als", "bls"), seed=3))
        stats = aioredis.Redis.from_url(server.url)
        try:
            await stats.config_resetstat()
            # 8 calls: what a fresh instance does before it has learned a first radius (one
            # wide search each); the learned radius's rare second search is pinned in
            # test_live_index, where the fleet does not change with the ETA model's hour
            for i in range(8):
                lon, lat = CENTRE[0] + 0.008 * (i - 4), CENTRE[1] + 0.005 * (i % 5 - 2)
                r = await service.client.post(
                    "/v1/calls", json=call_body(lon, lat, number=f"1391111{i:04d}"),
                    headers=service.auth())
                assert r.status_code == 201, r.text
            searches = (await stats.info("commandstats"))["cmdstat_geosearch"]["calls"]
        finally:
            await stats.aclose()
        conn = await asyncpg.connect(DATABASE_URL)
        try:
            kinds = await conn.fetchval(
                f'SELECT sum(cardinality(required_kinds)) FROM "{service.settings.db_schema}"'
                ".calls")
        finally:
            await conn.close()
    # the steps would have searched each kind at 2 km, 4 km, ... until 8 were found
    assert searches == kinds
