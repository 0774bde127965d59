"""A dispatcher's decisions about a call's vehicles: recommend, dispatch, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import bookings as booking_db
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.events import NewEvent, append_events
from dispatch.domain import LIVE_STATUSES, CallStatus, EventKind, Role
from dispatch.errors import Conflict, NotFound, VehicleUnavailable
from dispatch.flows.candidates import candidates, eta_to
from dispatch.flows.claim import Option, after_claim, claim_first, lock_call, options_of, release
from dispatch.flows.fanout import fanout_one
from dispatch.flows.outcome import Outcome
from dispatch.flows.queue import vehicle_freed
from dispatch.geo.ranking import Ranked
from dispatch.handover.prealert import call_cancelled
from dispatch.handover.state import Actor
from dispatch.overrides import override_warnings
from dispatch.runtime import Runtime


async def recommend(*, rt: Runtime, call_id: UUID, now: datetime) -> list[Ranked]:
    """The best few available vehicles for a call, by ETA."""
    async with rt.pool.acquire() as conn:
        call = await call_db.get_call(conn=conn, call_id=call_id)
        if call is None:
            raise NotFound(f"call {call_id} does not exist", field="call_id")
        return await candidates(rt=rt, conn=conn, call=call, now=now)


async def dispatch(
    *,
    rt: Runtime,
    call_id: UUID,
    vehicle_id: str | None,
    additional: bool,
    reason: str,
    principal: Principal,
    now: datetime,
) -> Outcome:
    """A dispatcher confirms the recommendation or overrides it with a named vehicle."""
    principal.require(Role.DISPATCHER)
    released: list[asyncpg.Record] = []
    warnings: list[dict[str, Any]] = []
    async with rt.pool.acquire() as conn, conn.transaction():
        call = await lock_call(conn=conn, call_id=call_id)
        if call["status"] not in LIVE_STATUSES:
            raise Conflict(f"call is {call['status']}; it cannot be dispatched")
        live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
        options: list[Option]
        if vehicle_id is None:
            if live and not additional:
                raise Conflict("call already has a vehicle; name one to override it",
                               field="vehicle_id")
            ranked = await candidates(rt=rt, conn=conn, call=call, now=now)
            if not ranked:
                raise VehicleUnavailable("no suitable vehicle is available",
                                         field="vehicle_id")
            options = options_of(ranked)
        else:
            vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
            if vehicle is None:
                raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
            if vehicle["kind"] not in call["required_kinds"]:
                raise Conflict(
                    f"a {vehicle['kind']} vehicle cannot serve this "
                    f"{call['transport_class']} call (needs {call['required_kinds']})",
                    field="vehicle_id")
            places = await rt.places.get()
            eta, dist = eta_to(rt=rt, vehicle=vehicle, call=call, places=places, now=now)
            options = [(vehicle_id, eta, dist, ("dispatcher override",))]
            warnings = override_warnings(
                vehicle=vehicle,
                available_by_district=await fleet_db.available_by_district(conn=conn),
                district_names={d.id: d.name for d in places.districts.districts})
        claimed = await claim_first(
            conn=conn, call=call, options=options, principal=principal, now=now,
            expect=LIVE_STATUSES, note=reason, warnings=warnings)
        if claimed is None:
            raise VehicleUnavailable("the vehicle is no longer available",
                                     field="vehicle_id")
        if not additional:
            for a in live:
                if a["vehicle_id"] == claimed:
                    continue
                row = await release(conn=conn, vehicle_id=a["vehicle_id"], call_id=call_id,
                                    at=now, principal=principal, kind=EventKind.UNASSIGNED,
                                    data={"reason": reason, "replaced_by": claimed})
                if row is not None:
                    released.append(row)
    await after_claim(rt=rt, call_id=call_id, vehicle_id=claimed, now=now)
    for row in released:
        await vehicle_freed(rt=rt, vehicle=row, now=now)
    return Outcome(call_id=call_id, created=False, warnings=tuple(warnings))


async def cancel(
    *, rt: Runtime, call_id: UUID, reason: str, principal: Principal, now: datetime
) -> Outcome:
    """Cancel a live call and free its vehicles."""
    principal.require(Role.DISPATCHER)
    released = []
    async with rt.pool.acquire() as conn, conn.transaction():
        call = await lock_call(conn=conn, call_id=call_id)
        if not await call_db.set_status(conn=conn, call_id=call_id,
                                        status=CallStatus.CANCELLED, expect=LIVE_STATUSES):
            raise Conflict(f"call is {call['status']}; it cannot be cancelled")
        for a in await fleet_db.live_assignments(conn=conn, call_id=call_id):
            row = await release(conn=conn, vehicle_id=a["vehicle_id"], call_id=call_id,
                                at=now, principal=principal, kind=EventKind.UNASSIGNED,
                                data={"reason": "call cancelled"})
            if row is not None:
                released.append(row)
        await booking_db.set_trip_status(conn=conn, call_id=call_id, status="cancelled")
        await append_events(conn=conn, events=[
            NewEvent(EventKind.CANCELLED, now, call_id, data={"reason": reason})])
        # off the boards of the centres it was inbound to, in this commit
        await call_cancelled(conn=conn, call=call, now=now,
                             by=Actor(role=principal.role, id=principal.subject))
    await fanout_one(rt=rt, topic="console",
                     payload={"kind": "call_cancelled", "call_id": str(call_id)})
    for row in released:
        await fanout_one(rt=rt, topic=f"vehicle:{row['id']}",
                         payload={"kind": "mission_cancelled", "call_id": str(call_id)})
        await vehicle_freed(rt=rt, vehicle=row, now=now)
    return Outcome(call_id=call_id, created=False)
