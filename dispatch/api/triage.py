"""Triage tools without a call: the protocol's tables and an evaluation."""

from __future__ import annotations

from fastapi import APIRouter

from dispatch.api.deps import Now, PrincipalDep
from dispatch.api.json import JSON
from dispatch.domain import Role
from dispatch.schemas import EvaluateIn
from dispatch.triage import protocol_tables, retriage, triage_call

router = APIRouter(tags=["reference"])


@router.get("/v1/triage/protocol",
            summary="The triage rule tables and their version, and the chief-complaint cards")
async def protocol(principal: PrincipalDep) -> JSON:
    principal.require(Role.DISPATCHER, Role.CREW, Role.HOSPITAL)
    return JSON(protocol_tables())


@router.post("/v1/triage/evaluate", summary="Triage without a call (consoles, training)")
async def evaluate(body: EvaluateIn, principal: PrincipalDep, now: Now) -> JSON:
    principal.require(Role.DISPATCHER, Role.CREW)
    if body.findings is not None:
        result = retriage(body.answers, body.findings, complaint=body.complaint, now=now,
                          card=body.card, card_answers=body.card_answers)
    else:
        result = triage_call(body.answers, complaint=body.complaint, now=now, card=body.card,
                             card_answers=body.card_answers)
    return JSON(result.to_dict())
