"""Booked non-emergency transport: planned onto the fleet, dispatched when due."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from dispatch.auth import Principal
from dispatch.db import bookings as booking_db
from dispatch.db import calls as call_db
from dispatch.db.events import NewEvent, append_events
from dispatch.domain import CallStatus, EventKind, Role
from dispatch.flows.candidates import candidates
from dispatch.flows.claim import Option, after_claim, claim_first, options_of
from dispatch.geo.scheduling import BookedTrip, Booking, NetVehicle, plan_booking
from dispatch.runtime import Runtime
from dispatch.schemas import BookingIn
from dispatch.views import parse_ts


async def plan(*, rt: Runtime, call_id: UUID, booking: BookingIn, now: datetime) -> None:
    """Plan a non-emergency booking onto the fleet around trips already booked."""
    places = await rt.places.get()
    model = rt.eta.model
    async with rt.pool.acquire() as conn, conn.transaction():
        call = await call_db.get_call(conn=conn, call_id=call_id, for_update=True)
        assert call is not None
        if call["lon"] is None:
            return
        pickup = (call["lon"], call["lat"])
        dest = (booking.dest_lon if booking.dest_lon is not None else pickup[0],
                booking.dest_lat if booking.dest_lat is not None else pickup[1])
        fleet = [
            NetVehicle(vehicle_id=r["id"], lon=r["lon"], lat=r["lat"], trips=[
                BookedTrip(call_id=str(t["call_id"]), start=parse_ts(t["start"]),
                           end=parse_ts(t["end"]), end_lon=t["end_lon"], end_lat=t["end_lat"],
                           start_lon=t["start_lon"], start_lat=t["start_lat"])
                for t in r["trips"]])
            for r in await booking_db.net_fleet(conn=conn, now=now)
        ]

        def travel(a_lon: float, a_lat: float, b_lon: float, b_lat: float) -> float:
            return model.eta_s(from_lon=a_lon, from_lat=a_lat, to_lon=b_lon, to_lat=b_lat,
                               area_type=places.area_type_at(b_lon, b_lat), at=now)

        planned = plan_booking(
            booking=Booking(call_id=str(call_id), lon=pickup[0], lat=pickup[1],
                            dest_lon=dest[0], dest_lat=dest[1],
                            window_start=booking.window_start, window_end=booking.window_end),
            fleet=fleet, travel_s=travel, service_s=rt.settings.bookings.booking_service_s, now=now)
        if planned is None:
            await append_events(conn=conn, events=[NewEvent(
                EventKind.QUEUED, now, call_id,
                data={"reason": "no non-emergency vehicle can make the booked window"})])
            return
        plan = planned.to_dict(zone=rt.settings.display.display_timezone)
        await booking_db.insert_trip(
            conn=conn, call_id=call_id, vehicle_id=planned.vehicle_id,
            depart_at=planned.depart_at, pickup_at=planned.pickup_at,
            dropoff_at=planned.dropoff_at, pickup=pickup, dest=dest, plan=plan)
        await append_events(conn=conn, events=[NewEvent(
            EventKind.BOOKED, now, call_id, planned.vehicle_id, data=plan)])


async def dispatch_due(*, rt: Runtime, now: datetime) -> int:
    """Dispatch planned bookings whose vehicle must leave now; return how many."""
    scheduler = Principal(subject="booking-scheduler", role=Role.DISPATCHER)
    async with rt.pool.acquire() as conn:
        due = await booking_db.due_trips(conn=conn, until=now)
    done = 0
    for trip in due:
        claimed = None
        async with rt.pool.acquire() as conn, conn.transaction():
            call = await call_db.get_call(conn=conn, call_id=trip["call_id"], for_update=True)
            if call is None or call["status"] != CallStatus.QUEUED.value:
                continue
            options: list[Option] = [(trip["vehicle_id"], None, None, ("booked vehicle",))]
            # the planned vehicle may be held up: any free one of the fleet will do
            options += options_of([r for r in await candidates(rt=rt, conn=conn, call=call,
                                                                now=now)
                                   if r.vehicle_id != trip["vehicle_id"]])
            claimed = await claim_first(conn=conn, call=call, options=options,
                                        principal=scheduler, now=now,
                                        expect=[CallStatus.QUEUED.value],
                                        note="booked non-emergency transport")
            if claimed is not None:
                await booking_db.set_trip_status(conn=conn, call_id=trip["call_id"],
                                                 status="dispatched")
        if claimed is not None:
            await after_claim(rt=rt, call_id=trip["call_id"], vehicle_id=claimed, now=now)
            done += 1
    return done
