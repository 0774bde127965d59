"""A crew's reports: status, milestones and positions; and the live index's rebuild.

A status is bound to a mission and applied with the vehicle's row locked (lock order:
the call, then the vehicle), so reports for one vehicle apply one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import crew_status as crew_status_db
from dispatch.db import fleet as fleet_db
from dispatch.db.crew_status import Release
from dispatch.db.events import NewEvent, append_events
from dispatch.db.pool import lent_or_pooled
from dispatch.domain import STATUS_EVENT, EventKind, Role, VehicleKind, VehicleStatus
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.flows.claim import after_claim, raise_unless_double_assignment
from dispatch.flows.fanout import fanout
from dispatch.flows.queue import (
    DRAINER,
    Drained,
    booked_before,
    drain_within,
    queue_look,
    vehicle_freed,
)
from dispatch.handover.prealert import crew_status_changed, crew_status_news
from dispatch.realtime.outbox import Outgoing
from dispatch.runtime import Runtime
from dispatch.schemas import check_source_time
from dispatch.views import text_or_none

log = logging.getLogger(__name__)


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
    one transaction: a refused report leaves no trace. A clearing that frees the
    vehicle gives it the head of the queue in that transaction too. `conn`: the
    caller's connection (outside a transaction), used for every step here instead of
    taking others from the pool (a crew frame holds one for its lock).
    """
    principal.require(Role.CREW, Role.DISPATCHER)
    principal.require_vehicle(vehicle_id)
    if status is VehicleStatus.DISPATCHED:
        raise InvalidInput("'dispatched' is set by the dispatch centre, not reported",
                           field="status")
    check_source_time(at, now=now, max_skew_s=rt.settings.dispatch.max_clock_skew_s)
    report = _Report(rt=rt, vehicle_id=vehicle_id, status=status, at=at,
                     principal=principal, now=now, call_id=call_id, report_id=report_id)
    try:
        applied = await _apply(report, conn, drain=True)
    except asyncpg.UniqueViolationError as exc:
        # the drain's claim refused by the one-live-assignment index rolled the clearing
        # back with it: clear alone, and drain as a step of its own
        raise_unless_double_assignment(exc)
        log.error("queue drain for %s refused by the one-live-assignment index", vehicle_id)
        applied = await _apply(report, conn, drain=False)
    if applied.repeat:
        return applied.result
    mission = applied.result["call_id"]
    kind = VehicleKind(applied.kind)
    # published with the index's write (and a drained call's mission) in one exchange
    news: Outgoing = [("console", {
        "kind": "vehicle_status", "vehicle_id": vehicle_id, "status": status.value,
        "call_id": mission})]
    # its next assignment never starts before the clearing the crew stamped
    drain_now = max(now, at)
    if applied.drained is not None and applied.drained.claimed is not None:
        await after_claim(rt=rt, call_id=applied.drained.claimed, vehicle_id=vehicle_id,
                          now=drain_now, lent=conn, news=news)
    elif status is VehicleStatus.AVAILABLE and applied.freed is not None:
        await vehicle_freed(rt=rt, vehicle=applied.freed, now=drain_now, lent=conn,
                            drained=applied.drained, news=news)
    elif status is not VehicleStatus.AVAILABLE:
        await fanout(rt=rt, items=news,
                     index=[rt.index.removal(vehicle_id=vehicle_id, kind=kind)])
    else:
        await fanout(rt=rt, items=news)
    return applied.result


@dataclass(frozen=True, slots=True)
class _Report:
    rt: Runtime
    vehicle_id: str
    status: VehicleStatus
    at: datetime
    principal: Principal
    now: datetime
    call_id: UUID | None
    report_id: str | None

    @property
    def fingerprint(self) -> str:
        return f"{self.status.value}|{self.call_id or ''}"


@dataclass(frozen=True, slots=True)
class _Applied:
    result: dict[str, Any]
    repeat: bool = False
    kind: str = ""
    freed: Mapping[str, Any] | None = None  # the vehicle, when the status freed it
    drained: Drained | None = None  # what the drain in the same transaction did


# Statuses a plain report of applies in one statement (crew_status.apply_if_plain); not
# an arrival (at_hospital), which the receiving centre records as well (it has a
# destination, as good as always, so the attempt would only cost a statement).
_AT_ONCE = (frozenset(STATUS_EVENT) - {VehicleStatus.AT_HOSPITAL}) \
    | {VehicleStatus.AVAILABLE, VehicleStatus.RETURNING}


