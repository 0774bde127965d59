"""The handover state machine: legal and illegal transitions, teams, re-routing, lead time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from dispatch.domain import EventKind, Role
from dispatch.errors import Conflict, Forbidden, HandoverError, InvalidInput
from dispatch.handover.state import (
    Acknowledge,
    ActivateTeam,
    Actor,
    ActorNotAllowed,
    Alert,
    Arrive,
    BadTimestamp,
    CompleteHandover,
    Effect,
    Event,
    GrantAccess,
    HandoverState,
    IllegalTransition,
    Phase,
    RecordEvent,
    Reroute,
    RevokeAccess,
    Team,
    Withdraw,
    apply,
    lead_time_s,
)

CALL = UUID("7f0c3c9e-4c1a-4a54-9d0e-2a4b2c1d0e11")
T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
DISPATCHER = Actor(role=Role.DISPATCHER, id="disp-3")
CREW = Actor(role=Role.CREW, id="V-101")
ED = Actor(role=Role.HOSPITAL, id="H-GULOU")
OTHER_ED = Actor(role=Role.HOSPITAL, id="H-ZHONGDA")

ALERT = Alert(by=DISPATCHER)
ACK = Acknowledge(by=ED)
ARRIVE = Arrive(by=CREW)
DONE = CompleteHandover(by=ED)
REROUTE = Reroute(to_hospital_id="H-ZHONGDA", by=DISPATCHER)


def run(events: list[Event]) -> tuple[HandoverState, list[tuple[Effect, ...]]]:
    """Apply events one minute apart from T0; return the final state and each step's effects."""
    state = HandoverState(call_id=CALL, hospital_id="H-GULOU")
    steps = []
    for i, event in enumerate(events):
        state, effects = apply(state, event, now=T0 + timedelta(minutes=i))
        steps.append(effects)
    return state, steps


def kinds(effects: tuple[Effect, ...]) -> list[str]:
    return [e.kind.value if isinstance(e, RecordEvent) else type(e).__name__ for e in effects]


LEGAL: list[tuple[str, list[Event], Phase, list[str]]] = [
    ("alert", [ALERT], Phase.ALERTED, ["GrantAccess", "centre_alerted"]),
    ("alert by crew request", [Alert(by=CREW)], Phase.ALERTED, ["GrantAccess", "centre_alerted"]),
    ("acknowledge", [ALERT, ACK], Phase.ACKNOWLEDGED, ["centre_acknowledged"]),
    ("arrive after ack", [ALERT, ACK, ARRIVE], Phase.ARRIVED, ["at_destination"]),
    ("arrive without ack", [ALERT, ARRIVE], Phase.ARRIVED, ["at_destination"]),
    ("hospital declares arrival", [ALERT, Arrive(by=ED)], Phase.ARRIVED, ["at_destination"]),
    ("unannounced arrival", [ARRIVE], Phase.ARRIVED, ["GrantAccess", "at_destination"]),
    ("handover", [ALERT, ACK, ARRIVE, DONE], Phase.HANDED_OVER, ["handover"]),
    (
        "handover signed by crew",
        [ALERT, ARRIVE, CompleteHandover(by=CREW)],
        Phase.HANDED_OVER,
        ["handover"],
    ),
    ("reroute while alerted", [ALERT, REROUTE], Phase.REROUTED, ["RevokeAccess"]),
    ("reroute after ack", [ALERT, ACK, REROUTE], Phase.REROUTED, ["RevokeAccess"]),
    (
        "sent back after reroute",
        [ALERT, REROUTE, ALERT],
        Phase.ALERTED,
        ["GrantAccess", "centre_alerted"],
    ),
    # Resends and double declarations are harmless no-ops.
    ("alert twice", [ALERT, ALERT], Phase.ALERTED, []),
    ("ack twice", [ALERT, ACK, ACK], Phase.ACKNOWLEDGED, []),
    ("crew and ED both declare arrival", [ALERT, ARRIVE, Arrive(by=ED)], Phase.ARRIVED, []),
    ("late crew arrival after handover", [ALERT, ARRIVE, DONE, ARRIVE], Phase.HANDED_OVER, []),
    ("handover twice", [ALERT, ARRIVE, DONE, DONE], Phase.HANDED_OVER, []),
    ("reroute resent", [ALERT, REROUTE, REROUTE], Phase.REROUTED, []),
]


