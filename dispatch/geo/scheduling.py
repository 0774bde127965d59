"""Non-emergency transport bookings: which vehicle of the non-emergency fleet takes a booking.

The plans ask for non-emergency transport to be run separately, on its own fleet and booked
time windows (mission R5). A booking is feasible on a vehicle when the vehicle can reach the
pickup inside the window from where its previous trip ends, and can finish the ride (plus
service time) in time to reach its next booked trip. Among feasible vehicles the plan takes
the earliest pickup, then the least dead-heading (empty travel to the pickup), then the
vehicle id, the order a non-emergency coordinator applies by hand.

Model of a booked trip: the vehicle is busy from `start` to `end` and is then at
(end_lon, end_lat). When a trip's pickup point is known (`start_lon`, `start_lat`), the new
ride must leave time to drive there by `start`; when it is not, `start` is taken to include
the trip's own dead-heading, so the new ride only has to end by `start`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dispatch.domain import TransportClass
from dispatch.errors import GeoError
from dispatch.geo.reasons import Because, localised

TravelS = Callable[[float, float, float, float], float]  # (from_lon, from_lat, to_lon, to_lat)


@dataclass(frozen=True, slots=True)
class Booking:
    """A request to pick a patient up inside [window_start, window_end] and take them to dest."""

    call_id: str
    lon: float
    lat: float
    dest_lon: float
    dest_lat: float
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class BookedTrip:
    """A trip already on a vehicle's schedule."""

    call_id: str
    start: datetime
    end: datetime
    end_lon: float
    end_lat: float
    start_lon: float | None = None  # the pickup point, when known
    start_lat: float | None = None


@dataclass(frozen=True, slots=True)
class NetVehicle:
    """A non-emergency transport vehicle: where it is now and the trips booked on it."""

    vehicle_id: str
    lon: float
    lat: float
    trips: Sequence[BookedTrip]


@dataclass(frozen=True, slots=True)
class Plan:
    """The chosen vehicle and its timings for one booking."""

    call_id: str
    vehicle_id: str
    depart_at: datetime  # leaves its previous position, empty
    pickup_at: datetime
    dropoff_at: datetime  # ride and service time done, vehicle free at the destination
    deadhead_s: float
    ride_s: float
    reasons: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]  # (vehicle_id, why not) for the others

    def to_dict(self, zone: str | None = None) -> dict[str, Any]:
        """A JSON-ready dict; `why` holds the reasons in both languages, their times in
        `zone` (the centre's) when given."""
        return {
            "call_id": self.call_id,
            "vehicle_id": self.vehicle_id,
            "depart_at": self.depart_at.isoformat(),
            "pickup_at": self.pickup_at.isoformat(),
            "dropoff_at": self.dropoff_at.isoformat(),
            "deadhead_s": self.deadhead_s,
            "ride_s": self.ride_s,
            "reasons": list(self.reasons),
            "why": [localised(r, zone) for r in self.reasons],
            "rejected": [{"vehicle_id": v, "reason": r, "why": localised(r, zone)}
                         for v, r in self.rejected],
        }


@dataclass(frozen=True, slots=True)
class _Slot:
    pickup_at: datetime
    depart_at: datetime
    dropoff_at: datetime
    deadhead_s: float
    after: str | None  # call id of the trip before, if any
    before: str | None  # call id of the trip after, if any


