"""The handover state machine of one patient and one receiving centre (sans-I/O).

    none ──alert──> alerted ──ack──> acknowledged ──arrive──> arrived ──complete──> handed_over
      │               │  └──────────arrive──────────────────────^
      │               └──reroute──> rerouted ──alert──> alerted (sent back here)
      └──arrive (no pre-alert)──> arrived

`apply(state, event, now=...)` returns the next state and the effects the service must
carry out (append a timeline event, grant or revoke the centre's sight of the patient).
It never reads a clock or touches a socket: the caller passes `now`, the time the event
was received, and the event may carry `at`, the time its source says it happened.

A repeated event (a resend, or the crew and the centre both declaring arrival) is a
no-op with no effects; an event that makes no sense in the current phase raises
`IllegalTransition` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NoReturn
from uuid import UUID

from dispatch.domain import EventKind, Role, Team
from dispatch.errors import Conflict, Forbidden, HandoverError, InvalidInput

__all__ = [
    "MAX_CLOCK_SKEW",
    "Acknowledge",
    "ActivateTeam",
    "Actor",
    "ActorNotAllowed",
    "Alert",
    "Arrive",
    "BadTimestamp",
    "CompleteHandover",
    "Effect",
    "Event",
    "GrantAccess",
    "HandoverState",
    "IllegalTransition",
    "Phase",
    "RecordEvent",
    "Reroute",
    "RevokeAccess",
    "TeamActivation",
    "apply",
    "lead_time_s",
]

# Tablets and screens keep their own clocks. A source time this far ahead of ours is
# a wrong clock, not an early event; a few minutes of drift are normal on phones.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class Phase(StrEnum):
    NONE = "none"
    ALERTED = "alerted"
    ACKNOWLEDGED = "acknowledged"
    ARRIVED = "arrived"
    HANDED_OVER = "handed_over"
    REROUTED = "rerouted"
    CANCELLED = "cancelled"  # the call was cancelled while the patient was inbound


class IllegalTransition(HandoverError, Conflict):
    """The event is not allowed in the handover's current phase."""


class ActorNotAllowed(HandoverError, Forbidden):
    """This role (or this centre) may not send this event."""


class BadTimestamp(HandoverError, InvalidInput):
    """The event's source time is naive or too far in the future."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a role and the id bound to the token (vehicle, hospital or user)."""

    role: Role
    id: str

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {"role": self.role.value, "id": self.id}


@dataclass(frozen=True, slots=True)
class TeamActivation:
    """One team activation: requested by the crew, or made by the centre itself."""

    team: Team
    activated_at: datetime
    by: Actor
    # When the centre confirmed the team is activated. A centre that activates its own
    # team has confirmed it at that moment; a crew request waits for the centre.
    acknowledged_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "team": self.team.value,
            "activated_at": self.activated_at.isoformat(),
            "by": self.by.to_dict(),
            "acknowledged_at": _iso(self.acknowledged_at),
        }


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Alert:
    """This centre was chosen as destination: send it the pre-arrival alert."""

    by: Actor
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """The centre has seen the alert."""

    by: Actor
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ActivateTeam:
    team: Team
    by: Actor
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Arrive:
    """The ambulance is at the centre (crew status at_hospital, or the centre says so)."""

    by: Actor
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CompleteHandover:
    by: Actor
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reroute:
    """The patient now goes to `to_hospital_id`; this centre loses sight of them."""

    to_hospital_id: str
    by: Actor
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Withdraw:
    """The call was cancelled: nobody is coming, and this centre loses sight of the patient."""

    by: Actor
    at: datetime | None = None


Event = Alert | Acknowledge | ActivateTeam | Arrive | CompleteHandover | Reroute | Withdraw

# Who may send what. Hospitals never choose their own patients; crews never acknowledge
# on a centre's behalf.
_ALLOWED: dict[type[Any], frozenset[Role]] = {
    Alert: frozenset({Role.DISPATCHER, Role.CREW, Role.ADMIN}),
    Acknowledge: frozenset({Role.HOSPITAL}),
    ActivateTeam: frozenset({Role.CREW, Role.HOSPITAL, Role.DISPATCHER}),
    Arrive: frozenset({Role.CREW, Role.HOSPITAL}),
    CompleteHandover: frozenset({Role.CREW, Role.HOSPITAL}),
    Reroute: frozenset({Role.DISPATCHER, Role.CREW, Role.ADMIN}),
    Withdraw: frozenset({Role.DISPATCHER, Role.ADMIN}),
}