@pytest.mark.parametrize(("why", "events", "phase", "last_effects"), LEGAL)
def test_legal_transitions(
    why: str, events: list[Event], phase: Phase, last_effects: list[str]
) -> None:
    state, steps = run(events)
    assert state.phase is phase, why
    assert kinds(steps[-1]) == last_effects, why


ILLEGAL: list[tuple[str, list[Event], Event, type[HandoverError], str]] = [
    ("ack before alert", [], ACK, IllegalTransition, "only an alerted"),
    ("handover before alert", [], DONE, IllegalTransition, "not arrived"),
    ("handover before arrival", [ALERT, ACK], DONE, IllegalTransition, "not arrived"),
    (
        "team before alert",
        [],
        ActivateTeam(team=Team.CATH_LAB, by=ED),
        IllegalTransition,
        "incoming or arrived",
    ),
    (
        "team after handover",
        [ALERT, ARRIVE, DONE],
        ActivateTeam(team=Team.CATH_LAB, by=ED),
        IllegalTransition,
        "incoming or arrived",
    ),
    ("ack after arrival", [ALERT, ARRIVE], ACK, IllegalTransition, "only an alerted"),
    ("alert after arrival", [ARRIVE], ALERT, IllegalTransition, "already arrived"),
    (
        "alert after handover",
        [ALERT, ARRIVE, DONE],
        ALERT,
        IllegalTransition,
        "already handed over",
    ),
    ("reroute before alert", [], REROUTE, IllegalTransition, "only an incoming"),
    ("reroute after arrival", [ALERT, ARRIVE], REROUTE, IllegalTransition, "only an incoming"),
    (
        "reroute to itself",
        [ALERT],
        Reroute(to_hospital_id="H-GULOU", by=DISPATCHER),
        IllegalTransition,
        "same centre",
    ),
    ("arrive after reroute", [ALERT, REROUTE], ARRIVE, IllegalTransition, "H-ZHONGDA"),
    ("ack after reroute", [ALERT, REROUTE], ACK, IllegalTransition, "only an alerted"),
    (
        "team after reroute",
        [ALERT, REROUTE],
        ActivateTeam(team=Team.CATH_LAB, by=CREW),
        IllegalTransition,
        "incoming or arrived",
    ),
    ("crew acknowledges", [ALERT], Acknowledge(by=CREW), ActorNotAllowed, "crew may not"),
    ("hospital alerts itself", [], Alert(by=ED), ActorNotAllowed, "hospital may not"),
    (
        "hospital reroutes",
        [ALERT],
        Reroute(to_hospital_id="H-X", by=ED),
        ActorNotAllowed,
        "hospital may not",
    ),
    (
        "dispatcher declares arrival",
        [ALERT],
        Arrive(by=DISPATCHER),
        ActorNotAllowed,
        "dispatcher may not",
    ),
    (
        "another centre acknowledges",
        [ALERT],
        Acknowledge(by=OTHER_ED),
        ActorNotAllowed,
        "H-ZHONGDA acts on a handover to H-GULOU",
    ),
    (
        "another centre activates a team",
        [ALERT],
        ActivateTeam(team=Team.CATH_LAB, by=OTHER_ED),
        ActorNotAllowed,
        "H-ZHONGDA",
    ),
    (
        "naive source time",
        [ALERT],
        Arrive(by=CREW, at=datetime(2025, 3, 1, 10, 0)),  # noqa: DTZ001
        BadTimestamp,
        "timezone",
    ),
    (
        "source time from the future",
        [ALERT],
        Arrive(by=CREW, at=T0 + timedelta(minutes=7)),
        BadTimestamp,
        "ahead of the server clock",
    ),
]


