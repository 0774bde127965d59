"""Reference data the service keeps in memory: districts, stations and hospitals.

The values are dispatch.geo.places; this module reads them from PostgreSQL and keeps them.

Loaded from PostgreSQL, and reloaded when `dispatch load` (on any instance, or the CLI)
bumps a version counter in Redis, so every instance sees new reference data within
`check_every_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from shapely.geometry import shape

from dispatch.db import reference
from dispatch.geo.districts import District, DistrictIndex
from dispatch.geo.places import Hospital, Places, Station

log = logging.getLogger(__name__)
# the version while Redis cannot be read: never equal to one read from it
_UNKNOWN = object()


async def load_places(*, conn: asyncpg.Connection) -> Places:
    """Read the reference tables into memory."""
    districts = [
        District(
            id=r["id"],
            name=r["name"],
            area_type=r["area_type"],
            geometry=shape(r["geometry"]),
        )
        for r in await reference.districts(conn=conn)
    ]
    stations = {
        r["id"]: Station(r["id"], r["name"], r["district_id"], r["lon"], r["lat"])
        for r in await reference.stations(conn=conn)
    }
    hospitals = {
        r["id"]: Hospital(
            id=r["id"],
            name=r["name"],
            district_id=r["district_id"],
            lon=r["lon"],
            lat=r["lat"],
            capabilities=frozenset(r["capabilities"]),
            trauma_level=r["trauma_level"],
            diversion=frozenset(r["diversion"]),
            unavailable=frozenset(r["unavailable"]),
            ed_beds_available=r["ed_beds_available"],
            ed_at_capacity=r["ed_at_capacity"],
        )
        for r in await reference.hospitals(conn=conn)
    }
    return Places(districts=DistrictIndex(districts), stations=stations, hospitals=hospitals)


class PlacesCache:
    """Places, refreshed when the shared version counter moves."""

    def __init__(
        self, *, pool: asyncpg.Pool, redis: aioredis.Redis, prefix: str, check_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock`: seconds, monotonic (a test's own, to pass `check_every_s` at will)."""
        self._pool = pool
        self._clock = clock
        self._redis = redis
        self._key = f"{prefix}:refdata:version"
        self._check_every_s = check_every_s
        self._places: Places | None = None
        self._version: object = None
        self._checked_at = 0.0  # when the last check of the version began (monotonic)
        # When this instance last changed the version: a check begun before then is stale.
        self._invalidated_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> Places:
        places = self._places
        if places is not None and self._valid() and (self._fresh() or self._lock.locked()):
            # One caller checks the version; the others (hundreds of crews' ETAs a second)
            # use what it holds meanwhile, rather than each asking Redis at once. After
            # this instance's own invalidate() every caller waits for fresh data.
            return places
        async with self._lock:
            if self._places is not None and self._valid() and self._fresh():
                return self._places  # checked while this caller waited
            began = self._clock()
            version: object
            try:
                version = await self._redis.get(self._key)
            except (RedisError, OSError, TimeoutError) as exc:
                # Reference data lives in PostgreSQL; Redis only says when it changed. A
                # call is taken on what this instance holds (or reads afresh) meanwhile,
                # and the first check that reaches Redis again reloads it.
                log.warning("reference data version unreadable (%s); using PostgreSQL's", exc)
                version = _UNKNOWN
                if self._places is not None and self._valid():
                    self._version = version
                    self._checked_at = began
                    return self._places
            if self._places is None or version != self._version:
                async with self._pool.acquire() as conn:
                    self._places = await load_places(conn=conn)
                self._version = version
            self._checked_at = began
            return self._places

    def _valid(self) -> bool:
        return self._invalidated_at < self._checked_at

    def _fresh(self) -> bool:
        return self._clock() - self._checked_at < self._check_every_s

    async def invalidate(self) -> None:
        """Tell every instance that reference data changed."""
        await self._redis.incr(self._key)
        self._invalidated_at = self._clock()  # after the INCR: later checks see it
