"""Claiming a vehicle for a call, and giving one back.

A claim is a conditional UPDATE inside the caller's transaction, so any number of
instances can claim at once; the one-live-assignment-per-vehicle index refuses a double
assignment. Lock order, to rule out deadlocks: a call row first, then a vehicle row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db import crew_status as crew_status_db
from dispatch.db import fleet as fleet_db
from dispatch.db.crew_status import QueueLook, Release
from dispatch.db.events import NewEvent, append_events, audit
from dispatch.db.pool import lent_or_pooled
from dispatch.domain import CallStatus, EventKind, VehicleKind, VehicleStatus
from dispatch.errors import Conflict, NotFound
from dispatch.flows.candidates import candidates_if_reachable
from dispatch.flows.fanout import fanout
from dispatch.geo.ranking import Ranked
from dispatch.geo.scheduling import booked_later
from dispatch.runtime import Runtime
from dispatch.views import view_of_row

log = logging.getLogger(__name__)

# (vehicle_id, eta_s, distance_m, reasons) in the order to try
Option = tuple[str, float | None, float | None, tuple[str, ...]]


def options_of(ranked: Sequence[Ranked]) -> list[Option]:
    """Ranked vehicles as claim options, in their order."""
    return [(r.vehicle_id, r.eta_s, r.distance_m, r.reasons) for r in ranked]


def claim_options(
    options: Sequence[Option], *, note: str = ""
) -> list[tuple[str, float | None, float | None, dict[str, Any]]]:
    """Options as the claim statement takes them: the assignment's reason with each."""
    return [(vid, eta_s, dist, {"reasons": list(reasons), "note": note})
            for vid, eta_s, dist, reasons in options]


def is_booked_later(*, rt: Runtime, call: Mapping[str, Any], now: datetime) -> bool:
    """A booked non-emergency call planned for later (dispatch.geo.scheduling.booked_later)."""
    return booked_later(booked_from=call["booked_from"], transport_class=call["transport_class"],
                        now=now, lead_s=rt.settings.bookings.booking_lead_s)


async def lock_call(*, conn: asyncpg.Connection, call_id: UUID) -> asyncpg.Record:
    """The call's row, locked for this transaction (the first lock of the lock order)."""
    call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
    if call is None:
        raise NotFound(f"call {call_id} does not exist", field="call_id")
    return call


def raise_unless_double_assignment(exc: asyncpg.UniqueViolationError) -> None:
    """A claim refused by the one-live-assignment-per-vehicle index is a lost claim (the
    caller carries on without it); any other unique violation is a real error."""
    if exc.constraint_name != "assignments_one_live_per_vehicle":
        raise exc


async def claim_first(
    *,
    conn: asyncpg.Connection,
    call: Mapping[str, Any],
    options: Sequence[Option],
    principal: Principal,
    now: datetime,
    expect: list[str],
    note: str = "",
    warnings: Sequence[Mapping[str, Any]] = (),
) -> str | None:
    """Claim the first option still available, inside the caller's transaction.

    The caller holds the call's row lock (lock order: call, then vehicle) and has
    checked its status is one of `expect`. Nothing is written when no option is free.
    `warnings` the dispatcher was given are recorded with the assignment.
    """
    call_id = call["id"]
    if call["status"] not in expect:
        return None
    claim = await fleet_db.claim_first_available(
        conn=conn, call_id=call_id, at=now, assigned_by=principal.subject,
        options=claim_options(options, note=note))
    if claim is None:
        return None
    # a second or replacement vehicle on a rolling call keeps the call active
    status = (CallStatus.ACTIVE if call["status"] == CallStatus.ACTIVE.value
              else CallStatus.ASSIGNED)
    if not await call_db.set_status(conn=conn, call_id=call_id, status=status,
                                    expect=expect):
        raise Conflict(f"call {call_id} changed state during the claim")
    vehicle_id: str = claim["id"]
    reasons = claim["reason"]["reasons"]
    warned = {"warnings": [dict(w) for w in warnings]} if warnings else {}
    await append_events(conn=conn, events=[NewEvent(
        EventKind.DISPATCHED, now, call_id, vehicle_id,
        data={"station_id": claim["station_id"],
              "district_id": claim["station_district_id"],
              "eta_s": claim["eta_s"], "distance_m": claim["distance_m"],
              "reasons": reasons, "by": principal.subject,
              # where the vehicle was when ordered: ETA calibration's trip start
              "from_lon": claim["lon"], "from_lat": claim["lat"], **warned})])
    await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                action="assign", call_id=call_id, vehicle_id=vehicle_id,
                detail={"eta_s": claim["eta_s"], "reasons": reasons, "note": note, **warned})
    return vehicle_id