@pytest.mark.parametrize(("why", "before", "event", "error", "fragment"), ILLEGAL)
def test_illegal_transitions(
    why: str, before: list[Event], event: Event, error: type[HandoverError], fragment: str
) -> None:
    state, _ = run(before)
    with pytest.raises(error) as info:
        apply(state, event, now=T0 + timedelta(minutes=1))
    assert fragment in info.value.message, why


def test_errors_map_to_the_generic_domain_errors() -> None:
    assert issubclass(IllegalTransition, Conflict)
    assert issubclass(ActorNotAllowed, Forbidden)
    assert issubclass(BadTimestamp, InvalidInput)


def test_naive_now_is_refused() -> None:
    with pytest.raises(BadTimestamp):
        apply(
            HandoverState(call_id=CALL, hospital_id="H-GULOU"), ALERT, now=T0.replace(tzinfo=None)
        )


def test_timestamps_use_the_source_clock() -> None:
    crew_clock = T0 + timedelta(minutes=1, seconds=30)  # 30 s before the server got it
    state, steps = run([ALERT, ACK, Arrive(by=CREW, at=crew_clock), DONE])
    assert state.alerted_at == T0
    assert state.acknowledged_at == T0 + timedelta(minutes=1)
    assert state.arrived_at == crew_clock
    assert state.handed_over_at == T0 + timedelta(minutes=3)
    [arrival] = steps[2]
    assert isinstance(arrival, RecordEvent)
    assert arrival.occurred_at == crew_clock
    assert arrival.data["lead_time_s"] == 90


def test_a_source_clock_a_little_ahead_is_trusted() -> None:
    ahead = T0 + timedelta(minutes=1, seconds=299)  # now is T0 + 1 min; skew limit 5 min
    state, _ = run([ALERT, Arrive(by=CREW, at=ahead)])
    assert state.arrived_at == ahead


def test_effects_carry_the_data_the_metrics_read() -> None:
    _, steps = run([ALERT])
    grant, alerted = steps[0]
    assert grant == GrantAccess(hospital_id="H-GULOU")
    assert alerted == RecordEvent(
        kind=EventKind.CENTRE_ALERTED,
        occurred_at=T0,
        data={"hospital_id": "H-GULOU", "by": {"role": "dispatcher", "id": "disp-3"}},
    )


def test_reroute_revokes_the_old_centre_and_remembers_where() -> None:
    state, steps = run([ALERT, ACK, REROUTE])
    assert steps[-1] == (RevokeAccess(hospital_id="H-GULOU", reason="re-routed to H-ZHONGDA"),)
    assert not state.sees_patient
    assert state.rerouted_to == "H-ZHONGDA"
    assert state.rerouted_at == T0 + timedelta(minutes=2)


def test_sent_back_after_reroute_starts_a_fresh_handover() -> None:
    state, _ = run([ALERT, ActivateTeam(team=Team.CATH_LAB, by=ED), REROUTE, ALERT])
    assert state.phase is Phase.ALERTED
    assert state.alerted_at == T0 + timedelta(minutes=3)
    assert state.acknowledged_at is None
    assert state.teams == ()
    assert state.sees_patient


SEES: list[tuple[list[Event], bool]] = [
    ([], False),
    ([ALERT], True),
    ([ALERT, ACK], True),
    ([ALERT, ARRIVE], True),
    ([ALERT, ARRIVE, DONE], True),  # the centre keeps its own patient's record
    ([ALERT, REROUTE], False),
]


@pytest.mark.parametrize(("events", "sees"), SEES)
def test_sight_of_the_patient(events: list[Event], sees: bool) -> None:
    assert run(events)[0].sees_patient is sees


