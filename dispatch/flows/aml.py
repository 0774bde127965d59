"""Advanced Mobile Location reports: a fix for the caller's live call, or held for intake."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import aml as aml_db
from dispatch.db import calls as call_db
from dispatch.domain import CoordSystem, FixSource, Role
from dispatch.errors import InvalidInput
from dispatch.flows.fixes import add_fixes
from dispatch.geo.aml import AmlMessage
from dispatch.phone import normalise_number
from dispatch.runtime import Runtime
from dispatch.schemas import FixIn

log = logging.getLogger(__name__)


def caller_number(*, rt: Runtime, number: str) -> str:
    """A caller number in the one form calls and AML reports are matched by."""
    return normalise_number(number, region=rt.settings.intake.phone_region,
                            area_code=rt.settings.intake.phone_area_code)


async def receive_aml(
    *, rt: Runtime, message: AmlMessage, form: str, sender: str | None,
    principal: Principal, now: datetime,
) -> dict[str, Any]:
    """Store an AML report; add it to the caller's live call, or hold it for intake."""
    principal.require(Role.GATEWAY, Role.DISPATCHER)
    number = message.caller_number or sender
    if not number:
        raise InvalidInput("AML message carries no caller number; give the sender",
                           field="sender")
    caller = caller_number(rt=rt, number=number)
    async with rt.pool.acquire() as conn, conn.transaction():
        call_id = await call_db.live_call_for_caller(conn=conn, caller_number=caller)
        message_id = await aml_db.insert_message(
            conn=conn, message=message, caller_number=caller, form=form, call_id=call_id)
    if call_id is None:
        log.info("AML %d from %s held until the call exists", message_id, caller)
        return {"aml_id": message_id, "call_id": None, "held": True,
                "warnings": list(message.warnings)}
    fix = FixIn(lon=message.lon, lat=message.lat, accuracy_m=message.accuracy_m,
                source=message.fix_source, coord_system=CoordSystem.WGS84,
                observed_at=message.observed_at)
    await add_fixes(rt=rt, call_id=call_id, fixes_in=[fix], principal=principal, now=now)
    return {"aml_id": message_id, "call_id": str(call_id), "held": False,
            "warnings": list(message.warnings)}


async def attach_held(
    *, rt: Runtime, conn: asyncpg.Connection, call_id: UUID, caller: str, now: datetime
) -> list[call_db.StoredFix]:
    """AML reports that arrived before the call: attach them as its first fixes."""
    since = now - timedelta(seconds=rt.settings.intake.aml_hold_s)
    pending = await aml_db.pending_for(conn=conn, caller_number=caller, since=since)
    if not pending:
        return []
    won = set(await aml_db.attach(conn=conn, ids=[r["id"] for r in pending], call_id=call_id))
    return [
        call_db.StoredFix(source=FixSource(r["source"]), coord_system=CoordSystem.WGS84,
                          raw_lon=r["lon"], raw_lat=r["lat"], lon=r["lon"], lat=r["lat"],
                          accuracy_m=r["accuracy_m"], observed_at=r["observed_at"])
        for r in pending if r["id"] in won
    ]
