"""One crew connection: what it remembers between frames, how a frame is answered, and
the re-triage check its clinical frames and positions trigger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from dispatch.auth import Principal
from dispatch.flows.crew_batches import CrewBatches
from dispatch.flows.retriage import Checked, retriage_call
from dispatch.handover.findings import ALWAYS_RETRIAGE, RetriagePolicy
from dispatch.handover.messages import AckFrame
from dispatch.runtime import Runtime
from dispatch.triage import Answers, retriage_on_card

__all__ = ["CrewLink", "Handled", "maybe_retriage"]


@dataclass(frozen=True, slots=True)
class Handled:
    """The ack to send once committed, then the work that follows it, in order."""

    ack: AckFrame
    then: tuple[Callable[[], Awaitable[None]], ...] = ()

    async def follow_up(self) -> None:
        """Run the work after the ack (publish, re-triage), one step after another."""
        for step in self.then:
            await step()


@dataclass
class CrewLink:
    """What one crew connection remembers between frames (never needed for correctness)."""

    vehicle_id: str
    policies: dict[UUID, RetriagePolicy] = field(default_factory=dict)
    eta_sent_at: dict[UUID, datetime] = field(default_factory=dict)
    # The latest ETA to the destination per call, shown with the vehicle's positions.
    etas: dict[UUID, dict[str, Any]] = field(default_factory=dict)


async def maybe_retriage(
    *, rt: Runtime, crew: CrewBatches, link: CrewLink, principal: Principal, call_id: UUID,
    frame: dict[str, Any] | None, now: datetime,
) -> None:
    """Re-triage the call if the crew's findings change its level or pathway (or the frame
    is one that always may: ALWAYS_RETRIAGE), at most as often as the link's policy lets."""
    policy = link.policies.get(call_id, RetriagePolicy())
    run, link.policies[call_id] = policy.decide(frame=frame, now=now)
    if not run:
        return
    # Batched with the other connections' checks: one statement, no pool checkout.
    call = await crew.retriage_input(call_id)
    if call is None:
        return
    findings = await crew.findings.findings(pool=rt.pool, call_id=call_id,
                                            stored=call.stored_frames)
    if findings is None:
        return
    checked: Checked | None = None
    if frame is None or frame.get("type") not in ALWAYS_RETRIAGE:
        answers = Answers.model_validate(call.answers)
        # with the call's card, as the full re-triage will be: without it the check
        # would see a change on every frame (or miss one)
        result = retriage_on_card(answers, findings, complaint=call.complaint, now=now,
                                  stored=call.card, call_id=call_id)
        pathway = result.pathway.value if result.pathway else None
        if (int(result.acuity), pathway) == (call.acuity, call.pathway):
            return
        checked = Checked(result=result, answers=call.answers, complaint=call.complaint,
                          card=call.card)
    # Recorded with the check's result: the call is triaged once per frame.
    await retriage_call(rt=rt, call_id=call_id, answers=None, findings=findings,
                        complaint=None, principal=principal, now=now, checked=checked)
    # The destination may have changed: get the alert out before more data flows.
    await rt.outbox.flush()
