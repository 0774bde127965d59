"""What a flow that changes a call did, for the answer and the publish step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from dispatch.geo.ranking import Ranked


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an intake or update did, for the answer and the publish step."""

    call_id: UUID
    created: bool
    recommendations: tuple[Ranked, ...] = ()
    # the call as a dispatcher sees it, when the flow already read it (saves a round trip)
    view: dict[str, Any] | None = None
    # what the dispatcher is told about an override it made (dispatch.overrides)
    warnings: tuple[dict[str, Any], ...] = ()