async def _apply(report: _Report, lent: asyncpg.Connection | None, *, drain: bool
                 ) -> _Applied:
    """Apply the report: a plain one (the usual report: the vehicle's mission, no repeat,
    no queued call to take) in one statement; any other is locked, judged, written and
    (`drain`) given the queue's head in a transaction."""
    r, rt = report, report.rt
    async with lent_or_pooled(rt.pool, lent) as conn:
        if r.status in _AT_ONCE:
            facts = await crew_status_db.apply_if_plain(conn=conn, report=_plain(r, drain))
            if facts is None:
                raise NotFound(f"vehicle {r.vehicle_id} does not exist", field="vehicle_id")
            if facts["applied"]:
                return _applied_at_once(r, facts, drain=drain)
        async with conn.transaction():
            return await _apply_judged(conn, r, drain=drain)


def _plain(r: _Report, drain: bool) -> crew_status_db.PlainReport:
    clock = STATUS_EVENT.get(r.status)
    grace = timedelta(seconds=r.rt.settings.dispatch.clear_grace_s)
    return crew_status_db.PlainReport(
        vehicle_id=r.vehicle_id, status=r.status.value, at=r.at, call_id=r.call_id,
        report_id=r.report_id, fingerprint=r.fingerprint,
        clock=None if clock is None else clock.value, actor=r.principal.subject,
        role=r.principal.role.value, drainer=DRAINER.subject, grace_from=r.now - grace,
        drains=drain and r.status is VehicleStatus.AVAILABLE,
        booked_before=booked_before(r.rt, max(r.now, r.at)))


def _applied_at_once(r: _Report, facts: asyncpg.Record, *, drain: bool) -> _Applied:
    """What a plain report applied (facts as apply_if_plain locked them): as
    _apply_judged answers for the same report."""
    result = _status_result(r.vehicle_id, r.status, facts["call_id"])
    if r.status in STATUS_EVENT:
        return _Applied(result=result, kind=facts["kind"])
    # a clearing: the vehicle is freed; a drain found the queue empty
    drained = Drained(claimed=None, unfit=()) if drain \
        and r.status is VehicleStatus.AVAILABLE and facts["lon"] is not None else None
    return _Applied(result=result, kind=facts["kind"], freed=facts, drained=drained)


async def _apply_judged(conn: asyncpg.Connection, r: _Report, *, drain: bool) -> _Applied:
    """The report's transaction: lock, judge, write, and (`drain`) drain the queue."""
    facts = await _lock_vehicle_and_mission(conn, r)
    if facts["fingerprint"] is not None:
        if facts["fingerprint"] != r.fingerprint:
            raise Conflict(f"report_id {r.report_id!r} was used for another report",
                           field="report_id")
        return _Applied(result=dict(facts["result"]), repeat=True)
    repeat = _repeat_of(r, facts) or await _check_mission(conn, r, facts)
    if repeat is not None:
        return _Applied(result=repeat, repeat=True)
    mission = facts["call_id"]
    result = _status_result(r.vehicle_id, r.status, mission)
    kept = None if r.report_id is None else (r.report_id, r.fingerprint, result)
    # The receiving centre hears the crew's status: with the status's own writes, but
    # for an arrival (at_hospital), which it records as well
    news = None
    if mission is not None and facts["destination_id"] is not None \
            and r.status is not VehicleStatus.AT_HOSPITAL:
        news = crew_status_news(hospital_id=facts["destination_id"], call_id=mission,
                                vehicle_id=r.vehicle_id, status=r.status, at=r.at)
    freed, drained = await _apply_status(conn, r, facts, kept, news, drain=drain)
    if facts["destination_id"] is not None and news is None:
        await crew_status_changed(conn=conn, vehicle_id=r.vehicle_id, call_id=mission,
                                  status=r.status, at=r.at, now=r.now)
    return _Applied(result=result, kind=facts["kind"], freed=freed, drained=drained)


async def _lock_vehicle_and_mission(conn: asyncpg.Connection, r: _Report) -> asyncpg.Record:
    """Lock the vehicle's mission, then the vehicle (the lock order: call, then
    vehicle; a dispatcher's override or cancel holds the call and waits for the
    vehicle), with the facts the report is judged on (dispatch.db.crew_status)."""
    while True:
        facts = await crew_status_db.lock_for_status(
            conn=conn, vehicle_id=r.vehicle_id, status=r.status.value, at=r.at,
            report_id=r.report_id, drainer=DRAINER.subject)
        if facts is None:
            raise NotFound(f"vehicle {r.vehicle_id} does not exist", field="vehicle_id")
        if facts["fresh"] and facts["call_id"] == facts["seen_call_id"]:
            return facts
        # another report or claim got the vehicle first: read again, holding its lock
        # (and, if its mission changed meanwhile, lock the one it holds now)