# ---------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """Append this event to the call's timeline (and publish it)."""

    kind: EventKind
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GrantAccess:
    """Show the patient on this centre's screens, starting with the pre-arrival alert."""

    hospital_id: str


@dataclass(frozen=True, slots=True)
class RevokeAccess:
    """Remove the patient from this centre's screens and stop its reads of their data."""

    hospital_id: str
    reason: str


Effect = RecordEvent | GrantAccess | RevokeAccess


# ---------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class HandoverState:
    """Where the handover of one call to one centre stands."""

    call_id: UUID
    hospital_id: str
    phase: Phase = Phase.NONE
    alerted_at: datetime | None = None
    acknowledged_at: datetime | None = None
    arrived_at: datetime | None = None
    handed_over_at: datetime | None = None
    rerouted_at: datetime | None = None
    rerouted_to: str | None = None
    teams: tuple[TeamActivation, ...] = ()

    @property
    def sees_patient(self) -> bool:
        """Whether this centre may see the patient now."""
        return self.phase not in (Phase.NONE, Phase.REROUTED, Phase.CANCELLED)

    @property
    def lead_time_s(self) -> float | None:
        """Notification lead time of this handover, if both ends are known."""
        return lead_time_s(alerted_at=self.alerted_at, arrived_at=self.arrived_at)

    def team(self, team: Team) -> TeamActivation | None:
        """The activation of `team`, if any."""
        return next((t for t in self.teams if t.team is team), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for persistence and snapshots."""
        return {
            "call_id": str(self.call_id),
            "hospital_id": self.hospital_id,
            "phase": self.phase.value,
            "alerted_at": _iso(self.alerted_at),
            "acknowledged_at": _iso(self.acknowledged_at),
            "arrived_at": _iso(self.arrived_at),
            "handed_over_at": _iso(self.handed_over_at),
            "rerouted_at": _iso(self.rerouted_at),
            "rerouted_to": self.rerouted_to,
            "teams": [t.to_dict() for t in self.teams],
            "lead_time_s": self.lead_time_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HandoverState:
        """Rebuild a state from `to_dict()` output."""
        return cls(
            call_id=UUID(str(data["call_id"])),
            hospital_id=str(data["hospital_id"]),
            phase=Phase(data["phase"]),
            alerted_at=_parse(data.get("alerted_at")),
            acknowledged_at=_parse(data.get("acknowledged_at")),
            arrived_at=_parse(data.get("arrived_at")),
            handed_over_at=_parse(data.get("handed_over_at")),
            rerouted_at=_parse(data.get("rerouted_at")),
            rerouted_to=data.get("rerouted_to"),
            teams=tuple(
                TeamActivation(
                    team=Team(t["team"]),
                    activated_at=_required(_parse(t["activated_at"])),
                    by=Actor(role=Role(t["by"]["role"]), id=str(t["by"]["id"])),
                    acknowledged_at=_parse(t.get("acknowledged_at")),
                )
                for t in data.get("teams", ())
            ),
        )


def lead_time_s(*, alerted_at: datetime | None, arrived_at: datetime | None) -> float | None:
    """Seconds from the centre's alert to the patient's arrival (negative: alerted late)."""
    # Mission "prehospital notification rate and lead time": a patient counts as
    # pre-notified only when this is > 0; None means there was no alert (or no arrival).
    if alerted_at is None or arrived_at is None:
        return None
    return (arrived_at - alerted_at).total_seconds()


def apply(
    state: HandoverState, event: Event, *, now: datetime
) -> tuple[HandoverState, tuple[Effect, ...]]:
    """Apply one event; return the new state and the effects, or raise why not."""
    at = _occurred_at(event, now=now)
    _check_actor(state, event)
    match event:
        case Alert():
            return _alert(state, event, at=at)
        case Acknowledge():
            return _acknowledge(state, event, at=at)
        case ActivateTeam():
            return _activate_team(state, event, at=at)
        case Arrive():
            return _arrive(state, event, at=at)
        case CompleteHandover():
            return _complete(state, event, at=at)
        case Reroute():
            return _reroute(state, event, at=at)
        case Withdraw():
            return _withdraw(state, event, at=at)
    raise TypeError(f"not a handover event: {event!r}")  # pragma: no cover


# ---------------------------------------------------------------------------- transitions

_Result = tuple[HandoverState, tuple[Effect, ...]]
_INBOUND = (Phase.ALERTED, Phase.ACKNOWLEDGED)


def _alert(state: HandoverState, event: Alert, *, at: datetime) -> _Result:
    if state.phase in _INBOUND:
        return state, ()
    if state.phase not in (Phase.NONE, Phase.REROUTED):
        _illegal(state, event, f"the patient has already {state.phase.value.replace('_', ' ')}")
    # Sent back after a re-route: a fresh alert; the earlier one did not prepare anyone.
    new = HandoverState(
        call_id=state.call_id, hospital_id=state.hospital_id, phase=Phase.ALERTED, alerted_at=at
    )
    return new, (
        GrantAccess(hospital_id=state.hospital_id),
        _record(state, EventKind.CENTRE_ALERTED, at, event.by),
    )


def _acknowledge(state: HandoverState, event: Acknowledge, *, at: datetime) -> _Result:
    if state.phase is Phase.ACKNOWLEDGED:
        return state, ()
    if state.phase is not Phase.ALERTED:
        _illegal(state, event, "only an alerted, incoming patient can be acknowledged")
    new = replace(state, phase=Phase.ACKNOWLEDGED, acknowledged_at=at)
    return new, (_record(state, EventKind.CENTRE_ACKNOWLEDGED, at, event.by),)


def _activate_team(state: HandoverState, event: ActivateTeam, *, at: datetime) -> _Result:
    if state.phase not in (*_INBOUND, Phase.ARRIVED):
        _illegal(state, event, "teams are activated for an incoming or arrived patient")
    by_centre = event.by.role is Role.HOSPITAL
    effects: list[Effect] = []
    new = state
    # Activating its own cath lab is the clearest acknowledgement a centre can give.
    if by_centre and state.phase is Phase.ALERTED:
        new = replace(new, phase=Phase.ACKNOWLEDGED, acknowledged_at=at)
        effects.append(_record(state, EventKind.CENTRE_ACKNOWLEDGED, at, event.by))
    existing = state.team(event.team)
    if existing is None:
        activation = TeamActivation(
            team=event.team, activated_at=at, by=event.by, acknowledged_at=at if by_centre else None
        )
        new = replace(new, teams=(*state.teams, activation))
        effects.append(_record_team(state, activation, event.by))
    elif by_centre and existing.acknowledged_at is None:
        # The centre confirms a team the crew asked for.
        activation = replace(existing, acknowledged_at=at)
        new = replace(
            new, teams=tuple(activation if t.team is event.team else t for t in state.teams)
        )
        effects.append(_record_team(state, activation, event.by))
    return new, tuple(effects)


def _arrive(state: HandoverState, event: Arrive, *, at: datetime) -> _Result:
    if state.phase in (Phase.ARRIVED, Phase.HANDED_OVER):
        return state, ()
    if state.phase is Phase.REROUTED:
        _illegal(state, event, f"the patient was re-routed to {state.rerouted_to}")
    if state.phase is Phase.CANCELLED:
        _illegal(state, event, "the call was cancelled")
    new = replace(state, phase=Phase.ARRIVED, arrived_at=at)
    effects: list[Effect] = []
    if state.phase is Phase.NONE:
        # Arrived unannounced: the centre sees the patient from now, and the record
        # shows there was no pre-alert (lead time None).
        effects.append(GrantAccess(hospital_id=state.hospital_id))
    effects.append(
        _record(state, EventKind.AT_DESTINATION, at, event.by, lead_time_s=new.lead_time_s)
    )
    return new, tuple(effects)


def _complete(state: HandoverState, event: CompleteHandover, *, at: datetime) -> _Result:
    if state.phase is Phase.HANDED_OVER:
        return state, ()
    if state.phase is not Phase.ARRIVED:
        _illegal(state, event, "the patient has not arrived yet")
    new = replace(state, phase=Phase.HANDED_OVER, handed_over_at=at)
    return new, (_record(state, EventKind.HANDOVER, at, event.by),)


def _reroute(state: HandoverState, event: Reroute, *, at: datetime) -> _Result:
    if event.to_hospital_id == state.hospital_id:
        _illegal(state, event, "cannot re-route a patient to the same centre")
    if state.phase is Phase.REROUTED and state.rerouted_to == event.to_hospital_id:
        return state, ()
    if state.phase not in _INBOUND:
        _illegal(state, event, "only an incoming patient can be re-routed")
    new = replace(state, phase=Phase.REROUTED, rerouted_at=at, rerouted_to=event.to_hospital_id)
    return new, (
        RevokeAccess(hospital_id=state.hospital_id, reason=f"re-routed to {event.to_hospital_id}"),
    )


def _withdraw(state: HandoverState, event: Withdraw, *, at: datetime) -> _Result:
    if state.phase is Phase.CANCELLED:
        return state, ()
    if state.phase not in _INBOUND:
        # Arrived or handed over: the patient is in the centre whatever became of the call.
        _illegal(state, event, "only an incoming patient's alert can be withdrawn")
    # The call's own `cancelled` event is its timeline record: no second one here.
    return replace(state, phase=Phase.CANCELLED), (
        RevokeAccess(hospital_id=state.hospital_id, reason="call cancelled"),)


# ---------------------------------------------------------------------------- helpers


def _occurred_at(event: Event, *, now: datetime) -> datetime:
    """The event's source time if it has a sane one, else the time we received it."""
    if now.tzinfo is None:
        raise BadTimestamp("now must carry a timezone", field="now")
    if event.at is None:
        return now
    if event.at.tzinfo is None:
        raise BadTimestamp("event time must carry a timezone", field="at")
    if event.at > now + MAX_CLOCK_SKEW:
        raise BadTimestamp(
            f"event time {event.at.isoformat()} is ahead of the server clock", field="at"
        )
    return event.at


def _check_actor(state: HandoverState, event: Event) -> None:
    """Refuse events from roles that may not send them, or from another centre."""
    role = event.by.role
    if role not in _ALLOWED[type(event)]:
        raise ActorNotAllowed(f"a {role.value} may not send {type(event).__name__}", field="type")
    if role is Role.HOSPITAL and event.by.id != state.hospital_id:
        raise ActorNotAllowed(
            f"hospital {event.by.id} acts on a handover to {state.hospital_id}", field="call_id"
        )


def _illegal(state: HandoverState, event: Event, why: str) -> NoReturn:
    raise IllegalTransition(
        f"{type(event).__name__} in phase {state.phase.value}: {why}", field="type"
    )


def _record(
    state: HandoverState, kind: EventKind, at: datetime, by: Actor, **extra: Any
) -> RecordEvent:
    # The metrics read {"hospital_id": ...} from centre_* and team_activated events.
    data: dict[str, Any] = {"hospital_id": state.hospital_id, "by": by.to_dict(), **extra}
    return RecordEvent(kind=kind, occurred_at=at, data=data)


def _record_team(state: HandoverState, activation: TeamActivation, by: Actor) -> RecordEvent:
    # One event when the team is activated, a second when the centre confirms a crew's
    # request; "acknowledged_at" tells them apart.
    at = activation.acknowledged_at if by.role is Role.HOSPITAL else activation.activated_at
    return _record(
        state,
        EventKind.TEAM_ACTIVATED,
        _required(at),
        by,
        team=activation.team.value,
        activated_at=activation.activated_at.isoformat(),
        requested_by=activation.by.to_dict(),
        acknowledged_at=_iso(activation.acknowledged_at),
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _required(value: datetime | None) -> datetime:
    if value is None:
        raise HandoverError("missing timestamp in a stored handover state")
    return value
