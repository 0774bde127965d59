"""Where patients go: a dispatcher's choice of destination."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import Field

from dispatch.api.deps import Now, PrincipalDep
from dispatch.api.json import JSON
from dispatch.domain import Role
from dispatch.handover.destinations import change_destination
from dispatch.handover.messages import HospitalId
from dispatch.handover.service import HandoverService
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
    call_id: UUID, body: DestinationIn, request: Request, principal: PrincipalDep, now: Now
) -> JSON:
    """A dispatcher sets the destination. A centre that cannot meet the call's needs (no
    capability, diverting) is still set, with a warning; the old centre loses the patient,
    the new one is pre-alerted, the console and the crew hear `destination_changed`."""
    principal.require(Role.DISPATCHER)
    service: HandoverService = request.state.handover
    places = await service.orchestrator.places.get()
    async with service.pool.acquire() as conn, conn.transaction():
        change = await change_destination(
            conn=conn, places=places, call_id=call_id, hospital_id=body.hospital_id,
            reason=body.reason, by=Actor(role=principal.role, id=principal.subject),
            strict=False, now=now)
    if change.changed:
        await service.outbox.flush()  # the screens hear of it before the answer
    return JSON(change.to_dict())
