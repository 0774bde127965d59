"""What consoles, crews and centres read about calls; every read is audit-logged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db.events import audit, timeline
from dispatch.domain import Role
from dispatch.errors import Forbidden, NotFound
from dispatch.handover.prealert import hospital_may_see
from dispatch.runtime import Runtime
from dispatch.views import render_call, view_of_row


async def call_view(
    *, rt: Runtime, call_id: UUID, principal: Principal, now: datetime,
    with_timeline: bool = True, via: str = "get_call",
) -> dict[str, Any]:
    """The call as consoles see it; hospitals only their own inbound. Every read is
    audit-logged, `via` saying which answer or screen it was."""
    async with rt.pool.acquire() as conn:
        call = await call_db.view_row(conn=conn, call_id=call_id)
        if call is None:
            raise NotFound(f"call {call_id} does not exist", field="call_id")
        assignments = call["live_assignments"]
        if principal.role is Role.HOSPITAL:
            if call["destination_id"] != principal.hospital_id or not await hospital_may_see(
                    conn=conn, call=call, hospital_id=call["destination_id"], now=now,
                    retention=timedelta(seconds=rt.settings.handover.hospital_retention_s)):
                raise Forbidden("this patient is not inbound to your hospital")
        elif principal.role is Role.CREW:
            if principal.vehicle_id not in {a["vehicle_id"] for a in assignments}:
                raise Forbidden("this crew is not assigned to the call")
        else:
            principal.require(Role.DISPATCHER)
        events = await timeline(conn=conn, call_id=call_id) if with_timeline else None
        await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                    action="read_call", call_id=call_id, hospital_id=principal.hospital_id,
                    vehicle_id=principal.vehicle_id, detail={"via": via})
    return view_of_row(call, events=events)


async def history(
    *, rt: Runtime, since: datetime, until: datetime, after: tuple[datetime, UUID] | None,
    limit: int, principal: Principal,
) -> list[dict[str, Any]]:
    """Every call received in a period, in order, a page at a time."""
    principal.require(Role.DISPATCHER)
    async with rt.pool.acquire() as conn:
        rows = await call_db.calls_received(conn=conn, since=since, until=until, after=after,
                                            limit=limit)
        await _audit_list(conn, principal, rows, "history")
    return [render_call(r, [], None, None) for r in rows]


async def call_list(
    *, rt: Runtime, statuses: list[str], principal: Principal, limit: int, via: str = "queue"
) -> list[dict[str, Any]]:
    """Calls in the given statuses, the most urgent first (the console's queue)."""
    principal.require(Role.DISPATCHER)
    async with rt.pool.acquire() as conn:
        rows = await call_db.list_calls(conn=conn, statuses=statuses, limit=limit)
        await _audit_list(conn, principal, rows, via)
    return [render_call(r, [], None, None) for r in rows]


async def _audit_list(conn: asyncpg.Connection, principal: Principal,
                      rows: Sequence[asyncpg.Record], via: str) -> None:
    """One audit row per list read, naming every call it showed (GET /v1/audit?call_id=
    finds it)."""
    await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                action="read_calls",
                detail={"via": via, "count": len(rows), "call_ids": [str(r["id"]) for r in rows]})
