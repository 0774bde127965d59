"""What triage decides, with its reasons: plain frozen values, JSON-safe on demand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dispatch.domain import Acuity, Pathway, TransportClass, VehicleKind


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule that shaped a decision, with the guideline it comes from: `text` is the
    English wording (as stored and audited), `text_zh` the Chinese one screens show first."""

    rule_id: str
    source: str
    text: str
    text_zh: str

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form: both languages, and `text` (English) as before."""
        return {"rule_id": self.rule_id, "source": self.source, "text": self.text,
                "text_zh": self.text_zh, "text_en": self.text}


@dataclass(frozen=True, slots=True)
class TriageResult:
    """Acuity, transport class, pathway and what the destination must offer."""

    acuity: Acuity
    transport_class: TransportClass
    pathway: Pathway | None
    vehicle_kinds: tuple[VehicleKind, ...]
    needs: frozenset[str]
    teams: tuple[str, ...]
    missing: tuple[str, ...]
    reasons: tuple[Reason, ...]
    protocol_version: str
    # the chief-complaint card the call was taken on and its answers (question id, answer)
    card: str | None = None
    card_answers: tuple[tuple[str, Any], ...] = ()
    # with no card taken, the cards the complaint text named (their rules applied): the
    # console can offer them to the call-taker
    text_cards: tuple[str, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The ids of every reason, in order."""
        return tuple(r.rule_id for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, enums as their values, sets sorted."""
        return {
            "acuity": int(self.acuity),
            "transport_class": self.transport_class.value,
            "pathway": self.pathway.value if self.pathway else None,
            "vehicle_kinds": [k.value for k in self.vehicle_kinds],
            "needs": sorted(self.needs),
            "teams": list(self.teams),
            "missing": list(self.missing),
            "reasons": [r.to_dict() for r in self.reasons],
            "protocol_version": self.protocol_version,
            "card": self.card,
            "card_answers": dict(self.card_answers) if self.card is not None else None,
            "text_cards": list(self.text_cards),
        }
