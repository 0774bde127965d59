"""The reference data cache: one load for many concurrent readers, reloaded on a new version."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from dispatch.db.pool import create_pool
from dispatch.places import PlacesCache
from tests.conftest import DATABASE_URL, REDIS_URL, Service
from tests.service.city import city


class Clock:
    """Monotonic seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CHECK_EVERY_S = 0.2


@asynccontextmanager
async def caches(
    service: Service, clock: Clock,
) -> AsyncIterator[Callable[[], PlacesCache]]:
    """Reference data loaded; makes caches (instances) that check the version every
    CHECK_EVERY_S of `clock`."""
    await service.load(city(n_vehicles=2))
    settings = service.settings
    pool = await create_pool(dsn=DATABASE_URL, schema=settings.db_schema, min_size=1,
                             max_size=4, command_timeout_s=10.0)
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        yield lambda: PlacesCache(pool=pool, redis=redis, prefix=settings.redis_prefix,
                                  check_every_s=CHECK_EVERY_S, clock=clock)
    finally:
        await redis.aclose()
        await pool.close()


async def test_concurrent_readers_share_one_load_and_see_a_new_version(
        service: Service) -> None:
    clock = Clock()
    async with caches(service, clock) as cache:
        ours, other = cache(), cache()
        loaded = await asyncio.gather(*(ours.get() for _ in range(50)))
        assert all(p is loaded[0] for p in loaded)  # one load, not fifty
        assert loaded[0].hospitals
        clock.advance(CHECK_EVERY_S)
        # Checked again after check_every_s: the version has not moved, nothing is reloaded.
        again = await asyncio.gather(*(ours.get() for _ in range(50)))
        assert all(p is loaded[0] for p in again)
        await other.invalidate()  # `dispatch load` on another instance
        clock.advance(CHECK_EVERY_S)
        renewed = await asyncio.gather(*(ours.get() for _ in range(50)))
        # The first reader checks and reloads; the others do not wait for it, and get what
        # the cache held until then.
        assert renewed[0] is not loaded[0]
        assert all(p is loaded[0] for p in renewed[1:])
        assert await ours.get() is renewed[0]


async def test_this_instances_invalidation_is_seen_even_by_a_check_already_running(
        service: Service) -> None:
    clock = Clock()
    async with caches(service, clock) as new_cache:
        cache = new_cache()
        first = await cache.get()
        clock.advance(CHECK_EVERY_S)
        running = asyncio.create_task(cache.get())  # checks the version: not changed yet
        await asyncio.sleep(0)  # it runs to its first wait: holding the lock, asking Redis
        await cache.invalidate()  # a diversion declared on this instance
        after = await cache.get()
        # Whatever the running check read, the caller after invalidate() gets data read
        # after the change, not the places held before it.
        assert after is not first
        await running