async def after_claim(
    *, rt: Runtime, call_id: UUID, vehicle_id: str, now: datetime,
    lent: asyncpg.Connection | None = None, row: asyncpg.Record | None = None,
    news: Sequence[tuple[str, dict[str, Any]]] = (),
) -> dict[str, Any]:
    """Take the vehicle out of the index and send it its mission; return the call view.

    `row`: the call's view row as the claiming statement returned it (else read here).
    `news`: the request's earlier events, published first in the same exchange."""
    call = row
    if call is None:
        try:
            async with lent_or_pooled(rt.pool, lent) as conn:
                call = await call_db.view_row(conn=conn, call_id=call_id)
        except Exception:
            if news:  # committed facts: their events go out whatever happens here
                await fanout(rt=rt, items=list(news))
            raise
    assert call is not None
    mine = [a for a in call["live_assignments"] if a["vehicle_id"] == vehicle_id]
    index = [rt.index.removal(vehicle_id=vehicle_id, kind=VehicleKind(mine[0]["kind"]))
             ] if mine else []
    mission = view_of_row(call, events=None)
    await fanout(rt=rt, index=index, items=[
        *news,
        ("console", {"kind": "vehicle_assigned", "call_id": str(call_id),
                     "vehicle_id": vehicle_id}),
        (f"vehicle:{vehicle_id}", {"kind": "mission", "call_id": str(call_id),
                                   "mission": mission}),
    ])
    return mission


async def release(
    *,
    conn: asyncpg.Connection,
    vehicle_id: str,
    call_id: UUID,
    at: datetime,
    principal: Principal,
    kind: EventKind,
    data: dict[str, Any],
    new_status: str = VehicleStatus.AVAILABLE.value,
    close: bool = False,
    report: tuple[str, str, dict[str, Any]] | None = None,
    queue: QueueLook | None = None,
) -> asyncpg.Record:
    """End a vehicle's assignment to a call (caller's transaction), with its event and
    audit row, in one statement; return the vehicle's row (dispatch.db.crew_status).

    `close`: close the call when this was its last vehicle. `report`: a status report's
    (report_id, fingerprint, result) to keep. `queue`: also read the queue's head."""
    row: asyncpg.Record = await crew_status_db.release_assignment(conn=conn, release=Release(
        vehicle_id=vehicle_id, call_id=call_id, at=at, status=new_status,
        event_kind=kind.value, data=data, actor=principal.subject,
        role=principal.role.value, close=close, report=report), queue=queue)
    return row


async def assign_or_recommend(
    *, rt: Runtime, call_id: UUID, principal: Principal, now: datetime, quiet: bool = False
) -> tuple[Ranked, ...]:
    """Claim the best suitable vehicle, falling back down the ranking on a lost race.

    `quiet`: the periodic sweep; a call that stays queued gets no timeline event, and
    one another instance holds is passed over rather than waited on."""
    for _attempt in range(3):
        try:
            async with rt.pool.acquire() as conn, conn.transaction():
                if quiet:
                    call = await fleet_db.lock_queued_call(conn=conn, call_id=call_id)
                else:
                    call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
                if call is None or call["status"] != CallStatus.QUEUED.value:
                    return ()
                if call["lon"] is None or is_booked_later(rt=rt, call=call, now=now):
                    return ()
                ranked = await candidates_if_reachable(rt=rt, conn=conn, call=call, now=now)
                if not ranked:
                    if not quiet:
                        await append_events(conn=conn, events=[NewEvent(
                            EventKind.QUEUED, now, call_id,
                            data={"reason": "no suitable vehicle available"})])
                    return ()
                if not rt.settings.dispatch.auto_assign:
                    await append_events(conn=conn, events=[NewEvent(
                        EventKind.RECOMMENDED, now, call_id,
                        data={"vehicles": [r.to_dict() for r in ranked]})])
                    return tuple(ranked)
                claimed = await claim_first(conn=conn, call=call, options=options_of(ranked),
                                            principal=principal, now=now,
                                            expect=[CallStatus.QUEUED.value])
        except asyncpg.UniqueViolationError as exc:
            # the claim was rolled back, the call is still queued: try again
            raise_unless_double_assignment(exc)
            log.error("claim for call %s refused by the one-live-assignment index", call_id)
            continue
        if claimed is not None:
            await after_claim(rt=rt, call_id=call_id, vehicle_id=claimed, now=now)
            return tuple(ranked)
        # Every candidate was taken by another instance meanwhile; search again.
    if quiet:
        return ()
    async with rt.pool.acquire() as conn:
        await append_events(conn=conn, events=[NewEvent(
            EventKind.QUEUED, now, call_id,
            data={"reason": "every suitable vehicle was claimed by other calls"})])
    return ()