# ---------------------------------------------------------------------------- teams


def test_centre_activating_its_team_also_acknowledges_the_alert() -> None:
    state, steps = run([ALERT, ActivateTeam(team=Team.CATH_LAB, by=ED)])
    assert state.phase is Phase.ACKNOWLEDGED
    assert kinds(steps[-1]) == ["centre_acknowledged", "team_activated"]
    team = state.team(Team.CATH_LAB)
    assert team is not None
    assert team.activated_at == team.acknowledged_at == T0 + timedelta(minutes=1)
    assert team.by == ED


def test_crew_request_waits_for_the_centre_to_confirm() -> None:
    request = ActivateTeam(team=Team.STROKE_TEAM, by=CREW)
    confirm = ActivateTeam(team=Team.STROKE_TEAM, by=ED)
    state, steps = run([ALERT, request])
    assert state.phase is Phase.ALERTED  # a crew request does not acknowledge for the ED
    team = state.team(Team.STROKE_TEAM)
    assert team is not None and team.acknowledged_at is None
    assert team.by == CREW

    state, steps = run([ALERT, request, confirm])
    team = state.team(Team.STROKE_TEAM)
    assert team is not None
    assert team.activated_at == T0 + timedelta(minutes=1)
    assert team.acknowledged_at == T0 + timedelta(minutes=2)
    assert team.by == CREW  # who asked first is kept
    assert kinds(steps[-1]) == ["centre_acknowledged", "team_activated"]
    record = steps[-1][-1]
    assert isinstance(record, RecordEvent)
    assert record.data["team"] == "stroke_team"
    assert record.data["requested_by"] == {"role": "crew", "id": "V-101"}
    assert record.data["acknowledged_at"] == (T0 + timedelta(minutes=2)).isoformat()


TEAM_REPEATS: list[tuple[str, list[Event], list[str]]] = [
    ("crew asks twice", [ActivateTeam(team=Team.CATH_LAB, by=CREW)] * 2, []),
    ("centre activates twice", [ActivateTeam(team=Team.CATH_LAB, by=ED)] * 2, []),
    (
        "crew asks after the centre activated",
        [ActivateTeam(team=Team.CATH_LAB, by=ED), ActivateTeam(team=Team.CATH_LAB, by=CREW)],
        [],
    ),
    (
        "second team",
        [ActivateTeam(team=Team.CATH_LAB, by=ED), ActivateTeam(team=Team.TRAUMA_TEAM, by=ED)],
        ["team_activated"],
    ),
]


@pytest.mark.parametrize(("why", "events", "last"), TEAM_REPEATS)
def test_team_repeats(why: str, events: list[Event], last: list[str]) -> None:
    _, steps = run([ALERT, *events])
    assert kinds(steps[-1]) == last, why


def test_team_activated_at_the_door() -> None:
    state, steps = run([ALERT, ARRIVE, ActivateTeam(team=Team.TRAUMA_TEAM, by=ED)])
    assert state.phase is Phase.ARRIVED
    assert kinds(steps[-1]) == ["team_activated"]


# ---------------------------------------------------------------------------- lead time


LEAD: list[tuple[datetime | None, datetime | None, float | None]] = [
    (T0, T0 + timedelta(minutes=12), 720.0),
    (T0, T0, 0.0),
    (T0 + timedelta(minutes=2), T0, -120.0),  # alerted after arrival: not a pre-alert
    (None, T0, None),  # no alert at all
    (T0, None, None),  # not arrived yet
]


@pytest.mark.parametrize(("alerted", "arrived", "expected"), LEAD)
def test_lead_time(
    alerted: datetime | None, arrived: datetime | None, expected: float | None
) -> None:
    assert lead_time_s(alerted_at=alerted, arrived_at=arrived) == expected


