"""Triage a call again: new answers from the caller, or a crew's findings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.events import NewEvent, append_events
from dispatch.domain import CallStatus, EventKind, Role
from dispatch.errors import Forbidden
from dispatch.flows import destination
from dispatch.flows.claim import assign_or_recommend, lock_call
from dispatch.flows.fanout import fanout_one
from dispatch.flows.outcome import Outcome
from dispatch.runtime import Runtime
from dispatch.triage import Answers, Findings, TriageResult, retriage_on_card
from dispatch.views import previous_location, triage_event


@dataclass(frozen=True, slots=True)
class Checked:
    """A re-triage already run on a crew's findings (flows.crew_link.maybe_retriage, to see
    whether they change the call's level or pathway), and the call's inputs it read."""

    result: TriageResult
    answers: Mapping[str, Any]
    complaint: str
    card: Mapping[str, Any]  # the stored triage's card and card_answers

    def holds_for(self, call: Mapping[str, Any]) -> bool:
        """The call (read under its lock) still has the inputs the check ran on."""
        triage = call["triage"] or {}
        return (call["answers"] == self.answers and call["complaint"] == self.complaint
                and {"card": triage.get("card"), "card_answers": triage.get("card_answers")}
                == self.card)


async def retriage_call(
    *,
    rt: Runtime,
    call_id: UUID,
    answers: Answers | None,
    findings: Findings | None,
    complaint: str | None,
    principal: Principal,
    now: datetime,
    checked: Checked | None = None,
) -> Outcome:
    """Re-run triage with new answers or crew findings; record old and new.

    `checked`: the crew's check already ran this triage on these findings; its result is
    used unless the call's answers, complaint or card changed since (then triaged again)."""
    principal.require(Role.DISPATCHER, Role.CREW)
    places = await rt.places.get()
    async with rt.pool.acquire() as conn, conn.transaction():
        call = await lock_call(conn=conn, call_id=call_id)
        if principal.role is Role.CREW:
            live = await fleet_db.live_assignments(conn=conn, call_id=call_id)
            if principal.vehicle_id not in {a["vehicle_id"] for a in live}:
                raise Forbidden("this crew is not assigned to the call")
        merged = Answers.model_validate(
            {**call["answers"], **(answers.model_dump(exclude_none=True) if answers else {})}
        )
        text = complaint if complaint is not None else call["complaint"]
        if checked is not None and answers is None and complaint is None \
                and checked.holds_for(call):
            result = checked.result  # the same inputs: not triaged a second time
        else:
            # the card the call was taken on, and its answers, keep counting
            result = retriage_on_card(merged, findings, complaint=text, now=now,
                                      stored=call["triage"], call_id=call_id)
        await call_db.set_triage(
            conn=conn, call_id=call_id, acuity=int(result.acuity),
            transport_class=result.transport_class.value,
            pathway=result.pathway.value if result.pathway else None,
            triage=result.to_dict(), required_kinds=[k.value for k in result.vehicle_kinds],
            answers=merged.model_dump(mode="json", exclude_none=True),
        )
        await append_events(conn=conn, events=[NewEvent(
            EventKind.RETRIAGED, now, call_id,
            data={"old": call["triage"], "new": triage_event(result)},
        )])
        location = previous_location(call)
        if location is not None:
            await destination.choose(rt=rt, conn=conn, call_id=call_id, result=result,
                                     location=location, places=places, now=now,
                                     findings=findings, previous=call["destination_id"])
    await fanout_one(rt=rt, topic="console", payload={
        "kind": "call_retriaged", "call_id": str(call_id), "acuity": int(result.acuity)})
    if call["status"] == CallStatus.QUEUED.value:
        recs = await assign_or_recommend(rt=rt, call_id=call_id, principal=principal, now=now)
        return Outcome(call_id=call_id, created=False, recommendations=recs)
    return Outcome(call_id=call_id, created=False)
