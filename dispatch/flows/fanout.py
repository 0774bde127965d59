"""Publishing facts already committed to PostgreSQL on the Redis bus (the one policy:
dispatch.realtime.outbox, nothing dropped)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from dispatch.db import fleet as fleet_db
from dispatch.live_index import IndexWrite
from dispatch.realtime.outbox import Outgoing
from dispatch.runtime import Runtime


async def fanout(*, rt: Runtime, items: Outgoing, index: Sequence[IndexWrite] = ()) -> None:
    """Publish facts already committed (OutboxPublisher.publish). A Redis failure never
    fails or undoes the request: the events wait in the outbox until Redis is back.

    `index`: the live index's writes mirroring those facts, in the same exchange (one
    wake-up of Redis per request); one that fails marks the index stale, as alone."""
    await rt.outbox.publish(items, along=index)


async def fanout_one(*, rt: Runtime, topic: str, payload: dict[str, Any]) -> None:
    """One committed fact to one topic (see `fanout`)."""
    await fanout(rt=rt, items=[(topic, payload)])


async def publish_to_crews(*, rt: Runtime, call_id: UUID, payload: dict[str, Any]) -> None:
    """One committed fact to every crew assigned to the call now."""
    async with rt.pool.acquire() as conn:
        live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
    await fanout(rt=rt, items=[(f"vehicle:{a['vehicle_id']}", payload) for a in live])
