"""Crafted timelines with hand-computed expected measures, shared by the pure and SQL tests.

Times are seconds after the call's base time. Expected values are worked out by hand from
the rules in dispatch/metrics/intervals.py; a field not listed in `expect` is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dispatch.domain import Acuity, Pathway, TransportClass
from dispatch.metrics.intervals import CallRow, IndicatorConfig, TimelineEvent

BASE = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
ANSWERED = IndicatorConfig(departure_from="answered")


@dataclass(frozen=True)
class E:
    """An event: kind at `at` seconds (source clock), received `recv` seconds (default = at)."""

    kind: str
    at: float
    vehicle: str | None = None
    recv: float | None = None
    station: str | None = None
    hospital: str | None = None  # the centre a centre_alerted / team_activated event is at

    def data(self) -> dict[str, str]:
        """The event's data as the service records it."""
        out = {"station_id": self.station, "hospital_id": self.hospital}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Case:
    name: str
    events: tuple[E, ...]
    expect: dict[str, Any]
    transport_class: TransportClass = TransportClass.EMERGENCY
    pathway: Pathway | None = None
    acuity: Acuity = Acuity.II
    booked_to_s: float | None = None
    flags: frozenset[str] = frozenset()
    destination: str | None = None  # hospital id: "H_PCI" (pci) or "H_GEN" (none)
    config: IndicatorConfig = field(default_factory=IndicatorConfig)


CAPABILITIES = {"H_PCI": frozenset({"pci"}), "H_GEN": frozenset()}


def call_row(*, case: Case, base: datetime) -> CallRow:
    """The CallRow a case describes, its call received at `base`."""
    return CallRow(
        call_id=case.name,
        received_at=base,
        acuity=case.acuity,
        transport_class=case.transport_class,
        pathway=case.pathway,
        district_id=case.name,
        booked_to=None if case.booked_to_s is None else base + timedelta(seconds=case.booked_to_s),
        flags=case.flags,
        destination_capabilities=CAPABILITIES.get(case.destination or "", frozenset()),
        destination_id=case.destination,
    )


def timeline(*, case: Case, base: datetime) -> list[TimelineEvent]:
    """The TimelineEvents a case describes, relative to `base`."""
    return [
        TimelineEvent(
            kind=e.kind,
            occurred_at=base + timedelta(seconds=e.at),
            received_at=base + timedelta(seconds=e.at if e.recv is None else e.recv),
            vehicle_id=e.vehicle,
            data=e.data(),
        )
        for e in case.events
    ]


CALL_START = (E("call_received", 0), E("call_answered", 6))

# A full chest-pain run: one vehicle, pre-alerted, team activated, to a PCI centre.
FULL = (
    *CALL_START,
    E("triaged", 40),
    E("dispatched", 60, "V1", station="S1"),
    E("departed", 150, "V1"),
    E("on_scene", 500, "V1"),
    E("patient_contact", 530, "V1"),
    E("centre_alerted", 1200),
    E("left_scene", 1100, "V1"),
    E("team_activated", 1300),
    E("at_destination", 1700, "V1"),
    E("handover", 1900, "V1"),
    E("cleared", 2500, "V1"),
)
FULL_EXPECT: dict[str, Any] = {
    "call_response_s": 6.0,
    "processing_s": 54.0,
    "turnout_s": 90.0,
    "departure_s": 90.0,
    "response_s": 494.0,
    "travel_s": 350.0,
    "on_scene_s": 600.0,
    "transport_s": 600.0,
    "offload_s": 200.0,
    "prealert_lead_s": 500.0,
    "team_lead_s": 400.0,
    "fmc_to_destination_s": 1170.0,
    "answered_in_time": True,
    "departed_in_time": True,
    "prealerted": True,
    "direct_to_capable": True,
    "pickup_on_time": None,
    "cancelled": False,
    "clock_repairs": 0,
    "station_id": "S1",
    "vehicle_id": "V1",
}


def _with(events: tuple[E, ...], *, drop: str = "", add: tuple[E, ...] = ()) -> tuple[E, ...]:
    return tuple(e for e in events if e.kind != drop) + add


