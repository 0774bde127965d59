"""Advanced Mobile Location reports: a fix for the caller's live call, or held for intake."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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
    return _normalised(number, rt.settings.intake.phone_region,
                       rt.settings.intake.phone_area_code)


# libphonenumber's parse is the dearest step of reading a number (~70 us), and one caller's
# number comes back: their AML reports, a call back, a second call about one patient.
@functools.lru_cache(maxsize=4096)
def _normalised(number: str, region: str, area_code: str | None) -> str:
    return normalise_number(number, region=region, area_code=area_code)


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


def held_fix(row: Mapping[str, Any]) -> call_db.StoredFix:
    """A held AML report as its call's fix."""
    return call_db.StoredFix(
        source=FixSource(row["source"]), coord_system=CoordSystem.WGS84,
        raw_lon=row["lon"], raw_lat=row["lat"], lon=row["lon"], lat=row["lat"],
        accuracy_m=row["accuracy_m"], observed_at=row["observed_at"])