async def _apply_status(
    conn: asyncpg.Connection, r: _Report, vehicle: asyncpg.Record,
    kept: tuple[str, str, dict[str, Any]] | None, news: crew_status_db.News | None, *,
    drain: bool,
) -> tuple[Mapping[str, Any] | None, Drained | None]:
    """Write what a status means (caller's transaction, vehicle row locked); keep the
    report's answer under its id; leave `news` (about the vehicle's mission) in the
    outbox. Returns the vehicle's row when the status freed it, and what the drain did
    when the freed vehicle took the queue in this transaction."""
    vehicle_id, mission, status, at = vehicle["id"], vehicle["call_id"], r.status, r.at
    clock = STATUS_EVENT.get(status)
    freed: Mapping[str, Any] | None = None
    if clock is not None:
        if mission is None:
            raise Conflict(f"vehicle has no mission; '{status.value}' needs one",
                           field="status")
        # the call becomes active; the vehicle's status, the clock and the report's
        # answer are written in the same statement
        await crew_status_db.stamp_status(conn=conn, vehicle_id=vehicle_id, call_id=mission,
                                          status=status.value, event_kind=clock.value,
                                          at=at, report=kept, news=news)
        return None, None
    if status in (VehicleStatus.AVAILABLE, VehicleStatus.RETURNING):
        if mission is not None:
            drains = drain and status is VehicleStatus.AVAILABLE \
                and vehicle["lon"] is not None
            data = {"status": status.value}
            row = await crew_status_db.release_assignment(conn=conn, release=Release(
                vehicle_id=vehicle_id, call_id=mission, at=at, status=status.value,
                event_kind=EventKind.CLEARED.value, data=data, actor=r.principal.subject,
                role=r.principal.role.value, close=True, report=kept, news=news),
                queue=queue_look(r.rt, vehicle["kind"], max(r.now, at)) if drains else None)
            if not drains:
                return row, None
            drained = await drain_within(rt=r.rt, conn=conn, vehicle=vehicle,
                                         queued=row["queued"], now=max(r.now, at))
            return row, drained
        await fleet_db.set_vehicle_status(conn=conn, vehicle_id=vehicle_id,
                                          status=status.value, at=at)
        freed = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
    elif status is VehicleStatus.OUT_OF_SERVICE:
        if mission is not None:
            raise Conflict("vehicle has a live mission; clear it or have it reassigned",
                           field="status")
        await fleet_db.set_vehicle_status(conn=conn, vehicle_id=vehicle_id,
                                          status=status.value, at=at)
    if kept is not None:
        await fleet_db.save_status_report(conn=conn, vehicle_id=vehicle_id,
                                          report_id=kept[0], fingerprint=kept[1],
                                          result=kept[2])
    return freed, None


def _given(facts: Mapping[str, Any]) -> bool:
    """Whether the vehicle holds a live assignment (facts from lock_for_status)."""
    return facts["given_call_id"] is not None


def _repeat_of(r: _Report, facts: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first result of a report resent with its time: the same status stamped with
    the same `at`, about the vehicle's mission or about one before it."""
    if not facts["earlier"]:
        return None
    earlier = facts["earlier_call_id"]
    if not _given(facts) or earlier == facts["given_call_id"] \
            or r.at <= facts["assigned_at"]:
        return _status_result(r.vehicle_id, r.status, earlier)
    return None


async def _check_mission(conn: asyncpg.Connection, r: _Report, facts: Mapping[str, Any]
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
    vehicle_id, status, at, call_id = r.vehicle_id, r.status, r.at, r.call_id
    mission = facts["call_id"]
    if call_id is not None:
        if call_id != mission:
            if await fleet_db.status_reported(conn=conn, vehicle_id=vehicle_id,
                                              call_id=call_id, status=status.value):
                return _status_result(vehicle_id, status, call_id)  # a repeat
            held = f"call {mission}" if mission is not None else "no mission"
            raise Conflict(f"vehicle {vehicle_id} holds {held}, not call {call_id}",
                           field="call_id")
        return None
    if mission is None or not _given(facts):
        return None
    # the call of the vehicle's last clearing with this status (read only for a
    # clearing stamped before its mission, or soon after the queue gave it)
    cleared = facts["last_cleared"]
    assigned_at = facts["assigned_at"]
    if at < assigned_at:
        # a clearing stamped before this mission was given ended an earlier one: the
        # same report sent through another instance, or resent, after the first freed
        # the vehicle and the queue gave it this call
        if cleared is not None:
            return _status_result(vehicle_id, status, cleared)
        raise Conflict(
            f"vehicle {vehicle_id} was given call {mission} at "
            f"{assigned_at.isoformat()}; a '{status.value}' stamped "
            f"{at.isoformat()} must name its call in call_id", field="call_id")
    clearing = status in (VehicleStatus.AVAILABLE, VehicleStatus.RETURNING)
    grace = timedelta(seconds=r.rt.settings.dispatch.clear_grace_s)
    if clearing and facts["assigned_by"] == DRAINER.subject \
            and r.now < assigned_at + grace:
        if cleared is None:
            raise Conflict(
                f"the queue gave vehicle {vehicle_id} call {mission} "
                f"{(r.now - assigned_at).total_seconds():.0f} s ago; name it in "
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
    check_source_time(at, now=now, max_skew_s=rt.settings.dispatch.max_clock_skew_s)
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