CASES: tuple[Case, ...] = (
    Case(
        "full_chest_pain",
        FULL,
        FULL_EXPECT,
        pathway=Pathway.CHEST_PAIN,
        flags=frozenset({"stemi"}),
        destination="H_PCI",
    ),
    # the same call reported backwards with a retransmitted (later) departure: same answer
    Case(
        "out_of_order_and_duplicates",
        (*reversed(FULL), E("departed", 400, "V1", recv=2600)),
        FULL_EXPECT,
        pathway=Pathway.CHEST_PAIN,
        flags=frozenset({"stemi"}),
        destination="H_PCI",
    ),
    # some centres count the 3 minutes from the answer: 150 - 6
    Case(
        "departure_from_answered",
        FULL,
        {"departure_s": 144.0, "departed_in_time": True, "turnout_s": 90.0},
        config=ANSWERED,
    ),
    Case(
        "departure_from_answered_late",
        _with(FULL, drop="departed", add=(E("departed", 190, "V1"),)),
        {"departure_s": 184.0, "departed_in_time": False, "turnout_s": 130.0},
        config=ANSWERED,
    ),
    # counted from the answer, but the call has no answer event: no start, not judged
    Case(
        "departure_from_answered_never_answered",
        (E("call_received", 0), E("dispatched", 60, "V1", station="S1")),
        {"departed_in_time": None, "departure_s": None},
        config=ANSWERED,
    ),
    # counted from the answer, the crew rolled (source clock) before the answer: excluded
    Case(
        "departure_from_answered_before_the_answer",
        (E("call_received", 0), E("dispatched", 2, "V1", station="S1"),
         E("departed", 4, "V1"), E("call_answered", 6)),
        {"departed_in_time": None, "departure_s": None, "turnout_s": 2.0},
        config=ANSWERED,
    ),
    # 60 -> 250 is 190 s: over the 180 s limit
    Case(
        "late_departure",
        _with(FULL, drop="departed", add=(E("departed", 250, "V1"),)),
        {"turnout_s": 190.0, "departure_s": 190.0, "departed_in_time": False, "travel_s": 250.0},
    ),
    # exactly 180 s is within the limit (<=)
    Case(
        "departure_at_limit",
        _with(FULL, drop="departed", add=(E("departed", 240, "V1"),)),
        {"departure_s": 180.0, "departed_in_time": True},
    ),
    # one second over the limit (181 s): a failure
    Case(
        "departure_just_over_limit",
        _with(FULL, drop="departed", add=(E("departed", 241, "V1"),)),
        {"departure_s": 181.0, "turnout_s": 181.0, "departed_in_time": False},
    ),
    # never departed, never cancelled: in the denominator as a failure
    Case(
        "no_departure",
        (*CALL_START, E("dispatched", 60, "V1", station="S1")),
        {
            "departed_in_time": False,
            "departure_s": None,
            "turnout_s": None,
            "response_s": None,
            "vehicle_id": "V1",
        },
    ),
    # cancelled 40 s after the order, before the limit: out of the denominator
    Case(
        "cancelled_within_limit",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("cancelled", 100)),
        {"departed_in_time": None, "cancelled": True, "processing_s": 54.0},
    ),
    # cancelled exactly 180 s after the order: the limit had not run out, not judged
    Case(
        "cancelled_at_limit",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("cancelled", 240)),
        {"departed_in_time": None, "departure_s": None, "cancelled": True},
    ),
    # cancelled 181 s after the order with no departure: it had already failed
    Case(
        "cancelled_just_after_limit",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("cancelled", 241)),
        {"departed_in_time": False, "departure_s": None, "cancelled": True},
    ),
    # cancelled 240 s after the order with no departure: it had already failed
    Case(
        "cancelled_after_limit",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("cancelled", 300)),
        {"departed_in_time": False, "cancelled": True},
    ),
    # cancelled after departing: the departure counts
    Case(
        "cancelled_after_departure",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("departed", 100, "V1"),
            E("cancelled", 300),
        ),
        {"departed_in_time": True, "departure_s": 40.0, "cancelled": True},
    ),
    # cancelled before any dispatch: nothing but the answer is measured
    Case(
        "cancelled_before_dispatch",
        (*CALL_START, E("cancelled", 30)),
        {
            "cancelled": True,
            "processing_s": None,
            "departed_in_time": None,
            "answered_in_time": True,
            "vehicle_id": None,
            "station_id": None,
        },
    ),
    # V1 stood down before departing; V2 is the counted (first non-stood-down) vehicle;
    # V3 arrives first and transports
    Case(
        "several_vehicles",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("unassigned", 90, "V1"),
            E("dispatched", 70, "V2", station="S2"),
            E("departed", 100, "V2"),
            E("on_scene", 700, "V2"),
            E("dispatched", 75, "V3", station="S1"),
            E("departed", 120, "V3"),
            E("on_scene", 500, "V3"),
            E("left_scene", 900, "V3"),
            E("at_destination", 1500, "V3"),
            E("handover", 1620, "V3"),
        ),
        {
            "vehicle_id": "V2",
            "station_id": "S2",
            "processing_s": 54.0,
            "turnout_s": 30.0,
            "departure_s": 30.0,
            "departed_in_time": True,
            "response_s": 494.0,
            "travel_s": 380.0,
            "on_scene_s": 400.0,
            "transport_s": 600.0,
            "offload_s": 120.0,
        },
    ),
    # two vehicles ordered in the same instant: the lower vehicle id is counted
    Case(
        "dispatch_tie",
        (
            *CALL_START,
            E("dispatched", 60, "V2", station="S2"),
            E("dispatched", 60, "V1", station="S1"),
            E("departed", 300, "V1"),
            E("departed", 90, "V2"),
        ),
        {"vehicle_id": "V1", "turnout_s": 240.0, "departed_in_time": False},
    ),
    # tablet clock 30 s behind the dispatch order; we received it at 95: repaired to 95
    Case(
        "clock_before_dispatch_repaired",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("departed", 30, "V1", recv=95)),
        {"turnout_s": 35.0, "departure_s": 35.0, "departed_in_time": True, "clock_repairs": 1},
    ),
    # the same early departure reported twice: the repair uses our earliest receipt (70 s)
    Case(
        "clock_repair_uses_the_first_receipt",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"),
         E("departed", 30, "V1", recv=70), E("departed", 30, "V1", recv=90)),
        {"turnout_s": 10.0, "departure_s": 10.0, "clock_repairs": 1},
    ),
    # two vehicle clocks before the order: each repair counts
    Case(
        "two_clocks_repaired",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"),
         E("departed", 30, "V1", recv=80), E("on_scene", 50, "V1", recv=300)),
        {"turnout_s": 20.0, "travel_s": 220.0, "clock_repairs": 2},
    ),
    # departed at the very instant of the order: a 0 s turnout, nothing to repair
    Case(
        "departed_at_the_order",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("departed", 60, "V1", recv=65)),
        {"turnout_s": 0.0, "departure_s": 0.0, "departed_in_time": True, "clock_repairs": 0},
    ),
    # an order that names no station: the vehicle counts, attributed to no station
    Case(
        "dispatched_without_station",
        (*CALL_START, E("dispatched", 60, "V1"), E("departed", 100, "V1")),
        {"station_id": None, "vehicle_id": "V1", "departed_in_time": True},
    ),
    # even our receipt precedes the recorded order (rolling on a radio order): clamped to 0
    Case(
        "clock_before_dispatch_clamped",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("departed", 30, "V1", recv=50)),
        {"turnout_s": 0.0, "departure_s": 0.0, "departed_in_time": True, "clock_repairs": 1},
    ),
    # left_scene stamped before on_scene by disagreeing source clocks: on-scene excluded
    Case(
        "negative_interval_excluded",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("departed", 100, "V1"),
            E("on_scene", 500, "V1"),
            E("left_scene", 450, "V1"),
            E("at_destination", 1000, "V1"),
        ),
        {"on_scene_s": None, "transport_s": 550.0, "travel_s": 400.0, "clock_repairs": 0},
    ),
    # answered after exactly 10 s: within the target; after 11 s: over it
    Case(
        "answer_at_limit",
        (E("call_received", 0), E("call_answered", 10)),
        {"call_response_s": 10.0, "answered_in_time": True},
    ),
    Case(
        "answer_just_over_limit",
        (E("call_received", 0), E("call_answered", 11)),
        {"call_response_s": 11.0, "answered_in_time": False},
    ),
    # answered after 12 s: over the 10 s target
    Case(
        "slow_answer",
        (E("call_received", 0), E("call_answered", 12)),
        {"call_response_s": 12.0, "answered_in_time": False, "departed_in_time": None},
    ),
    # stroke, LVO, taken to a centre without thrombectomy; alerted only after arrival;
    # team activated 60 s after arrival
    Case(
        "lvo_wrong_centre_late_alert",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("departed", 100, "V1"),
            E("on_scene", 400, "V1"),
            E("patient_contact", 420, "V1"),
            E("left_scene", 900, "V1"),
            E("at_destination", 1500, "V1"),
            E("centre_alerted", 1510),
            E("team_activated", 1560),
        ),
        {
            "prealerted": False,
            "prealert_lead_s": None,
            "team_lead_s": -60.0,
            "fmc_to_destination_s": 1080.0,
            "direct_to_capable": False,
        },
        pathway=Pathway.STROKE,
        flags=frozenset({"lvo"}),
        destination="H_GEN",
    ),
    # alerted at the very instant of arrival, the team activated then too: no lead time,
    # so not pre-alerted; the team lead is 0 s
    Case(
        "alert_at_arrival",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("patient_contact", 420, "V1"),
            E("left_scene", 900, "V1"),
            E("at_destination", 1500, "V1"),
            E("centre_alerted", 1500),
            E("team_activated", 1500),
        ),
        {"prealerted": False, "prealert_lead_s": None, "team_lead_s": 0.0,
         "fmc_to_destination_s": 1080.0, "transport_s": 600.0},
        pathway=Pathway.CHEST_PAIN,
        flags=frozenset({"stemi"}),
        destination="H_PCI",
    ),
    # the full run of a patient on no pathway: no pathway clocks
    Case(
        "full_run_without_pathway",
        FULL,
        {"fmc_to_destination_s": None, "prealerted": None, "prealert_lead_s": None,
         "team_lead_s": None, "transport_s": 600.0},
    ),
    # a pathway patient never alerted: not pre-alerted; no pathway: not in the rate
    Case(
        "pathway_not_alerted",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("left_scene", 900, "V1"),
            E("at_destination", 1500, "V1"),
        ),
        {"prealerted": False, "team_lead_s": None, "fmc_to_destination_s": None},
        pathway=Pathway.TRAUMA,
    ),
    Case(
        "no_pathway",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("centre_alerted", 200),
            E("left_scene", 900, "V1"),
            E("at_destination", 1500, "V1"),
        ),
        {"prealerted": None, "prealert_lead_s": None, "direct_to_capable": None},
    ),
    # handover reported at call level (no vehicle): used for the transporting vehicle
    Case(
        "call_level_handover",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("left_scene", 900, "V1"),
            E("at_destination", 1500, "V1"),
            E("handover", 1800),
        ),
        {"offload_s": 300.0},
    ),
    # re-routed on the way: alerted (and a team activated) at H_GEN, then the patient went
    # to H_PCI, alerted at 1000 and its team at 1300; the leads count at the centre reached
    Case(
        "prealert_after_reroute",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("departed", 100, "V1"),
            E("on_scene", 400, "V1"),
            E("patient_contact", 420, "V1"),
            E("centre_alerted", 500, hospital="H_GEN"),
            E("team_activated", 520, hospital="H_GEN"),
            E("left_scene", 900, "V1"),
            E("centre_alerted", 1000, hospital="H_PCI"),
            E("team_activated", 1300, hospital="H_PCI"),
            E("at_destination", 1700, "V1"),
        ),
        {"prealerted": True, "prealert_lead_s": 700.0, "team_lead_s": 400.0,
         "direct_to_capable": True},
        pathway=Pathway.CHEST_PAIN,
        flags=frozenset({"stemi"}),
        destination="H_PCI",
    ),
    # only the dropped centre was ever alerted: the centre reached was not pre-alerted
    Case(
        "prealert_only_to_a_dropped_centre",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("left_scene", 900, "V1"),
            E("centre_alerted", 500, hospital="H_GEN"),
            E("team_activated", 520, hospital="H_GEN"),
            E("at_destination", 1700, "V1"),
        ),
        {"prealerted": False, "prealert_lead_s": None, "team_lead_s": None},
        pathway=Pathway.CHEST_PAIN,
        flags=frozenset({"stemi"}),
        destination="H_PCI",
    ),
    # non-emergency bookings: on time, late, cancelled in time, never came
    Case(
        "booking_on_time",
        (
            *CALL_START,
            E("dispatched", 60, "V1", station="S1"),
            E("departed", 2000, "V1"),
            E("on_scene", 3500, "V1"),
        ),
        {"pickup_on_time": True, "departed_in_time": None, "departure_s": None},
        transport_class=TransportClass.NON_EMERGENCY,
        acuity=Acuity.IV,
        booked_to_s=3600,
    ),
    # on scene at the very end of the booked window: on time
    Case(
        "booking_at_window_end",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("on_scene", 3600, "V1")),
        {"pickup_on_time": True},
        transport_class=TransportClass.NON_EMERGENCY,
        acuity=Acuity.IV,
        booked_to_s=3600,
    ),
    Case(
        "booking_late",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("on_scene", 3700, "V1")),
        {"pickup_on_time": False},
        transport_class=TransportClass.NON_EMERGENCY,
        acuity=Acuity.IV,
        booked_to_s=3600,
    ),
    Case(
        "booking_cancelled",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("cancelled", 3000)),
        {"pickup_on_time": None, "cancelled": True},
        transport_class=TransportClass.NON_EMERGENCY,
        acuity=Acuity.IV,
        booked_to_s=3600,
    ),
    Case(
        "booking_cancelled_at_window_end",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("cancelled", 3600)),
        {"pickup_on_time": None, "cancelled": True},
        transport_class=TransportClass.NON_EMERGENCY,
        acuity=Acuity.IV,
        booked_to_s=3600,
    ),
    # a non-emergency transport with no booked window: no pick-up to judge
    Case(
        "non_emergency_unbooked",
        (*CALL_START, E("dispatched", 60, "V1", station="S1"), E("on_scene", 3700, "V1")),
        {"pickup_on_time": None, "departed_in_time": None},
        transport_class=TransportClass.NON_EMERGENCY,
        acuity=Acuity.IV,
    ),
    Case(
        "booking_missed",
        (*CALL_START, E("dispatched", 60, "V1", station="S1")),
        {"pickup_on_time": False},
        transport_class=TransportClass.NON_EMERGENCY,
        acuity=Acuity.IV,
        booked_to_s=3600,
    ),
)
