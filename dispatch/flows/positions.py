"""A vehicle's positions: a tablet's 1 Hz pings and REST reports, the ETA to its centre.

Positions are kept as the vehicle's latest (vehicles.lon/lat), not as events; consoles get
every vehicle's latest position once a second (CrewBatches), the receiving centre an `eta`
event every few seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from dispatch.auth import Principal
from dispatch.domain import Role, VehicleKind, VehicleStatus
from dispatch.errors import NotFound
from dispatch.flows.crew_batches import NO_EVENT, CrewBatches
from dispatch.flows.crew_link import CrewLink, Handled, maybe_retriage
from dispatch.geo.places import Hospital, Places
from dispatch.handover import repo
from dispatch.handover.messages import AckFrame, PositionMsg
from dispatch.runtime import Runtime

__all__ = ["crew_position", "position_reported"]


async def crew_position(
    *, rt: Runtime, crew: CrewBatches, link: CrewLink, principal: Principal,
    msg: PositionMsg, now: datetime,
) -> Handled:
    """A tablet's position: stored with the other connections' (flows.fleet.report_position,
    batched), shown to the consoles, and every few seconds an ETA to the centre."""
    principal.require(Role.CREW, Role.DISPATCHER)
    principal.require_vehicle(link.vehicle_id)
    ping = await crew.record_ping(repo.PositionSet(
        vehicle_id=link.vehicle_id, call_id=msg.call_id, lon=msg.lon, lat=msg.lat, at=msg.at))
    if not ping.exists:
        raise NotFound(f"vehicle {link.vehicle_id} does not exist", field="vehicle_id")
    if ping.row is None:
        # An older ping arriving late: the newer position stands.
        return Handled(AckFrame(msg_id=msg.msg_id, event_id=NO_EVENT))
    if ping.row.status == VehicleStatus.AVAILABLE.value:
        await rt.index.move(vehicle_id=link.vehicle_id, kind=VehicleKind(ping.row.kind),
                                 lon=msg.lon, lat=msg.lat)
    position: dict[str, Any] = {
        "vehicle_id": link.vehicle_id, "call_id": str(msg.call_id), "lon": msg.lon,
        "lat": msg.lat, "heading": msg.heading, "speed_mps": msg.speed_mps,
        "at": msg.at.isoformat()}
    if msg.call_id in link.etas:
        position["eta"] = link.etas[msg.call_id]
    crew.show_position(link.vehicle_id, position)
    event_id = NO_EVENT
    last = link.eta_sent_at.get(msg.call_id)
    if last is None or now - last >= timedelta(seconds=crew.config.eta_every_s):
        link.eta_sent_at[msg.call_id] = now
        event_id = await _publish_eta(rt, crew, link, msg, ping.row.destination_id, now,
                                      position) or NO_EVENT

    async def check() -> None:
        # A vitals change held back by the re-triage rate is looked at again here.
        await maybe_retriage(rt=rt, crew=crew, link=link, principal=principal,
                             call_id=msg.call_id, frame=None, now=now)

    return Handled(AckFrame(msg_id=msg.msg_id, event_id=event_id), (check,))


async def _publish_eta(
    rt: Runtime, crew: CrewBatches, link: CrewLink, msg: PositionMsg,
    destination_id: str | None, now: datetime, position: dict[str, Any],
) -> str | None:
    """The centre gets an `eta` event; consoles get it in the positions batch."""
    places = await rt.places.get()
    # None: no destination yet, or not this vehicle's call
    hospital = places.hospitals.get(destination_id) if destination_id is not None else None
    if hospital is None:
        link.etas.pop(msg.call_id, None)
        position.pop("eta", None)
        return None
    eta = eta_to_centre(rt, places, hospital, lon=msg.lon, lat=msg.lat, now=now)
    payload = {"kind": "eta", "call_id": str(msg.call_id), "vehicle_id": link.vehicle_id,
               **eta, "lon": msg.lon, "lat": msg.lat, "at": msg.at.isoformat()}
    # Consoles see every vehicle's latest ETA with its position in the once-a-second
    # batch rather than as events of their own: at 1,000 crews those were 200 events a
    # second to every console, as many as all other console traffic times ten.
    link.etas[msg.call_id] = eta
    crew.show_eta(link.vehicle_id, position, eta)
    # The centre's event id goes back in the position's ack.
    return await crew.publish_eta(f"hospital:{hospital.id}", payload)


def eta_to_centre(rt: Runtime, places: Places, hospital: Hospital, *, lon: float,
                  lat: float, now: datetime) -> dict[str, Any]:
    """The ETA from a point, where a vehicle was at `now`, to a centre, as screens show
    it."""
    eta_s = rt.eta.model.eta_s(from_lon=lon, from_lat=lat, to_lon=hospital.lon,
                               to_lat=hospital.lat, area_type=places.area_type_at(lon, lat),
                               at=now)
    return {"hospital_id": hospital.id, "eta_s": round(eta_s, 1),
            "expected_at": (now + timedelta(seconds=eta_s)).isoformat()}


async def position_reported(
    *, rt: Runtime, crew: CrewBatches, vehicle_id: str, call_id: UUID | None,
    destination_id: str | None, lon: float, lat: float, at: datetime, now: datetime,
) -> None:
    """A position recorded over REST (flows.fleet.report_position) joins the console's
    next `positions` message like a tablet's, with the ETA to its centre if it has one."""
    position: dict[str, Any] = {
        "vehicle_id": vehicle_id, "call_id": None if call_id is None else str(call_id),
        "lon": lon, "lat": lat, "heading": None, "speed_mps": None, "at": at.isoformat()}
    places = await rt.places.get()
    hospital = places.hospitals.get(destination_id) if destination_id else None
    if hospital is not None:
        position["eta"] = eta_to_centre(rt, places, hospital, lon=lon, lat=lat, now=now)
    crew.show_position(vehicle_id, position)
