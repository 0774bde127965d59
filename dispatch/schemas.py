"""Request bodies: what consoles, crews and gateways may send. Pydantic names the field
and the reason for anything it refuses; the API turns that into a 422."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from dispatch.domain import CoordSystem, FixSource, VehicleStatus
from dispatch.errors import InvalidInput
from dispatch.fields import Instant, Number
from dispatch.triage import Answers, Findings


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Lon = Annotated[Number, Field(ge=-180, le=180), AfterValidator(_finite)]
Lat = Annotated[Number, Field(ge=-90, le=90), AfterValidator(_finite)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# A chief-complaint card (GET /v1/triage/protocol `cards`) and its answers by question id;
# the engine checks both against the card table and names the card or question it refuses.
CardId = Annotated[str, Field(
    min_length=1, max_length=40,
    description="chief-complaint card id (GET /v1/triage/protocol `cards`)")]
CardAnswers = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=40)], bool | int | float | str | None],
    Field(max_length=60, description="the card's answers by question id; structured "
                                     "`answers` win over them, they win over the text")]


class FixIn(_Strict):
    lon: Lon
    lat: Lat
    # under 10 cm is no real fix's accuracy (fusion floors it at a metre anyway)
    accuracy_m: Number = Field(ge=0.1, le=100_000, description="radius of the fix, metres")
    source: FixSource
    coord_system: CoordSystem = CoordSystem.WGS84
    observed_at: Instant


class BookingIn(_Strict):
    """A non-emergency transport's requested pick-up window and destination."""

    window_start: Instant
    window_end: Instant
    dest_lon: Lon | None = None
    dest_lat: Lat | None = None

    @model_validator(mode="after")
    def _window(self) -> BookingIn:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class CallIn(_Strict):
    caller_number: str = Field(min_length=3, max_length=32, pattern=r"^\+?[0-9]+$")
    fixes: list[FixIn] = Field(default_factory=list, max_length=50)
    complaint: str = Field(default="", max_length=2000)
    answers: Answers = Field(default_factory=lambda: Answers())
    card: CardId | None = None
    card_answers: CardAnswers | None = None
    received_at: Instant = Field(description="the switch's ring time")
    answered_at: Instant = Field(description="the switch's answer time")
    booking: BookingIn | None = None

    @model_validator(mode="after")
    def _answered_after_ring(self) -> CallIn:
        if self.answered_at < self.received_at:
            raise ValueError("answered_at must not be before received_at")
        return self


class FixesIn(_Strict):
    fixes: list[FixIn] = Field(min_length=1, max_length=50)


class DispatchIn(_Strict):
    """A dispatcher's confirmation (no vehicle) or override (a vehicle)."""

    vehicle_id: str | None = Field(default=None, min_length=1, max_length=64)
    additional: bool = Field(default=False, description="send this vehicle as well")
    reason: str = Field(default="", max_length=500)


class CancelIn(_Strict):
    reason: str = Field(min_length=1, max_length=500)


class RetriageIn(_Strict):
    answers: Answers | None = None
    findings: Findings | None = None
    complaint: str | None = Field(default=None, max_length=2000)


class EvaluateIn(_Strict):
    answers: Answers = Field(default_factory=lambda: Answers())
    card: CardId | None = None
    card_answers: CardAnswers | None = None
    findings: Findings | None = None
    complaint: str = Field(default="", max_length=2000)


class StatusIn(_Strict):
    status: VehicleStatus
    at: Instant | None = None
    # the mission the status is about (the crew tablet knows it): a status about another
    # call than the vehicle holds is refused instead of landing on the wrong one
    call_id: UUID | None = None
    # the client's id for this report: a repeat is answered with the first result
    report_id: str | None = Field(default=None, min_length=1, max_length=100)


class MilestoneIn(_Strict):
    kind: Annotated[str, Field(pattern="^(patient_contact|handover)$")]
    at: Instant | None = None


class PositionIn(_Strict):
    lon: Lon
    lat: Lat
    coord_system: CoordSystem = CoordSystem.WGS84
    at: Instant


def check_source_time(at: datetime, *, now: datetime, max_skew_s: float) -> None:
    """Refuse a source's time ahead of our clock by more than the allowed skew: it would
    stamp a clock of the call chain that has not happened yet."""
    if at > now + timedelta(seconds=max_skew_s):
        raise InvalidInput(
            f"{at.isoformat()} is more than {max_skew_s:.0f} s ahead of the service's clock",
            field="at")


def received_now(at: datetime | None, now: datetime) -> datetime:
    """A source time if the source gave one, else the time we received it."""
    return at if at is not None else now
