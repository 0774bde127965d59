"""Triage and destination: answers and findings in, acuity, class, pathway and hospital out.

Pure: no I/O, no clock (`now` is passed in). The rules are JSON tables in `tables/`,
versioned as PROTOCOL_VERSION and served by `protocol_tables()`.
"""

from __future__ import annotations

from dispatch.triage.destination import DestinationChoice, HospitalOption, choose_destination
from dispatch.triage.engine import retriage, triage_call
from dispatch.triage.inputs import (
    Answers,
    Avpu,
    BookingReason,
    Ecg,
    EcgRhythm,
    Findings,
    Injury,
    Mechanism,
    Sex,
    StrokeScale,
)
from dispatch.triage.protocol import load_protocol, protocol_tables
from dispatch.triage.result import Reason, TriageResult
from dispatch.triage.stored import retriage_on_card

PROTOCOL_VERSION: str = load_protocol().version

__all__ = [
    "PROTOCOL_VERSION",
    "Answers",
    "Avpu",
    "BookingReason",
    "DestinationChoice",
    "Ecg",
    "EcgRhythm",
    "Findings",
    "HospitalOption",
    "Injury",
    "Mechanism",
    "Reason",
    "Sex",
    "StrokeScale",
    "TriageResult",
    "choose_destination",
    "protocol_tables",
    "retriage",
    "retriage_on_card",
    "triage_call",
]