def test_unannounced_arrival_has_no_lead_time() -> None:
    state, steps = run([ARRIVE])
    assert state.lead_time_s is None
    record = steps[0][-1]
    assert isinstance(record, RecordEvent) and record.data["lead_time_s"] is None


# ---------------------------------------------------------------------------- persistence


ROUND_TRIPS: list[list[Event]] = [
    [],
    [ALERT, ActivateTeam(team=Team.STROKE_TEAM, by=CREW)],
    [ALERT, ActivateTeam(team=Team.CATH_LAB, by=ED), ARRIVE, DONE],
    [ALERT, REROUTE],
]


@pytest.mark.parametrize("events", ROUND_TRIPS)
def test_state_round_trips_through_dict(events: list[Event]) -> None:
    state, _ = run(events)
    assert HandoverState.from_dict(state.to_dict()) == state


def test_a_cancelled_call_is_withdrawn_from_the_centre_once() -> None:
    state, steps = run([ALERT, ACK, Withdraw(by=DISPATCHER), Withdraw(by=DISPATCHER)])
    assert steps[-2] == (RevokeAccess(hospital_id="H-GULOU", reason="call cancelled"),)
    assert steps[-1] == ()
    assert state.phase is Phase.CANCELLED and not state.sees_patient
    assert HandoverState.from_dict(state.to_dict()) == state


@pytest.mark.parametrize(("events", "error"), [
    ([ALERT, ARRIVE, Withdraw(by=DISPATCHER)], IllegalTransition),  # already at the door
    ([Withdraw(by=DISPATCHER)], IllegalTransition),  # never alerted
    ([ALERT, Withdraw(by=ED)], ActorNotAllowed),  # a centre does not cancel calls
    ([ALERT, Withdraw(by=DISPATCHER), ARRIVE], IllegalTransition),  # nobody is coming
    ([ALERT, Withdraw(by=DISPATCHER), ACK], IllegalTransition),
    ([ALERT, Withdraw(by=DISPATCHER), ALERT], IllegalTransition),
])
def test_withdrawal_refused(events: list[Event], error: type[Exception]) -> None:
    with pytest.raises(error):
        run(events)


# ---------------------------------------------------------------------------- boundaries


def test_the_clock_skew_limit_is_inclusive() -> None:
    # now is T0 + 1 min in run(); MAX_CLOCK_SKEW is 5 min
    state, _ = run([ALERT, Arrive(by=CREW, at=T0 + timedelta(minutes=6))])
    assert state.arrived_at == T0 + timedelta(minutes=6)
    with pytest.raises(BadTimestamp) as info:
        run([ALERT, Arrive(by=CREW, at=T0 + timedelta(minutes=6, microseconds=1))])
    assert info.value.field == "at"
    assert info.value.message == (
        "event time 2025-03-01T02:06:00.000001+00:00 is ahead of the server clock")


ERROR_FIELDS: list[tuple[list[Event], Event, str, str]] = [
    ([], ACK, "type", "Acknowledge in phase none: only an alerted, incoming patient can be "
     "acknowledged"),
    ([ALERT], Acknowledge(by=CREW), "type", "a crew may not send Acknowledge"),
    ([ALERT], Acknowledge(by=OTHER_ED), "call_id",
     "hospital H-ZHONGDA acts on a handover to H-GULOU"),
    ([ALERT], Arrive(by=CREW, at=datetime(2025, 3, 1, 2, 0)),  # noqa: DTZ001
     "at", "event time must carry a timezone"),
    ([ALERT, ARRIVE, DONE], ALERT, "type",
     "Alert in phase handed_over: the patient has already handed over"),
    ([ALERT, REROUTE], ARRIVE, "type",
     "Arrive in phase rerouted: the patient was re-routed to H-ZHONGDA"),
    ([ALERT, Withdraw(by=DISPATCHER)], ARRIVE, "type",
     "Arrive in phase cancelled: the call was cancelled"),
    ([ALERT, ARRIVE], Withdraw(by=DISPATCHER), "type",
     "Withdraw in phase arrived: only an incoming patient's alert can be withdrawn"),
    ([ALERT], Reroute(to_hospital_id="H-GULOU", by=DISPATCHER), "type",
     "Reroute in phase alerted: cannot re-route a patient to the same centre"),
    ([ALERT, REROUTE], Reroute(to_hospital_id="H-JIANGNING", by=DISPATCHER), "type",
     "Reroute in phase rerouted: only an incoming patient can be re-routed"),
    ([ALERT, ACK], DONE, "type", "CompleteHandover in phase acknowledged: the patient has "
     "not arrived yet"),
    ([], ActivateTeam(team=Team.CATH_LAB, by=ED), "type", "ActivateTeam in phase none: teams "
     "are activated for an incoming or arrived patient"),
]


