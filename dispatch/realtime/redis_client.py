"""The redis-py client for DISPATCH_REDIS_URL: one server, or the master behind Sentinels.

redis-py follows a Sentinel failover itself (each new connection asks the Sentinels for
the master; a READONLY or UNBLOCKED reply drops the connection), but it has no URL form
for Sentinels: the endpoint comes from dispatch.realtime.resp, which parses redis+sentinel://.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

from dispatch.realtime.resp import RespEndpoint, sentinel_manager

__all__ = ["open_client"]


class _SentinelRedis(aioredis.Redis):
    """The master's client; closing it also closes its connections to the Sentinels."""

    sentinels: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            sentinels, self.sentinels = self.sentinels, None
            await sentinels.aclose()


def open_client(url: str, *, timeout_s: float, max_connections: int) -> aioredis.Redis:
    """A client for `url` (connects on first use)."""
    options: dict[str, Any] = {"socket_timeout": timeout_s,
                               "socket_connect_timeout": timeout_s,
                               "max_connections": max_connections}
    endpoint = RespEndpoint.from_url(url, timeout_s=timeout_s)
    if not endpoint.sentinels:
        return aioredis.Redis.from_url(url, **options)
    assert endpoint.service is not None
    sentinel = sentinel_manager(endpoint)
    client = sentinel.master_for(endpoint.service, redis_class=_SentinelRedis, db=endpoint.db,
                                 username=endpoint.username, password=endpoint.password,
                                 ssl=endpoint.tls, **options)
    client.sentinels = sentinel
    return client
