"""Where a located call is, and which centre receives its patient.

Both run inside the caller's transaction: intake, a location fix and a re-triage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.db import calls as call_db
from dispatch.db.events import NewEvent, append_events
from dispatch.domain import EventKind
from dispatch.geo.fusion import FusedLocation
from dispatch.geo.places import Places
from dispatch.handover.destinations import (
    chosen_by_person,
    last_destination_decision,
    option_of,
    suggest_destination,
)
from dispatch.handover.prealert import destination_changed
from dispatch.runtime import Runtime
from dispatch.triage import Findings, TriageResult, choose_destination
from dispatch.triage.destination import DestinationChoice
from dispatch.views import OUT_OF_AREA_REASON


async def store_location(
    *, conn: asyncpg.Connection, call_id: UUID, location: FusedLocation, places: Places
) -> None:
    """Write a call's fused location and the district it falls in."""
    await call_db.set_location(
        conn=conn, call_id=call_id, lon=location.lon, lat=location.lat,
        radius_m=location.radius_m, location=location.to_dict(),
        district_id=places.district_id_at(location.lon, location.lat))


def out_of_area_event(call_id: UUID, location: FusedLocation, now: datetime) -> NewEvent:
    """The timeline's note that a call was located outside every district."""
    return NewEvent(EventKind.OUT_OF_AREA, now, call_id,
                    data={"lon": location.lon, "lat": location.lat,
                          "radius_m": location.radius_m, "reason": OUT_OF_AREA_REASON})


def out_of_area_alert(call_id: UUID, location: FusedLocation) -> dict[str, Any]:
    """The console alert: no vehicle of this centre may be near, the call may need a
    transfer to the local 120 centre, and it must not wait silently in the queue."""
    return {"kind": "out_of_area", "call_id": str(call_id), "lon": location.lon,
            "lat": location.lat, "reason": OUT_OF_AREA_REASON}


def decide(
    *, rt: Runtime, result: TriageResult, location: FusedLocation, places: Places,
    now: datetime, findings: Findings | None = None,
) -> DestinationChoice | None:
    """The receiving centre for a specialist pathway (None without one), by the ETA
    model from the call's location: pure, so a new call decides before it is stored."""
    if result.pathway is None or not places.hospitals:
        return None
    area = places.area_type_at(location.lon, location.lat)
    model = rt.eta.model
    options = [
        option_of(h, eta_s=model.eta_s(
            from_lon=location.lon, from_lat=location.lat, to_lon=h.lon, to_lat=h.lat,
            area_type=area, at=now))
        for h in places.hospitals.values()
    ]
    return choose_destination(result, options, findings=findings, now=now)


def chosen_event(
    call_id: UUID, choice: DestinationChoice, previous: str | None, now: datetime
) -> NewEvent:
    """The timeline's record of a centre chosen for the call."""
    return NewEvent(EventKind.DESTINATION_CHOSEN, now, call_id,
                    data={**choice.to_dict(), "previous": previous})


async def choose(
    *,
    rt: Runtime,
    conn: asyncpg.Connection,
    call_id: UUID,
    result: TriageResult,
    location: FusedLocation,
    places: Places,
    now: datetime,
    findings: Findings | None = None,
    previous: str | None = None,
) -> None:
    """Pick the receiving centre for a specialist pathway and record why."""
    choice = decide(rt=rt, result=result, location=location, places=places, now=now,
                    findings=findings)
    if choice is None:
        return
    if choice.hospital_id == previous:
        # The centre stands; a change of what the patient needs, or of why, is still
        # the record's (a STEMI's first-contact-to-device check, trauma_1 after trauma_2).
        decided = await last_destination_decision(conn=conn, call_id=call_id)
        now_decided = choice.to_dict()
        if decided is None or any(decided.get(k) != now_decided[k]
                                  for k in ("needs", "reasons", "warnings")):
            await append_events(conn=conn, events=[NewEvent(
                EventKind.DESTINATION_REVIEWED, now, call_id, data=now_decided)])
        return
    if previous is not None and await chosen_by_person(conn=conn, call_id=call_id):
        # A dispatcher's or crew's choice stands; the console hears the suggestion.
        await suggest_destination(conn=conn, call_id=call_id, current=previous, choice=choice)
        return
    await call_db.set_destination(conn=conn, call_id=call_id, hospital_id=choice.hospital_id)
    await append_events(conn=conn, events=[chosen_event(call_id, choice, previous, now)])
    # Same transaction: the old centre loses sight, the new one is alerted; the
    # messages leave through the handover outbox once this commits.
    await destination_changed(conn=conn, call_id=call_id, previous=previous,
                              hospital_id=choice.hospital_id, now=now)