@pytest.mark.parametrize(("before", "event", "field", "message"), ERROR_FIELDS)
def test_refusals_name_the_field_and_say_why(
    before: list[Event], event: Event, field: str, message: str
) -> None:
    state, _ = run(before)
    with pytest.raises(HandoverError) as info:
        apply(state, event, now=T0 + timedelta(minutes=len(before)))
    assert (info.value.field, info.value.message) == (field, message)


def test_naive_now_names_the_field() -> None:
    with pytest.raises(BadTimestamp) as info:
        apply(HandoverState(call_id=CALL, hospital_id="H-GULOU"), ALERT,
              now=T0.replace(tzinfo=None))
    assert (info.value.field, info.value.message) == ("now", "now must carry a timezone")


ALLOWED_ROLES: list[tuple[str, list[Event], Event, Phase]] = [
    ("admin alerts", [], Alert(by=Actor(role=Role.ADMIN, id="root")), Phase.ALERTED),
    ("admin re-routes", [ALERT],
     Reroute(to_hospital_id="H-X", by=Actor(role=Role.ADMIN, id="root")), Phase.REROUTED),
    ("crew re-routes", [ALERT], Reroute(to_hospital_id="H-X", by=CREW), Phase.REROUTED),
    ("admin withdraws", [ALERT], Withdraw(by=Actor(role=Role.ADMIN, id="root")),
     Phase.CANCELLED),
    ("dispatcher asks for a team", [ALERT],
     ActivateTeam(team=Team.NEONATAL, by=DISPATCHER), Phase.ALERTED),
    ("crew completes", [ALERT, ARRIVE], CompleteHandover(by=CREW), Phase.HANDED_OVER),
    ("withdrawn while alerted", [ALERT], Withdraw(by=DISPATCHER), Phase.CANCELLED),
]


@pytest.mark.parametrize(("why", "before", "event", "phase"), ALLOWED_ROLES)
def test_roles_allowed_to_send(why: str, before: list[Event], event: Event, phase: Phase) -> None:
    state, _ = run([*before, event])
    assert state.phase is phase, why


def test_a_re_routed_patient_cannot_be_re_routed_again_from_here() -> None:
    state, _ = run([ALERT, REROUTE])
    with pytest.raises(IllegalTransition):
        apply(state, Reroute(to_hospital_id="H-JIANGNING", by=DISPATCHER), now=T0)
    assert apply(state, REROUTE, now=T0) == (state, ())


