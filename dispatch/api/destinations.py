"""Where patients go: a dispatcher's choice of destination, hospitals' capacity."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import Field

from dispatch.api.deps import Now, PoolDep, PrincipalDep, RuntimeDep
from dispatch.api.json import JSON
from dispatch.domain import Role
from dispatch.errors import NotFound
from dispatch.flows.hospital import report_capacity
from dispatch.handover.capacity import current, hospital_timeline
from dispatch.handover.destinations import change_destination
from dispatch.handover.messages import CapacityReport, HospitalId
from dispatch.handover.state import Actor
from dispatch.schemas import _Strict

router = APIRouter(tags=["destinations"])


class DestinationIn(_Strict):
    hospital_id: HospitalId
    reason: str = Field(min_length=1, max_length=500,
                        description="why (shown on the timeline and to the crew)")


@router.post("/v1/calls/{call_id}/destination",
             summary="Set or override the receiving hospital")
async def set_destination(
    call_id: UUID, body: DestinationIn, rt: RuntimeDep,
    principal: PrincipalDep, now: Now,
) -> JSON:
    """A dispatcher sets the destination. A centre that cannot meet the call's needs (no
    capability, diverting) is still set, with a warning; the old centre loses the patient,
    the new one is pre-alerted, the console and the crew hear `destination_changed`."""
    principal.require(Role.DISPATCHER)
    places = await rt.places.get()
    async with rt.pool.acquire() as conn, conn.transaction():
        change = await change_destination(
            conn=conn, places=places, call_id=call_id, hospital_id=body.hospital_id,
            reason=body.reason, by=Actor(role=principal.role, id=principal.subject),
            strict=False, now=now)
    if change.changed:
        await rt.outbox.flush()  # the screens hear of it before the answer
    return JSON(change.to_dict())


class CapacityIn(CapacityReport):
    """A centre's capacity: fields and capabilities left out keep their reported value."""


@router.post("/v1/hospitals/{hospital_id}/capacity",
             summary="Report ED capacity and capabilities unavailable now")
async def report_hospital_capacity(
    hospital_id: HospitalId, body: CapacityIn, rt: RuntimeDep,
    principal: PrincipalDep,
) -> JSON:
    """The centre itself, or a dispatcher for it. Destination choice reads it at once
    (an unavailable capability counts as diverted; a full ED ranks further); the console
    and the centre's screens get a `hospital_capacity` event; the centre's timeline keeps
    every report."""
    principal.require(Role.HOSPITAL, Role.DISPATCHER)
    principal.require_hospital(hospital_id)
    reported = await report_capacity(rt=rt, principal=principal, hospital_id=hospital_id,
                                     report=body)
    return JSON({**(reported.capacity or {}), "event_id": reported.event_id})


@router.get("/v1/hospitals/{hospital_id}/timeline",
            summary="A centre's diversions and capacity reports, newest first")
async def hospital_events(
    hospital_id: HospitalId, pool: PoolDep, principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSON:
    """For the centre itself and dispatchers."""
    principal.require(Role.HOSPITAL, Role.DISPATCHER)
    principal.require_hospital(hospital_id)
    async with pool.acquire() as conn:
        now = await current(conn=conn, hospital_id=hospital_id)
        if now is None:
            raise NotFound(f"hospital {hospital_id} does not exist", field="hospital_id")
        events = await hospital_timeline(conn=conn, hospital_id=hospital_id, limit=limit)
    return JSON({"hospital_id": hospital_id, "capacity": now, "events": events})
