"""Location fixes on a live call: re-fuse, then re-rank before dispatch or tell the crews."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.events import NewEvent, append_events
from dispatch.domain import LIVE_STATUSES, CallStatus, EventKind, Role, VehicleStatus
from dispatch.errors import Conflict
from dispatch.flows.candidates import uncertain_eta
from dispatch.flows.claim import assign_or_recommend, lock_call
from dispatch.flows.destination import out_of_area_alert, out_of_area_event, store_location
from dispatch.flows.fanout import fanout, fanout_one, publish_to_crews
from dispatch.flows.outcome import Outcome
from dispatch.geo.fusion import FusedLocation, fuse, moved_beyond
from dispatch.geo.places import Places
from dispatch.geo.uncertainty import eta_correction
from dispatch.runtime import Runtime
from dispatch.schemas import FixIn
from dispatch.views import fusion_fix, previous_location, stored_fix


async def add_fixes(
    *, rt: Runtime, call_id: UUID, fixes_in: list[FixIn], principal: Principal, now: datetime
) -> Outcome:
    """Add location fixes; re-fuse, and re-rank before dispatch or alert the crew after."""
    principal.require(Role.DISPATCHER, Role.GATEWAY)
    places = await rt.places.get()
    fixes = [stored_fix(f) for f in fixes_in]
    async with rt.pool.acquire() as conn, conn.transaction():
        call = await lock_call(conn=conn, call_id=call_id)
        if call["status"] not in LIVE_STATUSES:
            raise Conflict(f"call is {call['status']}; fixes are taken only on live calls")
        await call_db.insert_fixes(conn=conn, call_id=call_id, fixes=fixes)
        rows = await call_db.fixes_of(conn=conn, call_id=call_id)
        location = fuse([fusion_fix(r["id"], r) for r in rows], now=now)
        moved = False
        corrected: list[dict[str, Any]] = []
        if location is not None:
            previous = previous_location(call)
            moved = previous is None or moved_beyond(previous, location)
            await store_location(conn=conn, call_id=call_id, location=location, places=places)
            if previous is not None:
                corrected = await _eta_corrections(rt, conn, call_id, previous, location,
                                                   places, now)
            kind = EventKind.LOCATION_FIXED if previous is None else EventKind.LOCATION_UPDATED
            # Flag the call when this fix takes it out of every district (once per move).
            newly_out = places.district_id_at(location.lon, location.lat) is None and (
                previous is None or call["district_id"] is not None)
            await append_events(conn=conn, events=[
                NewEvent(kind, now, call_id, data={
                    **location.to_dict(), "moved": moved,
                    **({"crews_told": corrected} if corrected else {})}),
                *([out_of_area_event(call_id, location, now)] if newly_out else []),
            ])
    assert location is not None
    if newly_out:
        await fanout_one(rt=rt, topic="console", payload=out_of_area_alert(call_id, location))
    if call["status"] == CallStatus.QUEUED.value:
        recs = await assign_or_recommend(rt=rt, call_id=call_id, principal=principal, now=now)
        return Outcome(call_id=call_id, created=False, recommendations=recs)
    if moved:
        await publish_to_crews(rt=rt, call_id=call_id, payload={
            "kind": "location_changed", "call_id": str(call_id), **location.to_dict()})
    await fanout(rt=rt, items=[(f"vehicle:{c['vehicle_id']}", {
        "kind": "location_corrected", "call_id": str(call_id), **location.to_dict(), **c})
        for c in corrected])
    return Outcome(call_id=call_id, created=False)


async def _eta_corrections(
    rt: Runtime, conn: asyncpg.Connection, call_id: UUID, previous: FusedLocation,
    location: FusedLocation, places: Places, now: datetime,
) -> list[dict[str, Any]]:
    """The crews still on their way whose expected ETA this correction moves by more
    than `location_eta_notify_s`, with their ETA before and after."""
    live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
    rolling = [a["vehicle_id"] for a in live
               if a["status"] in (VehicleStatus.DISPATCHED.value, VehicleStatus.EN_ROUTE.value)]
    if not rolling:
        return []
    before, after = (uncertain_eta(
        rt=rt, call={"lon": loc.lon, "lat": loc.lat, "radius_m": loc.radius_m},
        places=places, now=now) for loc in (previous, location))
    out = []
    for v in await fleet_db.get_vehicles(conn=conn, ids=rolling):
        if v["lon"] is None:
            continue
        change = eta_correction(before, after, from_lon=v["lon"], from_lat=v["lat"],
                                threshold_s=rt.settings.dispatch.location_eta_notify_s)
        if change is not None:
            out.append({"vehicle_id": v["id"], **change})
    return out
