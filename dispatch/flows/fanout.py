"""Publishing facts already committed to PostgreSQL on the Redis bus."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError

from dispatch.db import fleet as fleet_db
from dispatch.runtime import Runtime

log = logging.getLogger(__name__)


async def fanout(*, rt: Runtime, items: list[tuple[str, dict[str, Any]]]) -> None:
    """Publish facts already committed. A Redis failure is logged and never fails or
    undoes the request: clients catch up from PostgreSQL (snapshots on reconnect)."""
    try:
        await rt.bus.publish_many(items)
    except (RedisError, OSError, TimeoutError):
        log.exception("fan-out of %d event(s) to Redis failed", len(items))


async def fanout_one(*, rt: Runtime, topic: str, payload: dict[str, Any]) -> None:
    """One committed fact to one topic (see `fanout`)."""
    await fanout(rt=rt, items=[(topic, payload)])


async def publish_to_crews(*, rt: Runtime, call_id: UUID, payload: dict[str, Any]) -> None:
    """One committed fact to every crew assigned to the call now."""
    async with rt.pool.acquire() as conn:
        live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
    await fanout(rt=rt, items=[(f"vehicle:{a['vehicle_id']}", payload) for a in live])
