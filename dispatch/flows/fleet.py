"""A crew's reports: status, milestones and positions; and the live index's rebuild.

A status is bound to a mission and applied with the vehicle's row locked (lock order:
the call, then the vehicle), so reports for one vehicle apply one at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.events import NewEvent, append_events
from dispatch.db.pool import lent_or_pooled
from dispatch.domain import STATUS_EVENT, CallStatus, EventKind, Role, VehicleKind, VehicleStatus
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.flows.claim import close_if_done, release
from dispatch.flows.fanout import fanout_one
from dispatch.flows.queue import DRAINER, vehicle_freed
from dispatch.handover.prealert import crew_status_changed
from dispatch.runtime import Runtime
from dispatch.schemas import check_source_time
from dispatch.views import text_or_none


def _status_result(vehicle_id: str, status: VehicleStatus, call_id: UUID | None
                   ) -> dict[str, Any]:
    return {"vehicle_id": vehicle_id, "status": status.value, "call_id": text_or_none(call_id)}


async def report_status(
    *, rt: Runtime, vehicle_id: str, status: VehicleStatus, at: datetime,
    principal: Principal, now: datetime, call_id: UUID | None = None,
    report_id: str | None = None, conn: asyncpg.Connection | None = None,
) -> dict[str, Any]:
    """A crew's status: stamp the clock it means, free the vehicle when it clears.

    The vehicle's row is locked first, so reports for one vehicle apply one at a time.
    A report is bound to a mission: by `call_id` when it names one, else by its time
    (see _check_mission). A repeat (the same `report_id`, or the same status stamped
    with the same `at`) is answered with the first result and changes nothing.
    Everything the report changes, the receiving centre's news included, commits in
    one transaction: a refused report leaves no trace. `conn`: the caller's
    connection (outside a transaction), used for every step here instead of taking
    others from the pool (a crew frame holds one for its lock).
    """
    principal.require(Role.CREW, Role.DISPATCHER)
    principal.require_vehicle(vehicle_id)
    if status is VehicleStatus.DISPATCHED:
        raise InvalidInput("'dispatched' is set by the dispatch centre, not reported",
                           field="status")
    check_source_time(at, now=now, max_skew_s=rt.settings.max_clock_skew_s)
    fingerprint = f"{status.value}|{call_id or ''}"
    lent = conn
    async with lent_or_pooled(rt.pool, lent) as conn, conn.transaction():
        vehicle = await _lock_vehicle_and_mission(conn, vehicle_id)
        if report_id is not None:
            first = await fleet_db.status_report(conn=conn, vehicle_id=vehicle_id,
                                                 report_id=report_id)
            if first is not None:
                if first["fingerprint"] != fingerprint:
                    raise Conflict(f"report_id {report_id!r} was used for another report",
                                   field="report_id")
                return dict(first["result"])
        mission = vehicle["call_id"]
        given = await fleet_db.mission_of(conn=conn, vehicle_id=vehicle_id)
        repeat = await _repeat_of(conn, vehicle_id, status, at, given)
        repeat = repeat or await _check_mission(rt, conn, vehicle_id, mission, status, at,
                                                call_id, given, now)
        if repeat is not None:
            return repeat
        freed = await _apply_status(conn, vehicle, status, at, principal)
        # The receiving centre hears the crew's status; at_hospital marks the arrival.
        await crew_status_changed(conn=conn, vehicle_id=vehicle_id, call_id=mission,
                                  status=status, at=at, now=now)
        result = _status_result(vehicle_id, status, mission)
        if report_id is not None:
            await fleet_db.save_status_report(conn=conn, vehicle_id=vehicle_id,
                                              report_id=report_id, fingerprint=fingerprint,
                                              result=result)
    kind = VehicleKind(vehicle["kind"])
    await fanout_one(rt=rt, topic="console", payload={
        "kind": "vehicle_status", "vehicle_id": vehicle_id, "status": status.value,
        "call_id": text_or_none(mission)})
    if status is VehicleStatus.AVAILABLE and freed is not None:
        # its next assignment never starts before the clearing the crew stamped
        await vehicle_freed(rt=rt, vehicle=freed, now=max(now, at), lent=lent)
    elif status is not VehicleStatus.AVAILABLE:
        await rt.index.mark_unavailable(vehicle_id=vehicle_id, kind=kind)
    return result


async def _lock_vehicle_and_mission(conn: asyncpg.Connection, vehicle_id: str
                                    ) -> asyncpg.Record:
    """Lock the vehicle's mission, then the vehicle (the lock order: call, then
    vehicle; a dispatcher's override or cancel holds the call and waits for the
    vehicle). Reports for one vehicle then apply one after the other."""
    while True:
        seen = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
        if seen is None:
            raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
        if seen["call_id"] is not None:
            await call_db.get_call(conn=conn, call_id=seen["call_id"], for_update=True)
        vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id, for_update=True)
        assert vehicle is not None  # vehicles are never deleted
        if vehicle["call_id"] == seen["call_id"]:
            return vehicle
        # its mission changed between the two reads: lock the one it holds now


async def _apply_status(
    conn: asyncpg.Connection, vehicle: asyncpg.Record, status: VehicleStatus,
    at: datetime, principal: Principal,
) -> asyncpg.Record | None:
    """Write what a status means (caller's transaction, vehicle row locked); return the
    vehicle's row when the status freed it."""
    vehicle_id, mission = vehicle["id"], vehicle["call_id"]
    clock = STATUS_EVENT.get(status)
    if clock is not None:
        if mission is None:
            raise Conflict(f"vehicle has no mission; '{status.value}' needs one",
                           field="status")
        await call_db.set_status(conn=conn, call_id=mission, status=CallStatus.ACTIVE,
                                 expect=[CallStatus.ASSIGNED.value])
        await fleet_db.set_vehicle_status(conn=conn, vehicle_id=vehicle_id,
                                          status=status.value, at=at)
        await append_events(conn=conn, events=[
            NewEvent(clock, at, mission, vehicle_id, data={"status": status.value})])
    elif status in (VehicleStatus.AVAILABLE, VehicleStatus.RETURNING):
        if mission is not None:
            freed = await release(conn=conn, vehicle_id=vehicle_id, call_id=mission, at=at,
                                  principal=principal, kind=EventKind.CLEARED,
                                  data={"status": status.value}, new_status=status.value)
            await close_if_done(conn=conn, call_id=mission)
            return freed
        await fleet_db.set_vehicle_status(conn=conn, vehicle_id=vehicle_id,
                                          status=status.value, at=at)
        return await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
    elif status is VehicleStatus.OUT_OF_SERVICE:
        if mission is not None:
            raise Conflict("vehicle has a live mission; clear it or have it reassigned",
                           field="status")
        await fleet_db.set_vehicle_status(conn=conn, vehicle_id=vehicle_id,
                                          status=status.value, at=at)
    return None


async def _repeat_of(
    conn: asyncpg.Connection, vehicle_id: str, status: VehicleStatus, at: datetime,
    given: asyncpg.Record | None,
) -> dict[str, Any] | None:
    """The first result of a report resent with its time: the same status stamped with
    the same `at`, about the vehicle's mission or about one before it."""
    earlier = await fleet_db.status_event_at(conn=conn, vehicle_id=vehicle_id,
                                             status=status.value, at=at)
    if earlier is None:
        return None
    if given is None or earlier["call_id"] == given["call_id"] or at <= given["assigned_at"]:
        return _status_result(vehicle_id, status, earlier["call_id"])
    return None


async def _check_mission(
    rt: Runtime, conn: asyncpg.Connection, vehicle_id: str, mission: UUID | None,
    status: VehicleStatus, at: datetime, call_id: UUID | None,
    given: asyncpg.Record | None, now: datetime,
) -> dict[str, Any] | None:
    """Refuse a status about another mission than the one the vehicle holds; return
    the first result when the status repeats the clearing that freed the vehicle.

    A report naming its call must name the vehicle's mission. One that does not is
    taken as about the mission only if stamped after the mission was given (a late
    on_scene of the previous call must not land on the next), except a clearing,
    which repeats the one that freed the vehicle. An unnamed clearing
    shortly after the queue gave the vehicle its next call is the repeat of the
    clearing that freed it (Settings.clear_grace_s), not the end of the new call.
    """
    if call_id is not None:
        if call_id != mission:
            if await fleet_db.status_reported(conn=conn, vehicle_id=vehicle_id,
                                              call_id=call_id, status=status.value):
                return _status_result(vehicle_id, status, call_id)  # a repeat
            held = f"call {mission}" if mission is not None else "no mission"
            raise Conflict(f"vehicle {vehicle_id} holds {held}, not call {call_id}",
                           field="call_id")
        return None
    if mission is None or given is None:
        return None
    clearing = status in (VehicleStatus.AVAILABLE, VehicleStatus.RETURNING)
    if at < given["assigned_at"]:
        # a clearing stamped before this mission was given ended an earlier one: the
        # same report sent through another instance, or resent, after the first freed
        # the vehicle and the queue gave it this call
        cleared = await fleet_db.last_clearing(conn=conn, vehicle_id=vehicle_id,
                                               status=status.value) if clearing else None
        if cleared is not None:
            return _status_result(vehicle_id, status, cleared)
        raise Conflict(
            f"vehicle {vehicle_id} was given call {mission} at "
            f"{given['assigned_at'].isoformat()}; a '{status.value}' stamped "
            f"{at.isoformat()} must name its call in call_id", field="call_id")
    grace = timedelta(seconds=rt.settings.clear_grace_s)
    if clearing and given["assigned_by"] == DRAINER.subject \
            and now < given["assigned_at"] + grace:
        cleared = await fleet_db.last_clearing(conn=conn, vehicle_id=vehicle_id,
                                               status=status.value)
        if cleared is None:
            raise Conflict(
                f"the queue gave vehicle {vehicle_id} call {mission} "
                f"{(now - given['assigned_at']).total_seconds():.0f} s ago; name it in "
                "call_id to clear it", field="call_id")
        return _status_result(vehicle_id, status, cleared)
    return None


async def report_milestone(
    *, rt: Runtime, vehicle_id: str, kind: EventKind, at: datetime, principal: Principal,
    now: datetime,
) -> dict[str, Any]:
    """Clocks that are not a vehicle status: patient contact, handover."""
    principal.require(Role.CREW, Role.DISPATCHER)
    principal.require_vehicle(vehicle_id)
    check_source_time(at, now=now, max_skew_s=rt.settings.max_clock_skew_s)
    async with rt.pool.acquire() as conn, conn.transaction():
        vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
        if vehicle is None:
            raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
        if vehicle["call_id"] is None:
            raise Conflict("vehicle has no mission", field="kind")
        await append_events(conn=conn, events=[
            NewEvent(kind, at, vehicle["call_id"], vehicle_id)])
    return {"vehicle_id": vehicle_id, "kind": kind.value, "call_id": str(vehicle["call_id"])}


async def report_position(
    *, rt: Runtime, vehicle_id: str, lon: float, lat: float, at: datetime,
    principal: Principal,
) -> asyncpg.Record | None:
    """A position ping: PostgreSQL keeps the latest, Redis indexes it if available.
    Returns the vehicle's row (dispatch.db.fleet.set_position), None for a stale ping."""
    principal.require(Role.CREW, Role.DISPATCHER)
    principal.require_vehicle(vehicle_id)
    async with rt.pool.acquire() as conn:
        row = await fleet_db.set_position(conn=conn, vehicle_id=vehicle_id, lon=lon, lat=lat,
                                          at=at)
        if row is None:
            if await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id) is None:
                raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
            return None  # an older ping arriving late: the newer position stands
    if row["status"] == VehicleStatus.AVAILABLE.value:
        await rt.index.move(vehicle_id=vehicle_id, kind=VehicleKind(row["kind"]),
                            lon=lon, lat=lat)
    return row


async def rebuild_index(*, rt: Runtime) -> int:
    """Rebuild the Redis GEO sets from PostgreSQL (at start-up, or after Redis lost them)."""
    async with rt.pool.acquire() as conn:
        rows = await fleet_db.available_positions(conn=conn)
    return await rt.index.rebuild(
        available=[(r["id"], VehicleKind(r["kind"]), r["lon"], r["lat"]) for r in rows])
