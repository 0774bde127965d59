"""Live vehicle positions in Redis GEO sets, one set of *available* vehicles per kind.

PostgreSQL holds the vehicle's status; these sets mirror it so the nearest-vehicle
search is one GEOSEARCH. They are rebuildable at any time from PostgreSQL (`rebuild`), and
a candidate they return is only a candidate: the claim in PostgreSQL decides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dispatch.domain import VehicleKind
from dispatch.geo.widening import RadiusMemory, settle
from dispatch.realtime.resp import Command, RespEndpoint, RespLink

log = logging.getLogger(__name__)

# Redis GEO covers the Web Mercator square only: GEOADD and GEOSEARCH refuse latitudes
# beyond this (valid WGS-84 near the poles). Such input can never succeed, so it must not
# reach Redis, where the error would read as "Redis unavailable, retry".
GEO_LAT_LIMIT = 85.05112878


def searchable(lat: float) -> bool:
    """Whether a search centred at `lat` is one Redis GEO can run."""
    return -GEO_LAT_LIMIT <= lat <= GEO_LAT_LIMIT


def _indexable(lat: float) -> float:
    # A vehicle beyond the band is kept in its set at the band's edge, so "available" still
    # means "a member"; the ranking reads its true position from PostgreSQL.
    return min(max(lat, -GEO_LAT_LIMIT), GEO_LAT_LIMIT)


@dataclass(frozen=True, slots=True)
class Nearby:
    vehicle_id: str
    kind: VehicleKind
    lon: float
    lat: float
    distance_m: float


def _parsed(kind: VehicleKind, rows: list[Any]) -> list[Nearby]:
    """GEOSEARCH ... WITHDIST WITHCOORD rows as `Nearby`."""
    found = []
    for member, dist, (m_lon, m_lat) in rows:
        vid = member.decode() if isinstance(member, bytes) else member
        found.append(Nearby(vid, kind, float(m_lon), float(m_lat), float(dist)))
    return found


@dataclass(frozen=True, slots=True)
class IndexWrite:
    """One write to the index. Sent alone (LiveIndex.mark_*) or with a request's stream
    appends in one exchange (dispatch.realtime.bus.Bus.publish_many `along`); either way
    its failure marks the index stale."""

    index: LiveIndex
    command: Command
    what: str

    def settled(self, error: Exception | None) -> None:
        """Hear the write's outcome: None when Redis applied it."""
        if error is not None:
            self.index._failed(self.what, error)


