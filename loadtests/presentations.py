"""What callers report: a configurable mix of presentations, each a card of structured answers.

Pure: `now` and the random source are passed in. Every presentation names the acuity,
transport class and pathway the service's triage tables give it; a test holds the table to
the triage engine, so a change in the rules shows up here rather than as a silent drift in
the simulated mix.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dispatch.domain import Acuity, Pathway, TransportClass


@dataclass(frozen=True, slots=True)
class Presentation:
    """One kind of call: the answers a call-taker records and what happens on scene."""

    name: str
    answers: Mapping[str, Any]
    acuity: Acuity
    transport_class: TransportClass
    pathway: Pathway | None
    onset_min: float | None = None  # symptom onset this many minutes before the call
    transport_share: float = 0.85  # share of patients the crew takes to hospital
    complaint: str = ""

    def card(self, *, now: datetime) -> dict[str, Any]:
        """The JSON answers of one call at `now`."""
        out = dict(self.answers)
        if self.onset_min is not None:
            out["onset_at"] = (now - timedelta(minutes=self.onset_min)).isoformat()
        return out


# The presentations and their default shares of a day's calls. The shares are synthetic and
# only roughly shaped after Chinese 120 case mixes, where trauma is the largest single group
# and cardiovascular, stroke and respiratory complaints dominate the medical calls (Chinese
# prehospital epidemiology summarised in the 2023 "全国院前医疗急救质量控制" reports). Give
# your centre's mix with --mix name=share,...
PRESENTATIONS: tuple[Presentation, ...] = (
    Presentation("cardiac_arrest", {"age_years": 67, "conscious": False, "breathing": False},
                 Acuity.I, TransportClass.EMERGENCY, None, transport_share=0.6,
                 complaint="not breathing"),
    Presentation("chest_pain", {"age_years": 61, "chest_pain": True, "conscious": True,
                                "breathing": True},
                 Acuity.II, TransportClass.EMERGENCY, Pathway.CHEST_PAIN, onset_min=45,
                 transport_share=0.95, complaint="chest pain"),
    Presentation("stroke", {"age_years": 72, "conscious": True, "breathing": True,
                            "facial_droop": True, "arm_weakness": True,
                            "speech_difficulty": True},
                 Acuity.II, TransportClass.EMERGENCY, Pathway.STROKE, onset_min=50,
                 transport_share=0.97, complaint="face drooping, weak arm"),
    Presentation("major_trauma", {"age_years": 34, "conscious": True, "breathing": True,
                                  "mechanism": "road_traffic",
                                  "injuries": ["pelvic_fracture"]},
                 Acuity.II, TransportClass.EMERGENCY, Pathway.TRAUMA, transport_share=0.98,
                 complaint="road traffic collision"),
    Presentation("trauma", {"age_years": 41, "conscious": True, "breathing": True,
                            "mechanism": "fall", "fall_height_m": 7},
                 Acuity.III, TransportClass.EMERGENCY, Pathway.TRAUMA, transport_share=0.9,
                 complaint="fell from height"),
    Presentation("maternal", {"age_years": 29, "sex": "female", "conscious": True,
                              "breathing": True, "pregnant": True, "gestation_weeks": 35,
                              "vaginal_bleeding": True},
                 Acuity.II, TransportClass.EMERGENCY, Pathway.MATERNAL, transport_share=0.98,
                 complaint="pregnant, bleeding"),
    Presentation("paediatric", {"age_years": 0.5, "conscious": True, "breathing": True,
                                "breathing_normally": False},
                 Acuity.II, TransportClass.EMERGENCY, Pathway.PAEDIATRIC, transport_share=0.95,
                 complaint="baby struggling to breathe"),
    Presentation("breathing", {"age_years": 70, "conscious": True, "breathing": True,
                               "breathing_normally": False},
                 Acuity.II, TransportClass.EMERGENCY, None, transport_share=0.85,
                 complaint="short of breath"),
    # (severe pain is level II in the CN grading: an urgent call is a presentation that
    # the red-flag screen leaves open)
    Presentation("urgent", {"age_years": 45, "conscious": True, "breathing": True,
                            "breathing_normally": True},
                 Acuity.III, TransportClass.EMERGENCY, None, transport_share=0.8,
                 complaint="abdominal pain, vomited twice"),
    Presentation("non_urgent", {"age_years": 52, "conscious": True, "breathing": True,
                                "breathing_normally": True, "severe_pain": False,
                                "chest_pain": False},
                 Acuity.IV, TransportClass.EMERGENCY, None, transport_share=0.55,
                 complaint="feels unwell"),
    Presentation("booking", {"age_years": 70, "conscious": True, "breathing": True,
                             "breathing_normally": True, "booking_reason": "dialysis",
                             "red_flag_new_symptoms": False, "red_flag_breathing": False,
                             "red_flag_chest_pain": False, "red_flag_confusion": False,
                             "red_flag_bleeding": False, "red_flag_needs_monitoring": False},
                 Acuity.IV, TransportClass.NON_EMERGENCY, None, transport_share=1.0,
                 complaint="dialysis transport"),
)

DEFAULT_SHARES: dict[str, float] = {
    "cardiac_arrest": 0.02, "chest_pain": 0.07, "stroke": 0.06, "major_trauma": 0.05,
    "trauma": 0.15, "maternal": 0.03, "paediatric": 0.04, "breathing": 0.10, "urgent": 0.24,
    "non_urgent": 0.16, "booking": 0.08,
}

BY_NAME: dict[str, Presentation] = {p.name: p for p in PRESENTATIONS}


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of presentations; need not sum to 1 (they are normalised)."""

    shares: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))

    def __post_init__(self) -> None:
        unknown = set(self.shares) - set(BY_NAME)
        if unknown:
            raise ValueError(f"unknown presentations: {sorted(unknown)}; "
                             f"known: {sorted(BY_NAME)}")
        if any(v < 0 for v in self.shares.values()) or sum(self.shares.values()) <= 0:
            raise ValueError("shares must be >= 0 and not all zero")

    def normalised(self) -> dict[str, float]:
        """Shares summing to 1."""
        total = sum(self.shares.values())
        return {k: v / total for k, v in self.shares.items() if v > 0}

    def draw(self, rng: random.Random) -> Presentation:
        """One presentation, by share."""
        names = sorted(self.normalised())
        weights = [self.shares[n] for n in names]
        return BY_NAME[rng.choices(names, weights=weights)[0]]


def parse_mix(text: str) -> Mix:
    """`name=share,name=share` on top of the default shares."""
    shares = dict(DEFAULT_SHARES)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"mix entry {part!r} is not name=share")
        try:
            shares[name.strip()] = float(value)
        except ValueError as exc:
            raise ValueError(f"mix share {value!r} of {name!r} is not a number") from exc
    return Mix(shares)