def _aware(dt: datetime, name: str) -> None:
    """Reject naive datetimes: a schedule without a timezone is ambiguous."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise GeoError(f"{name} must carry a timezone", field=name)


def _slots(
    *,
    vehicle: NetVehicle,
    booking: Booking,
    ride_s: float,
    service_s: float,
    travel_s: TravelS,
    now: datetime | None,
) -> tuple[_Slot | None, str]:
    """The earliest feasible slot on one vehicle, or None and the reason there is none."""
    free_at: datetime | None = now  # None: planning ahead, free before its first trip
    where = (vehicle.lon, vehicle.lat)
    prev: str | None = None
    overlaps: list[str] = []
    for nxt in [*sorted(vehicle.trips, key=lambda t: t.start), None]:
        if nxt is not None and free_at is not None and nxt.end <= free_at:
            where, prev = (nxt.end_lon, nxt.end_lat), nxt.call_id
            continue  # finished before `now`: only where it left the vehicle matters
        deadhead = travel_s(where[0], where[1], booking.lon, booking.lat)
        pickup = booking.window_start
        if free_at is not None:
            pickup = max(pickup, free_at + timedelta(seconds=deadhead))
        if pickup > booking.window_end:
            break  # every later gap starts later still
        dropoff = pickup + timedelta(seconds=service_s + ride_s)
        if nxt is None:
            latest = None
        elif nxt.start_lon is not None and nxt.start_lat is not None:
            onward = travel_s(booking.dest_lon, booking.dest_lat, nxt.start_lon, nxt.start_lat)
            latest = nxt.start - timedelta(seconds=onward)
        else:
            latest = nxt.start
        if latest is None or dropoff <= latest:
            slot = _Slot(
                pickup_at=pickup,
                depart_at=pickup - timedelta(seconds=deadhead),
                dropoff_at=dropoff,
                deadhead_s=deadhead,
                after=prev,
                before=None if nxt is None else nxt.call_id,
            )
            return slot, ""
        assert nxt is not None  # latest is only set when there is a next trip
        overlaps.append(nxt.call_id)
        free_at, where, prev = nxt.end, (nxt.end_lon, nxt.end_lat), nxt.call_id
    if overlaps:
        return None, Because("booking_overlap", trips=", ".join(overlaps))
    return None, Because("booking_unreachable", window_end=booking.window_end)


def _between(slot: _Slot) -> Because:
    """Where the job sits among the vehicle's booked trips."""
    if slot.after and slot.before:
        return Because("booking_between", after=slot.after, before=slot.before)
    if slot.after:
        return Because("booking_after", after=slot.after)
    if slot.before:
        return Because("booking_before", before=slot.before)
    return Because("booking_free")


def plan_booking(
    *,
    booking: Booking,
    fleet: Sequence[NetVehicle],
    travel_s: TravelS,
    service_s: float,
    now: datetime | None = None,
) -> Plan | None:
    """The vehicle that picks up earliest inside the window without overlapping booked trips.

    `service_s` is the time spent at the two ends together (loading at the pickup, handing
    over at the destination). With `now`, a vehicle cannot leave before `now`; without it the
    booking is planned ahead and a vehicle is assumed free before its first trip.
    """
    for name in ("window_start", "window_end"):
        _aware(getattr(booking, name), name)
    if now is not None:
        _aware(now, "now")
    if booking.window_end < booking.window_start:
        raise GeoError("window_end is before window_start", field="window_end")
    if service_s < 0:
        raise GeoError("service_s must be >= 0", field="service_s")
    ride_s = travel_s(booking.lon, booking.lat, booking.dest_lon, booking.dest_lat)
    options: list[tuple[datetime, float, str, _Slot]] = []
    rejected: list[tuple[str, str]] = []
    for v in fleet:
        slot, why = _slots(vehicle=v, booking=booking, ride_s=ride_s, service_s=service_s,
                           travel_s=travel_s, now=now)
        if slot is None:
            rejected.append((v.vehicle_id, why))
        else:
            options.append((slot.pickup_at, slot.deadhead_s, v.vehicle_id, slot))
    if not options:
        return None
    options.sort(key=lambda o: o[:3])
    pickup_at, deadhead_s, vehicle_id, slot = options[0]
    for _, _, other, _ in options[1:]:
        rejected.append((other, Because("booking_later")))
    reasons = [
        Because("booking_earliest", pickup=pickup_at, feasible=len(options)),
        Because("booking_deadhead", deadhead_min=deadhead_s / 60),
        _between(slot),
    ]
    return Plan(
        call_id=booking.call_id,
        vehicle_id=vehicle_id,
        depart_at=slot.depart_at,
        pickup_at=pickup_at,
        dropoff_at=slot.dropoff_at,
        deadhead_s=deadhead_s,
        ride_s=ride_s,
        reasons=tuple(reasons),
        rejected=tuple(sorted(rejected)),
    )


def booked_later(
    *, booked_from: datetime | None, transport_class: str, now: datetime, lead_s: float
) -> bool:
    """A non-emergency booking whose window opens beyond the lead time is planned, not
    dispatched now. A booking that triage upgraded to emergency goes now, on the
    emergency fleet, whatever its window."""
    return (booked_from is not None
            and transport_class == TransportClass.NON_EMERGENCY.value
            and (booked_from - now).total_seconds() > lead_s)