class LiveIndex:
    """GEO sets `<prefix>:geo:available:<kind>`.

    A write that cannot reach Redis never fails the request that made it (the status or
    the claim it mirrors is already committed in PostgreSQL): it marks the index `stale`,
    and the watchdog rebuilds it from PostgreSQL once Redis answers again.
    """

    def __init__(self, *, redis: aioredis.Redis, prefix: str,
                 endpoint: RespEndpoint | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        # With an endpoint (every deployment; not the demo's in-process Redis) searches and
        # writes go over a lean pipelined connection: ~130 us of the service's CPU per
        # search of two kinds against ~290-330 us through a redis-py pipeline
        # (bench_redis_cost); a write (a claim's removal, a ping's move) ~40 us against
        # ~120 us.
        self._link = RespLink(endpoint) if endpoint is not None else None
        self.stale = False
        self._radii = RadiusMemory()

    async def _write(self, write: IndexWrite) -> None:
        try:
            if self._link is not None:
                await self._link.execute([write.command])
            else:
                await self._redis.execute_command(*write.command)
        except (RedisError, OSError, TimeoutError) as exc:
            write.settled(exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self.stale = True
        log.warning("live index %s failed (%s); to be rebuilt from PostgreSQL", what, exc)

    def _key(self, kind: VehicleKind) -> str:
        return f"{self._prefix}:geo:available:{kind.value}"

    def addition(self, *, vehicle_id: str, kind: VehicleKind, lon: float, lat: float
                 ) -> IndexWrite:
        """The write marking a vehicle available, to send now or along with others."""
        return IndexWrite(self, ("GEOADD", self._key(kind), lon, _indexable(lat), vehicle_id),
                          f"add of {vehicle_id}")

    def removal(self, *, vehicle_id: str, kind: VehicleKind) -> IndexWrite:
        """The write marking a vehicle unavailable, to send now or along with others."""
        return IndexWrite(self, ("ZREM", self._key(kind), vehicle_id),
                          f"removal of {vehicle_id}")

    async def mark_available(
        self, *, vehicle_id: str, kind: VehicleKind, lon: float, lat: float
    ) -> None:
        await self._write(self.addition(vehicle_id=vehicle_id, kind=kind, lon=lon, lat=lat))

    async def mark_unavailable(self, *, vehicle_id: str, kind: VehicleKind) -> None:
        await self._write(self.removal(vehicle_id=vehicle_id, kind=kind))

    async def move(self, *, vehicle_id: str, kind: VehicleKind, lon: float, lat: float) -> None:
        """Update the position of a vehicle that is available; others are not indexed."""
        # XX: only update an existing member, so a ping racing a claim cannot re-add it.
        await self._write(IndexWrite(
            self, ("GEOADD", self._key(kind), "XX", lon, _indexable(lat), vehicle_id),
            f"move of {vehicle_id}"))

    async def nearest(
        self, *, kind: VehicleKind, lon: float, lat: float, radius_m: float, count: int
    ) -> list[Nearby]:
        """Up to `count` available vehicles of `kind` within `radius_m`, nearest first."""
        if not searchable(lat):
            return []
        [found] = await self.nearest_each(kinds=[kind], lon=lon, lat=lat, radius_m=radius_m,
                                          count=count)
        return found

    async def nearest_each(
        self, *, kinds: Sequence[VehicleKind], lon: float, lat: float, radius_m: float,
        count: int,
    ) -> list[list[Nearby]]:
        """`nearest` for each of `kinds`, in one round trip (a pipeline)."""
        if self._link is not None:
            replies = await self._link.execute([
                ("GEOSEARCH", self._key(kind), "FROMLONLAT", lon, lat, "BYRADIUS", radius_m,
                 "m", "ASC", "COUNT", count, "WITHCOORD", "WITHDIST") for kind in kinds])
            return [_parsed(kind, rows) for kind, rows in zip(kinds, replies, strict=True)]
        pipe = self._redis.pipeline(transaction=False)
        for kind in kinds:
            pipe.geosearch(self._key(kind), longitude=lon, latitude=lat, radius=radius_m,
                           unit="m", sort="ASC", count=count, withcoord=True, withdist=True)
        return [_parsed(kind, rows)
                for kind, rows in zip(kinds, await pipe.execute(), strict=True)]

    async def nearest_widening(
        self, *, kinds: Sequence[VehicleKind], lon: float, lat: float,
        radii: Sequence[float], count: int,
    ) -> list[Nearby]:
        """What searching `radii` in turn finds (dispatch.geo.widening): per kind the
        `count` nearest within the first radius where `kinds` together offer `count`, or
        within the last; nearest first. Usually one round trip: the first search is as wide
        as recent searches of the same shape needed, a second only when that falls short.

        Measured (loadtests/bench_geo.py `bench_redis_cost`: a private redis-server,
        medians of 3, ALS+BLS, 8 wanted), per search, stepped -> this over the lean link:
        the demo city (112 vehicles) 3.8 -> 1.0 round trips, GEOSEARCH 71 -> 37 us (INFO
        commandstats), Redis CPU 150 -> 63 us (/proc), service CPU 1,016 -> 141 us; a
        1,000-vehicle city 2.9 -> 1.03, 57 -> 39 us, 96 -> 56 us, 624 -> 129 us. Every step
        costs Redis a read, a parse and a reply and repeats the inner circles' scan. Not
        always the widest radius: GEOSEARCH without ANY scans and sorts every member inside
        the radius whatever COUNT is (ANY stops early, but not at the nearest), so one
        60 km search cost 133 us of GEOSEARCH in the 1,000-vehicle city, more than the steps.
        """
        if not searchable(lat) or not kinds:
            return []
        shape = (tuple(kinds), count)
        searched = self._radii.first(shape, radii)
        by_kind = await self.nearest_each(kinds=kinds, lon=lon, lat=lat, radius_m=searched,
                                           count=count)
        stop = settle(by_kind, radii=radii, searched_m=searched, count=count)
        if stop is None:
            searched = radii[-1]
            by_kind = await self.nearest_each(kinds=kinds, lon=lon, lat=lat,
                                               radius_m=searched, count=count)
            stop = settle(by_kind, radii=radii, searched_m=searched, count=count)
            assert stop is not None  # the last radius always settles
        self._radii.note(shape, stop)
        found = [n for rows in by_kind for n in rows if n.distance_m <= stop]
        found.sort(key=lambda n: n.distance_m)
        return found

    async def rebuild(
        self, *, available: Iterable[tuple[str, VehicleKind, float, float]]
    ) -> int:
        """Replace the sets with `available` (vehicle_id, kind, lon, lat); return the count."""
        pipe = self._redis.pipeline(transaction=True)
        for kind in VehicleKind:
            pipe.delete(self._key(kind))
        n = 0
        for vehicle_id, kind, lon, lat in available:
            pipe.geoadd(self._key(kind), (lon, _indexable(lat), vehicle_id))
            n += 1
        pipe.set(self._built_key, "1")
        self.stale = False  # before the round trip: a write failing meanwhile marks it again
        try:
            await pipe.execute()
        except BaseException:
            self.stale = True
            raise
        return n

    @property
    def _built_key(self) -> str:
        return f"{self._prefix}:geo:built"

    async def close(self) -> None:
        """Close the searches' lean connection (the caller closes the redis-py client)."""
        if self._link is not None:
            await self._link.close()

    async def is_built(self) -> bool:
        """False once Redis has lost the index (restarted without persistence, or flushed)."""
        return bool(await self._redis.exists(self._built_key))
