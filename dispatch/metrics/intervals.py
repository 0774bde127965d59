"""One call's timeline -> its intervals and pass/fail flags (pure; the reference for the SQL path).

Edge-case rules (the SQL in `queries.py` and the call_clocks fold of migration 0007 implement
exactly these; tests hold both to them):

1. Duplicates and order. For each (vehicle, kind) the earliest `occurred_at` counts, so
   events reported late, twice or out of order give the same answer as a clean timeline.
   Call-level clocks (call_received, call_answered, cancelled) take the earliest event of
   that kind on the call, whatever its vehicle. The centre clocks (centre_alerted,
   team_activated) take the earliest event at the centre the patient reached (the call's
   destination): an alert to a centre later dropped by re-routing prepared nobody there.
   An event naming no centre counts for any.
2. Source clock earlier than the dispatch order. A vehicle event (departed ... handover)
   whose `occurred_at` precedes that vehicle's `dispatched` comes from a wrong tablet clock.
   We *repair* it with our own clock: the earliest `received_at` of that kind, which can
   only be late, never early, so the error counts against the centre, not for it. If even
   our receipt precedes the order (the crew was rolling before the order was recorded,
   e.g. a radio order), the time is *clamped* to the dispatch order (interval 0 s).
   Every repair or clamp is counted in `clock_repairs`.
3. Any other interval whose end precedes its start (two source clocks disagreeing) is
   excluded (None), never clamped, so it cannot flatter a percentile.
4. Several vehicles. A vehicle `unassigned` before it departed was stood down and is never
   counted. The *counted* vehicle of a call is the first-dispatched of the others (earliest
   `dispatched`, ties by vehicle id): turnout, the 3-minute departure, station and vehicle
   attribution use it. Response and travel use the *first-arriving* vehicle (earliest
   on_scene); on-scene, transport, offload and the pathway arrival use the *transporting*
   vehicle (earliest left_scene). Processing runs to the first dispatch order of any
   vehicle (stood down or not): it measures the call-taker, not the crew.
5. Calls without a departure. An emergency call with a counted vehicle but no departure is
   in the 3-minute denominator as a failure, unless the call was cancelled within the
   limit (counted from the same start); a call cancelled after the limit had already
   failed. A call with no counted vehicle (never dispatched, or every vehicle stood down)
   is not in the denominator, nor is one whose limit has not yet run out at the report's
   `as_of` (it can still depart in time).
6. Non-emergency pick-up is on time when the first vehicle is on scene no later than
   `booked_to` plus the grace; arriving early is on time (the crew waits). No arrival counts
   as late unless the booking was cancelled before the window closed, or the window (plus
   grace) has not yet closed at the report's `as_of` (not judged yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from dispatch.domain import Acuity, Capability, EventKind, Pathway, TransportClass

DepartureFrom = Literal["dispatched", "answered"]

# Vehicle clocks in chain order; each may need the rule-2 repair against `dispatched`.
VEHICLE_CLOCKS: tuple[EventKind, ...] = (
    EventKind.DEPARTED,
    EventKind.ON_SCENE,
    EventKind.PATIENT_CONTACT,
    EventKind.LEFT_SCENE,
    EventKind.AT_DESTINATION,
    EventKind.HANDOVER,
)

# Interval names, in report order. Every one is in seconds.
INTERVALS: tuple[str, ...] = (
    "call_response_s",
    "processing_s",
    "turnout_s",
    "departure_s",
    "response_s",
    "travel_s",
    "on_scene_s",
    "transport_s",
    "offload_s",
    "prealert_lead_s",
    "team_lead_s",
    "fmc_to_destination_s",
)

# Time-critical findings that must go straight to a centre with the capability.
# STEMI -> primary PCI centre: 2017 ESC STEMI guideline (FMC-to-wire <= 120 min, bypass
# non-PCI hospitals) and China Chest Pain Centre accreditation standard (2015).
# LVO -> thrombectomy-capable centre: AHA/ASA 2019 acute ischaemic stroke guideline
# (EMS triage to an endovascular-capable centre) and China stroke centre standard (2019).
DIRECT_CAPABILITY: tuple[tuple[str, Capability], ...] = (
    ("stemi", Capability.PCI),
    ("lvo", Capability.THROMBECTOMY),
)


@dataclass(frozen=True, slots=True)
class IndicatorConfig:
    """The window boundaries and targets the indicators are measured against."""

    # The 3-minute departure starts at the dispatch order by default; some centres count
    # from the answer (mission, "The call chain and its clocks").
    departure_from: DepartureFrom = "dispatched"
    # China national target for 2025 (2020 guidance on prehospital care): depart <= 180 s,
    # rate >= 95%; answer <= 10 s, rate >= 95%.
    departure_limit_s: float = 180.0
    answer_limit_s: float = 10.0
    departure_rate_target: float = 0.95
    answer_rate_target: float = 0.95
    # Response (answered -> on scene) targets; 480 s is NFPA 1710 (2020) ALS arrival.
    response_targets_s: tuple[float, ...] = (480.0, 720.0)
    # NFPA 1710 (2020): turnout 60 s, first-unit travel 240 s, at the 90th percentile.
    turnout_target_s: float = 60.0
    travel_target_s: float = 240.0
    # NFPA 1221 (2019): process the call within 60 s at the 90th percentile.
    processing_target_s: float = 60.0
    # Centre policy for non-emergency bookings: on scene no later than booked_to + grace.
    pickup_grace_s: float = 0.0
    # Periods (hour/day/month) are cut in the centre's local time.
    time_zone: str = "Asia/Shanghai"
    departure_classes: tuple[TransportClass, ...] = (TransportClass.EMERGENCY,)
    # The moment the report is read at (rules 5 and 6): a departure or pick-up still able
    # to be on time then is not judged yet. None judges everything (a closed past period).
    as_of: datetime | None = None

    def targets(self) -> tuple[tuple[str, float], ...]:
        """(interval, target seconds) pairs whose share-within the report shows."""
        return (
            ("call_response_s", self.answer_limit_s),
            ("processing_s", self.processing_target_s),
            ("turnout_s", self.turnout_target_s),
            ("departure_s", self.departure_limit_s),
            *(("response_s", t) for t in self.response_targets_s),
            ("travel_s", self.travel_target_s),
        )

    def targets_of(self, interval: str) -> tuple[float, ...]:
        """The target seconds whose share-within the report shows for one interval."""
        return tuple(target for name, target in self.targets() if name == interval)


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One row of `events` as the indicators need it."""

    kind: str
    occurred_at: datetime
    received_at: datetime
    vehicle_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallRow:
    """The columns of `calls` (and its destination) the indicators group and judge by."""

    call_id: str
    received_at: datetime
    acuity: Acuity
    transport_class: TransportClass
    pathway: Pathway | None = None
    district_id: str | None = None
    booked_from: datetime | None = None
    booked_to: datetime | None = None
    flags: frozenset[str] = frozenset()  # triage->'flags' entries that are true
    destination_capabilities: frozenset[str] = frozenset()
    destination_id: str | None = None  # the centre the patient goes to (reached, on arrival)


