"""Pure conversions between request bodies, stored rows and the answers the API gives.

No I/O: the flows (dispatch.flows) read and write, these only reshape values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.db import calls as call_db
from dispatch.domain import FixSource
from dispatch.geo.coords import to_wgs84
from dispatch.geo.fusion import Fix, FusedLocation
from dispatch.schemas import FixIn
from dispatch.triage import TriageResult


def text_or_none(value: object) -> str | None:
    """str(value), keeping None."""
    return None if value is None else str(value)


def stored_fix(f: FixIn) -> call_db.StoredFix:
    """A fix as received, with its WGS-84 position beside the raw one."""
    lon, lat = to_wgs84(lon=f.lon, lat=f.lat, system=f.coord_system)
    return call_db.StoredFix(
        source=f.source, coord_system=f.coord_system, raw_lon=f.lon, raw_lat=f.lat,
        lon=lon, lat=lat, accuracy_m=f.accuracy_m, observed_at=f.observed_at)


def fusion_fix(fix_id: int, f: call_db.StoredFix | asyncpg.Record) -> Fix:
    """A new or stored fix as fusion's input."""
    if isinstance(f, call_db.StoredFix):
        return Fix(fix_id=fix_id, lon=f.lon, lat=f.lat, accuracy_m=f.accuracy_m,
                   source=f.source, observed_at=f.observed_at)
    return Fix(fix_id=fix_id, lon=f["lon"], lat=f["lat"], accuracy_m=f["accuracy_m"],
               source=FixSource(f["source"]), observed_at=f["observed_at"])


def previous_location(call: asyncpg.Record) -> FusedLocation | None:
    """The fused location a call row holds, if any."""
    if call["lon"] is None:
        return None
    loc = call["location"] or {}
    return FusedLocation(lon=call["lon"], lat=call["lat"], radius_m=call["radius_m"],
                         used=tuple(loc.get("used", ())), rejected=tuple(loc.get("rejected", ())),
                         method=loc.get("method", "weighted"))


def parse_ts(value: str | datetime) -> datetime:
    """Timestamps inside jsonb come back as ISO text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def triage_event(result: TriageResult) -> dict[str, Any]:
    """A triage result as a timeline event's data, with its protocol version."""
    d = result.to_dict()
    return {"protocol_version": result.protocol_version, **d}


# Why a located call is flagged out of area (zh-CN first, for the dispatcher).
OUT_OF_AREA_REASON = ("定位在本中心所有辖区之外：请核实地址，或转属地120中心 / "
                      "located outside every district of this centre: confirm the address "
                      "or transfer the call to the local 120 centre")

_ACUITY_LABEL = {1: "I 濒危 dying", 2: "II 危重 critical", 3: "III 急症 urgent",
                 4: "IV 非急症 non-urgent"}


def out_of_area(call: Mapping[str, Any]) -> bool:
    """Located, and inside no district this centre serves."""
    return call["lon"] is not None and call["district_id"] is None


def view_of_row(call: asyncpg.Record, *, events: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A call_db.view_row row as the API shows it, with the booked trip's plan if any."""
    view = render_call(call, call["live_assignments"], events, call["queue_position"])
    # location.used and .rejected name these ids
    view["fixes"] = call["fixes"]
    trip = call["trip"]
    if trip is not None and view["booking"] is not None:
        view["booking"]["plan"] = {**trip["plan"], "status": trip["status"]}
    return view


def render_call(
    call: Mapping[str, Any],
    assignments: Sequence[Mapping[str, Any]],
    events: list[dict[str, Any]] | None,
    queue_position: int | None,
) -> dict[str, Any]:
    """A call as consoles, crews and hospitals see it."""
    location = None
    if call["lon"] is not None:
        location = {**(call["location"] or {}), "lon": call["lon"], "lat": call["lat"],
                    "radius_m": call["radius_m"], "district_id": call["district_id"]}
    view: dict[str, Any] = {
        "id": str(call["id"]),
        "status": call["status"],
        "caller_number": call["caller_number"],
        "complaint": call["complaint"],
        "answers": call["answers"],
        "acuity": call["acuity"],
        "acuity_label": _ACUITY_LABEL[call["acuity"]],
        "transport_class": call["transport_class"],
        "pathway": call["pathway"],
        "triage": call["triage"],
        "location": location,
        "out_of_area": out_of_area(call),
        "out_of_area_reason": OUT_OF_AREA_REASON if out_of_area(call) else None,
        "destination_id": call["destination_id"],
        "booking": (
            {"window_start": call["booked_from"], "window_end": call["booked_to"]}
            if call["booked_from"] else None
        ),
        "received_at": call["received_at"],
        "answered_at": call["answered_at"],
        "queue_position": queue_position,
        # rows of call_db.view_row's live_assignments
        "assignments": [dict(a) for a in assignments],
    }
    if events is not None:
        view["timeline"] = events
    return view
