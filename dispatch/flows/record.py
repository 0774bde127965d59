"""What screens read: a channel's starting snapshot, the ATMIST / FHIR handover record,
and the audit of every read of a patient's data."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.auth import Principal
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.events import audit, timeline
from dispatch.domain import LIVE_STATUSES, EventKind, Role
from dispatch.errors import Forbidden, NotFound
from dispatch.flows.hospital import retention
from dispatch.flows.positions import eta_to_centre
from dispatch.flows.reads import call_list, call_view
from dispatch.handover import repo
from dispatch.handover.atmist import build_atmist
from dispatch.handover.fhir import build_bundle
from dispatch.handover.findings import conditions_of
from dispatch.handover.prealert import hospital_may_see, patient_view
from dispatch.runtime import Runtime

__all__ = ["HANDOVER_KINDS", "audit_read", "handover_record", "snapshot"]

# The handover's part of the timeline, shown with the record.
HANDOVER_KINDS = frozenset({
    EventKind.DESTINATION_CHOSEN.value, EventKind.CENTRE_ALERTED.value,
    EventKind.CENTRE_ACKNOWLEDGED.value, EventKind.TEAM_ACTIVATED.value,
    EventKind.AT_DESTINATION.value, EventKind.HANDOVER.value,
})


async def audit_read(*, rt: Runtime, principal: Principal, call_id: UUID, via: str) -> None:
    """Record that a centre's screen received a patient's data."""
    async with rt.pool.acquire() as conn:
        await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                    action="read_patient", call_id=call_id,
                    hospital_id=principal.hospital_id, detail={"via": via})


async def snapshot(
    *, rt: Runtime, principal: Principal, now: datetime
) -> list[dict[str, Any]]:
    """The current state a channel's client starts from (audit-logged for centres)."""
    if principal.role is Role.HOSPITAL:
        return await _hospital_snapshot(rt, principal, now)
    if principal.role is Role.CREW:
        assert principal.vehicle_id is not None
        async with rt.pool.acquire() as conn:
            vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=principal.vehicle_id)
        if vehicle is None or vehicle["call_id"] is None:
            return []
        view = await call_view(rt=rt, call_id=vehicle["call_id"], principal=principal,
                               now=now, with_timeline=False, via="crew_snapshot")
        return [{"mission": view, "vehicle_status": vehicle["status"]}]
    calls = await call_list(rt=rt, statuses=LIVE_STATUSES, principal=principal, limit=1_000,
                            via="console_snapshot")
    async with rt.pool.acquire() as conn:
        fleet = await fleet_db.list_vehicles(conn=conn)
    return [{"queue": calls,
             "fleet": [{"vehicle_id": v["id"], "kind": v["kind"], "status": v["status"],
                        "call_id": v["call_id"], "lon": v["lon"], "lat": v["lat"]}
                       for v in fleet]}]


async def _hospital_snapshot(
    rt: Runtime, principal: Principal, now: datetime
) -> list[dict[str, Any]]:
    hospital_id = principal.hospital_id
    assert hospital_id is not None
    patients = []
    async with rt.pool.acquire() as conn:
        for call_id in await repo.inbound_call_ids(conn=conn, hospital_id=hospital_id,
                                                   closed_after=now - retention(rt)):
            call = await call_db.get_call(conn=conn, call_id=call_id)
            if call is None:
                continue
            state = await repo.load_state(conn=conn, call_id=call_id, hospital_id=hospital_id)
            findings = await repo.findings_of(conn=conn, call_id=call_id)
            view = patient_view(call=call, findings=findings, state=state, now=now)
            if call["destination_id"] == hospital_id:
                view["eta"] = await _last_eta(rt, conn, call_id, hospital_id)
            patients.append(view)
            await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                        action="read_patient", call_id=call_id, hospital_id=hospital_id,
                        detail={"via": "snapshot"})
    return patients


async def _last_eta(
    rt: Runtime, conn: asyncpg.Connection, call_id: UUID, hospital_id: str
) -> dict[str, Any] | None:
    """The ETA the board last heard, rebuilt from the vehicle's last position (as the
    `eta` event of that position gave it), so a reloaded board counts down at once."""
    position = await repo.carrying_position(conn=conn, call_id=call_id)
    places = await rt.places.get()
    hospital = places.hospitals.get(hospital_id)
    if position is None or hospital is None:
        return None
    eta = eta_to_centre(rt, places, hospital, lon=position["lon"], lat=position["lat"],
                        now=position["position_at"])
    return {**eta, "vehicle_id": position["id"], "at": position["position_at"].isoformat()}


async def handover_record(
    *, rt: Runtime, call_id: UUID, principal: Principal, fmt: str, now: datetime
) -> dict[str, Any] | str:
    """The ATMIST record (JSON with its text, the text alone, or a FHIR Bundle)."""
    time_zone = rt.settings.display.display_timezone
    async with rt.pool.acquire() as conn:
        call = await call_db.get_call(conn=conn, call_id=call_id)
        if call is None:
            raise NotFound(f"call {call_id} does not exist", field="call_id")
        await _require_record_access(rt, conn, principal, call, now)
        findings = await repo.findings_of(conn=conn, call_id=call_id)
        states = await repo.states_of_call(conn=conn, call_id=call_id)
        events = [e for e in await timeline(conn=conn, call_id=call_id)
                  if e["kind"] in HANDOVER_KINDS]
        await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                    action="read_handover", call_id=call_id,
                    hospital_id=principal.hospital_id, vehicle_id=principal.vehicle_id,
                    detail={"format": fmt})
    record = dict(call)
    atmist = build_atmist(call=record, findings=findings, now=now)
    if fmt == "text":
        return atmist.to_text(time_zone=time_zone)
    if fmt == "fhir":
        return build_bundle(
            call=record, atmist=atmist,
            vitals=[f for f in findings if f.get("type") == "vitals"],
            conditions=conditions_of(findings),
            treatments=[f for f in findings if f.get("type") == "treatment"],
            hospital_id=call["destination_id"] or principal.hospital_id or "unknown",
            ecgs=[f for f in findings if f.get("type") == "ecg"],
            strokes=[f for f in findings if f.get("type") == "stroke"],
            injuries=next((f for f in reversed(findings) if f.get("type") == "injuries"),
                          None),
            time_zone=time_zone)
    if principal.role is Role.HOSPITAL:
        states = [s for s in states if s.hospital_id == principal.hospital_id]
    return {
        "call_id": str(call_id),
        "destination_id": call["destination_id"],
        "acuity": call["acuity"],
        "pathway": call["pathway"],
        "atmist": atmist.to_dict(),
        "text": atmist.to_text(time_zone=time_zone),
        "handover": [s.to_dict() for s in states],
        "timeline": [{"id": e["id"], "kind": e["kind"], "occurred_at": e["occurred_at"],
                      "data": e["data"]} for e in events],
    }


async def _require_record_access(
    rt: Runtime, conn: asyncpg.Connection, principal: Principal, call: asyncpg.Record,
    now: datetime,
) -> None:
    if principal.role is Role.HOSPITAL:
        assert principal.hospital_id is not None
        if not await hospital_may_see(conn=conn, call=call, hospital_id=principal.hospital_id,
                                      now=now, retention=retention(rt)):
            raise Forbidden("this patient is not inbound to your hospital")
    elif principal.role is Role.CREW:
        assert principal.vehicle_id is not None
        if not await repo.was_assigned(conn=conn, call_id=call["id"],
                                       vehicle_id=principal.vehicle_id):
            raise Forbidden("this crew was not assigned to the call")
    else:
        principal.require(Role.DISPATCHER)