@dataclass(frozen=True, slots=True)
class CallMeasures:
    """Everything one call contributes to the indicators. None = not measured."""

    call: CallRow
    station_id: str | None
    vehicle_id: str | None
    cancelled: bool
    clock_repairs: int
    call_response_s: float | None
    processing_s: float | None
    turnout_s: float | None
    departure_s: float | None
    response_s: float | None
    travel_s: float | None
    on_scene_s: float | None
    transport_s: float | None
    offload_s: float | None
    prealert_lead_s: float | None
    team_lead_s: float | None
    fmc_to_destination_s: float | None
    # pass/fail flags: None = not in that rate's denominator
    answered_in_time: bool | None
    departed_in_time: bool | None
    prealerted: bool | None
    direct_to_capable: bool | None
    pickup_on_time: bool | None


@dataclass(frozen=True, slots=True)
class _Vehicle:
    vehicle_id: str
    dispatched: datetime | None
    station_id: str | None
    stood_down: bool
    clocks: Mapping[EventKind, datetime]  # repaired effective times


def _first(times: Iterable[datetime]) -> datetime | None:
    return min(times, default=None)


def _span(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from start to end; None if either is missing or end precedes start (rule 3)."""
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def _vehicles(events: Iterable[TimelineEvent]) -> tuple[list[_Vehicle], int]:
    """Per-vehicle effective clocks (rules 1 and 2) and the number of repairs made."""
    occurred: dict[str, dict[str, datetime]] = {}
    received: dict[str, dict[str, datetime]] = {}
    stations: dict[str, list[str]] = {}
    for e in events:
        if e.vehicle_id is None:
            continue
        occ = occurred.setdefault(e.vehicle_id, {})
        rec = received.setdefault(e.vehicle_id, {})
        occ[e.kind] = min(occ.get(e.kind, e.occurred_at), e.occurred_at)
        rec[e.kind] = min(rec.get(e.kind, e.received_at), e.received_at)
        if e.kind == EventKind.DISPATCHED and e.data.get("station_id") is not None:
            stations.setdefault(e.vehicle_id, []).append(str(e.data["station_id"]))
    vehicles: list[_Vehicle] = []
    repairs = 0
    for vid, occ in occurred.items():
        dispatched = occ.get(EventKind.DISPATCHED)
        clocks: dict[EventKind, datetime] = {}
        for kind in VEHICLE_CLOCKS:
            at = occ.get(kind)
            if at is None:
                continue
            if dispatched is not None and at < dispatched:
                at = max(received[vid][kind], dispatched)
                repairs += 1
            clocks[kind] = at
        stood_down = EventKind.UNASSIGNED in occ and EventKind.DEPARTED not in occ
        station = min(stations[vid]) if vid in stations else None
        vehicles.append(_Vehicle(vid, dispatched, station, stood_down, clocks))
    return vehicles, repairs


def _pick(vehicles: list[_Vehicle], kind: EventKind) -> _Vehicle | None:
    """The vehicle with the earliest effective `kind` clock (ties by vehicle id)."""
    having = [v for v in vehicles if kind in v.clocks]
    return min(having, key=lambda v: (v.clocks[kind], v.vehicle_id), default=None)


def _departed_in_time(
    *,
    call: CallRow,
    counted: _Vehicle | None,
    start: datetime | None,
    cancelled: datetime | None,
    config: IndicatorConfig,
) -> tuple[bool | None, float | None]:
    """(pass/fail or None if out of the denominator, departure seconds) by rule 5."""
    if call.transport_class not in config.departure_classes or counted is None or start is None:
        return None, None
    departed = counted.clocks.get(EventKind.DEPARTED)
    if departed is not None:
        seconds = _span(start, departed)
        return (None, None) if seconds is None else (seconds <= config.departure_limit_s, seconds)
    if cancelled is not None and (cancelled - start).total_seconds() <= config.departure_limit_s:
        return None, None
    as_of = config.as_of
    if as_of is not None and (as_of - start).total_seconds() <= config.departure_limit_s:
        return None, None  # still within the limit: it can depart in time
    return False, None


def _pickup_on_time(
    *, call: CallRow, on_scene: datetime | None, cancelled: datetime | None, config: IndicatorConfig
) -> bool | None:
    """Non-emergency booked pick-up judged by rule 6; None when not a booked transport."""
    if call.transport_class != TransportClass.NON_EMERGENCY or call.booked_to is None:
        return None
    deadline = call.booked_to + timedelta(seconds=config.pickup_grace_s)
    if on_scene is not None:
        return on_scene <= deadline
    if cancelled is not None and cancelled <= deadline:
        return None
    if config.as_of is not None and config.as_of <= deadline:
        return None  # the window is still open: the vehicle can still be on time
    return False


def _at_destination(event: TimelineEvent, destination_id: str | None) -> bool:
    """Whether a centre event (alert, team) was at the call's destination (rule 1)."""
    hospital = event.data.get("hospital_id")
    return hospital is None or hospital == destination_id


def _direct_to_capable(*, call: CallRow, arrival: datetime | None) -> bool | None:
    """STEMI/LVO patients who arrived: did the destination have every capability they need?"""
    needed = {cap for flag, cap in DIRECT_CAPABILITY if flag in call.flags}
    if not needed or arrival is None:
        return None
    return needed <= call.destination_capabilities


def measure_call(
    *, call: CallRow, events: Iterable[TimelineEvent], config: IndicatorConfig
) -> CallMeasures:
    """Compute one call's intervals and pass/fail flags from its timeline (rules above)."""
    events = list(events)

    def call_clock(kind: EventKind) -> datetime | None:
        return _first(e.occurred_at for e in events if e.kind == kind)

    def centre_clock(kind: EventKind) -> datetime | None:
        return _first(e.occurred_at for e in events
                      if e.kind == kind and _at_destination(e, call.destination_id))

    received = call_clock(EventKind.CALL_RECEIVED)
    answered = call_clock(EventKind.CALL_ANSWERED)
    cancelled = call_clock(EventKind.CANCELLED)
    alerted = centre_clock(EventKind.CENTRE_ALERTED)
    team = centre_clock(EventKind.TEAM_ACTIVATED)
    call_handover = _first(
        e.occurred_at for e in events if e.kind == EventKind.HANDOVER and e.vehicle_id is None
    )

    vehicles, repairs = _vehicles(events)
    first_order = _first(v.dispatched for v in vehicles if v.dispatched is not None)
    counted = min(
        (v for v in vehicles if v.dispatched is not None and not v.stood_down),
        key=lambda v: (v.dispatched, v.vehicle_id),
        default=None,
    )
    first_arriving = _pick(vehicles, EventKind.ON_SCENE)
    transporting = _pick(vehicles, EventKind.LEFT_SCENE)
    on_scene = first_arriving.clocks[EventKind.ON_SCENE] if first_arriving else None
    contact = _first(
        v.clocks[EventKind.PATIENT_CONTACT]
        for v in vehicles
        if EventKind.PATIENT_CONTACT in v.clocks
    )
    t_clocks = transporting.clocks if transporting else {}
    arrival = t_clocks.get(EventKind.AT_DESTINATION)
    handover = t_clocks.get(EventKind.HANDOVER, call_handover)

    start = (
        (counted.dispatched if counted else None)
        if config.departure_from == "dispatched"
        else (answered if counted else None)
    )
    departed_ok, departure_s = _departed_in_time(
        call=call, counted=counted, start=start, cancelled=cancelled, config=config
    )
    call_response = _span(received, answered)
    prealerted = None
    prealert_lead = None
    if call.pathway is not None and arrival is not None:
        prealerted = alerted is not None and alerted < arrival
        prealert_lead = _span(alerted, arrival) if prealerted else None

    return CallMeasures(
        call=call,
        station_id=counted.station_id if counted else None,
        vehicle_id=counted.vehicle_id if counted else None,
        cancelled=cancelled is not None,
        clock_repairs=repairs,
        call_response_s=call_response,
        processing_s=_span(answered, first_order),
        turnout_s=_span(counted.dispatched, counted.clocks.get(EventKind.DEPARTED))
        if counted
        else None,
        departure_s=departure_s,
        response_s=_span(answered, on_scene),
        travel_s=_span(first_arriving.clocks.get(EventKind.DEPARTED), on_scene)
        if first_arriving
        else None,
        on_scene_s=_span(t_clocks.get(EventKind.ON_SCENE), t_clocks.get(EventKind.LEFT_SCENE)),
        transport_s=_span(t_clocks.get(EventKind.LEFT_SCENE), arrival),
        offload_s=_span(arrival, handover),
        prealert_lead_s=prealert_lead,
        # signed: positive = the team was activated that many seconds before arrival
        team_lead_s=(arrival - team).total_seconds()
        if call.pathway is not None and arrival is not None and team is not None
        else None,
        fmc_to_destination_s=_span(contact, arrival) if call.pathway is not None else None,
        answered_in_time=None if call_response is None else call_response <= config.answer_limit_s,
        departed_in_time=departed_ok,
        prealerted=prealerted,
        direct_to_capable=_direct_to_capable(call=call, arrival=arrival),
        pickup_on_time=_pickup_on_time(
            call=call, on_scene=on_scene, cancelled=cancelled, config=config
        ),
    )