def test_team_records_carry_when_and_who() -> None:
    request = ActivateTeam(team=Team.STROKE_TEAM, by=CREW)
    other = ActivateTeam(team=Team.CATH_LAB, by=CREW)
    confirm = ActivateTeam(team=Team.STROKE_TEAM, by=ED)
    state, steps = run([ALERT, request, other, confirm])
    asked, confirmed = steps[1][0], steps[3][-1]
    assert asked == RecordEvent(
        kind=EventKind.TEAM_ACTIVATED,
        occurred_at=T0 + timedelta(minutes=1),
        data={
            "hospital_id": "H-GULOU",
            "by": {"role": "crew", "id": "V-101"},
            "team": "stroke_team",
            "activated_at": (T0 + timedelta(minutes=1)).isoformat(),
            "requested_by": {"role": "crew", "id": "V-101"},
            "acknowledged_at": None,
        },
    )
    assert isinstance(confirmed, RecordEvent)
    assert confirmed.occurred_at == T0 + timedelta(minutes=3)
    assert confirmed.data["by"] == {"role": "hospital", "id": "H-GULOU"}
    assert confirmed.data["activated_at"] == (T0 + timedelta(minutes=1)).isoformat()
    # confirming one team leaves the other crew request waiting, in its place
    assert [(t.team, t.acknowledged_at) for t in state.teams] == [
        (Team.STROKE_TEAM, T0 + timedelta(minutes=3)),
        (Team.CATH_LAB, None),
    ]
    assert state.team(Team.TRAUMA_TEAM) is None


def test_arrival_records_the_lead_time_and_who_declared_it() -> None:
    _, steps = run([ALERT, ACK, Arrive(by=ED)])
    assert steps[-1] == (RecordEvent(
        kind=EventKind.AT_DESTINATION,
        occurred_at=T0 + timedelta(minutes=2),
        data={"hospital_id": "H-GULOU", "by": {"role": "hospital", "id": "H-GULOU"},
              "lead_time_s": 120.0},
    ),)


def test_to_dict_is_the_stored_form() -> None:
    state, _ = run([ALERT, ActivateTeam(team=Team.CATH_LAB, by=ED), ARRIVE, DONE])
    minute = [(T0 + timedelta(minutes=i)).isoformat() for i in range(4)]
    assert state.to_dict() == {
        "call_id": str(CALL),
        "hospital_id": "H-GULOU",
        "phase": "handed_over",
        "alerted_at": minute[0],
        "acknowledged_at": minute[1],
        "arrived_at": minute[2],
        "handed_over_at": minute[3],
        "rerouted_at": None,
        "rerouted_to": None,
        "teams": [{"team": "cath_lab", "activated_at": minute[1],
                   "by": {"role": "hospital", "id": "H-GULOU"}, "acknowledged_at": minute[1]}],
        "lead_time_s": 120.0,
    }
    rerouted = run([ALERT, REROUTE])[0].to_dict()
    assert (rerouted["rerouted_at"], rerouted["rerouted_to"]) == (minute[1], "H-ZHONGDA")


def test_a_stored_state_without_optional_keys_loads() -> None:
    stored = {"call_id": str(CALL), "hospital_id": "H-GULOU", "phase": "alerted",
              "alerted_at": T0.isoformat()}
    assert HandoverState.from_dict(stored) == HandoverState(
        call_id=CALL, hospital_id="H-GULOU", phase=Phase.ALERTED, alerted_at=T0)


def test_a_stored_team_without_its_activation_time_is_refused() -> None:
    stored = run([ALERT, ActivateTeam(team=Team.CATH_LAB, by=ED)])[0].to_dict()
    stored["teams"][0]["activated_at"] = None
    with pytest.raises(HandoverError) as info:
        HandoverState.from_dict(stored)
    assert info.value.message == "missing timestamp in a stored handover state"


def test_every_record_carries_the_event_time() -> None:
    state, steps = run([ALERT, ACK, ARRIVE, DONE])
    at = [T0 + timedelta(minutes=i) for i in range(4)]
    assert [e.occurred_at for step in steps for e in step if isinstance(e, RecordEvent)] == at
    _, by_team = run([ALERT, ActivateTeam(team=Team.CATH_LAB, by=ED)])
    assert [e.occurred_at for e in by_team[-1] if isinstance(e, RecordEvent)] == [at[1], at[1]]
    _, unannounced = run([ARRIVE])
    assert unannounced[0][0] == GrantAccess(hospital_id="H-GULOU")
