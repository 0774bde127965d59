"""Calls: intake, fixes, queue, dispatch, cancel, triage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response

from dispatch.api.deps import Now, PrincipalDep, RuntimeDep, get_now, get_runtime
from dispatch.api.json import JSON
from dispatch.api.lean import lean, lean_inputs
from dispatch.domain import LIVE_STATUSES, CallStatus
from dispatch.errors import InvalidInput
from dispatch.fields import Instant
from dispatch.flows import assign, fixes, intake, reads, retriage
from dispatch.flows.outcome import Outcome
from dispatch.runtime import Runtime
from dispatch.schemas import CallIn, CancelIn, DispatchIn, FixesIn, RetriageIn

router = APIRouter(prefix="/v1/calls", tags=["calls"])

_KEY_MAX = 128
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                              max_length=_KEY_MAX)]


async def _answer(
    rt: Runtime, outcome: Outcome, principal: PrincipalDep, now: datetime, status: int = 200
) -> JSON:
    if outcome.view is not None:  # the flow read it already; only dispatchers get here
        view = dict(outcome.view)
    else:
        view = await reads.call_view(rt=rt, call_id=outcome.call_id, principal=principal,
                                     now=now, with_timeline=False, via="answer")
    view["recommendations"] = [r.to_dict() for r in outcome.recommendations]
    view["warnings"] = list(outcome.warnings)
    return JSON(view, status_code=status)


async def _lean_create_call(request: Request) -> Response | None:
    """create_call without FastAPI's machinery (dispatch.api.lean)."""
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= _KEY_MAX:
        return None
    inputs = await lean_inputs(request, CallIn)
    if inputs is None:
        return None
    body, principal = inputs
    return await create_call(body, await get_runtime(request), principal, await get_now(),
                             key)


@router.post("", status_code=201, summary="Take a 120 call")
@lean(_lean_create_call)
async def create_call(
    body: CallIn, rt: RuntimeDep, principal: PrincipalDep, now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSON:
    """Persist the call, fuse its fixes, triage it and assign (or queue) a vehicle.

    A retry with the same `Idempotency-Key` and the same body returns the first call with
    status 200; the key sent with a different body is refused with 422 (field
    `Idempotency-Key`): the first call is kept and the new one needs a key of its own.
    """
    outcome = await intake.take_call(rt=rt, body=body, idempotency_key=idempotency_key,
                                     principal=principal, now=now)
    return await _answer(rt, outcome, principal, now, 201 if outcome.created else 200)


@router.get("", summary="The live queue, or every call of a period page by page")
async def list_calls(
    rt: RuntimeDep, principal: PrincipalDep,
    status: Annotated[list[CallStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=100,
                                        description="next_cursor of the previous page")] = None,
) -> JSON:
    """Without `from`/`to`: the live queue in queue order (acuity, then age). With them:
    every call received in [from, to), oldest first, `limit` a page, with `next_cursor`."""
    if since is None and until is None:
        statuses = [s.value for s in status] if status else LIVE_STATUSES
        calls = await reads.call_list(rt=rt, statuses=statuses, principal=principal,
                                      limit=limit)
        return JSON({"calls": calls})
    if since is None or until is None or until <= since:
        raise InvalidInput("give both 'from' and 'to', with 'to' after 'from'", field="to")
    after = _parse_cursor(cursor) if cursor else None
    calls = await reads.history(rt=rt, since=since, until=until, after=after, limit=limit,
                                principal=principal)
    next_cursor = (f"{calls[-1]['received_at'].isoformat()}|{calls[-1]['id']}"
                   if len(calls) == limit else None)
    return JSON({"calls": calls, "next_cursor": next_cursor})


def _parse_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, _, call_id = cursor.partition("|")
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("no time zone")
        return parsed, UUID(call_id)
    except ValueError as exc:
        raise InvalidInput(f"bad cursor: {exc}", field="cursor") from exc


@router.get("/{call_id}", summary="A call with its timeline")
async def get_call(call_id: UUID, rt: RuntimeDep, principal: PrincipalDep, now: Now) -> JSON:
    return JSON(await reads.call_view(rt=rt, call_id=call_id, principal=principal, now=now))


@router.post("/{call_id}/fixes", summary="Add location fixes during the call")
async def add_fixes(
    call_id: UUID, body: FixesIn, rt: RuntimeDep, principal: PrincipalDep, now: Now
) -> JSON:
    outcome = await fixes.add_fixes(rt=rt, call_id=call_id, fixes_in=body.fixes,
                                    principal=principal, now=now)
    return await _answer(rt, outcome, principal, now)


@router.get("/{call_id}/recommendations", summary="The best available vehicles by ETA")
async def recommendations(
    call_id: UUID, rt: RuntimeDep, principal: PrincipalDep, now: Now
) -> JSON:
    principal.require_dispatcher()
    ranked = await assign.recommend(rt=rt, call_id=call_id, now=now)
    return JSON({"call_id": str(call_id), "vehicles": [r.to_dict() for r in ranked]})


@router.post("/{call_id}/dispatch", summary="Confirm the recommendation or override it")
async def dispatch_call(
    call_id: UUID, body: DispatchIn, rt: RuntimeDep, principal: PrincipalDep,
    now: Now,
) -> JSON:
    outcome = await assign.dispatch(rt=rt, call_id=call_id, vehicle_id=body.vehicle_id,
                                    additional=body.additional, reason=body.reason,
                                    principal=principal, now=now)
    return await _answer(rt, outcome, principal, now)


@router.post("/{call_id}/cancel", summary="Cancel a call and free its vehicles")
async def cancel_call(
    call_id: UUID, body: CancelIn, rt: RuntimeDep, principal: PrincipalDep,
    now: Now,
) -> JSON:
    outcome = await assign.cancel(rt=rt, call_id=call_id, reason=body.reason,
                                  principal=principal, now=now)
    return await _answer(rt, outcome, principal, now)


@router.post("/{call_id}/triage", summary="Re-triage with new answers or crew findings")
async def retriage_call(
    call_id: UUID, body: RetriageIn, rt: RuntimeDep, principal: PrincipalDep,
    now: Now,
) -> JSON:
    outcome = await retriage.retriage_call(
        rt=rt, call_id=call_id, answers=body.answers, findings=body.findings,
        complaint=body.complaint, principal=principal, now=now)
    return await _answer(rt, outcome, principal, now)
