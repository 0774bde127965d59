"""Fleet: vehicles, crew status, positions and milestones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from dispatch.api.deps import CrewDep, Now, PoolDep, PrincipalDep, RuntimeDep, get_now, get_runtime
from dispatch.api.json import JSON
from dispatch.api.lean import lean, lean_inputs
from dispatch.db import fleet as fleet_db
from dispatch.domain import EventKind, VehicleKind, VehicleStatus
from dispatch.errors import NotFound
from dispatch.flows import fleet
from dispatch.flows.positions import position_reported
from dispatch.geo.coords import to_wgs84
from dispatch.schemas import MilestoneIn, PositionIn, StatusIn, received_now

router = APIRouter(prefix="/v1/vehicles", tags=["fleet"])

_VEHICLE_ID_MAX = 64
VehicleId = Annotated[str, Path(min_length=1, max_length=_VEHICLE_ID_MAX)]


@router.get("", summary="The fleet and its status")
async def list_vehicles(
    pool: PoolDep, principal: PrincipalDep,
    status: VehicleStatus | None = None, kind: VehicleKind | None = None,
) -> JSON:
    principal.require_dispatcher()
    async with pool.acquire() as conn:
        rows = await fleet_db.list_vehicles(conn=conn, status=status.value if status else None,
                                            kind=kind.value if kind else None)
    return JSON({"vehicles": [dict(r) for r in rows]})


@router.get("/{vehicle_id}", summary="One vehicle")
async def get_vehicle(
    vehicle_id: VehicleId, pool: PoolDep, principal: PrincipalDep
) -> JSON:
    principal.require_vehicle(vehicle_id)
    async with pool.acquire() as conn:
        row = await fleet_db.get_vehicle(conn=conn, vehicle_id=vehicle_id)
    if row is None:
        raise NotFound(f"vehicle {vehicle_id} does not exist", field="vehicle_id")
    return JSON(dict(row))


async def _lean_report_status(request: Request) -> Response | None:
    """report_status without FastAPI's machinery (dispatch.api.lean)."""
    vehicle_id = request.path_params["vehicle_id"]
    if not 1 <= len(vehicle_id) <= _VEHICLE_ID_MAX:
        return None
    inputs = await lean_inputs(request, StatusIn)
    if inputs is None:
        return None
    body, principal = inputs
    return await report_status(vehicle_id, body, await get_runtime(request), principal,
                               await get_now())


@router.post("/{vehicle_id}/status", summary="A crew reports its status")
@lean(_lean_report_status)
async def report_status(
    vehicle_id: VehicleId, body: StatusIn, rt: RuntimeDep,
    principal: PrincipalDep, now: Now,
) -> JSON:
    result = await fleet.report_status(
        rt=rt, vehicle_id=vehicle_id, status=body.status, at=received_now(body.at, now),
        principal=principal, now=now, call_id=body.call_id, report_id=body.report_id)
    return JSON(result)


@router.post("/{vehicle_id}/milestones", summary="Patient contact or handover")
async def report_milestone(
    vehicle_id: VehicleId, body: MilestoneIn, rt: RuntimeDep,
    principal: PrincipalDep, now: Now,
) -> JSON:
    result = await fleet.report_milestone(
        rt=rt, vehicle_id=vehicle_id, kind=EventKind(body.kind),
        at=received_now(body.at, now), principal=principal, now=now)
    return JSON(result)


@router.post("/{vehicle_id}/position", status_code=204, summary="A position ping")
async def report_position(
    vehicle_id: VehicleId, body: PositionIn, rt: RuntimeDep, crew: CrewDep,
    principal: PrincipalDep, now: Now,
) -> None:
    """Kept as the vehicle's latest; consoles get it in the next `positions` message, as
    they do a crew tablet's websocket positions."""
    lon, lat = to_wgs84(lon=body.lon, lat=body.lat, system=body.coord_system)
    row = await fleet.report_position(rt=rt, vehicle_id=vehicle_id, lon=lon, lat=lat,
                                      at=body.at, principal=principal)
    if row is not None:
        await position_reported(rt=rt, crew=crew, vehicle_id=vehicle_id, call_id=row["call_id"],
                                destination_id=row["destination_id"], lon=lon, lat=lat,
                                at=body.at, now=now)


@router.get("/nearest/search", summary="Available vehicles near a point (for consoles)")
async def nearest(
    rt: RuntimeDep, principal: PrincipalDep,
    lon: Annotated[float, Query(ge=-180, le=180)], lat: Annotated[float, Query(ge=-90, le=90)],
    kind: VehicleKind = VehicleKind.ALS,
    radius_m: Annotated[float, Query(gt=0, le=100_000)] = 10_000,
    count: Annotated[int, Query(ge=1, le=100)] = 10,
) -> JSON:
    principal.require_dispatcher()
    found = await rt.index.nearest(kind=kind, lon=lon, lat=lat, radius_m=radius_m,
                                   count=count)
    return JSON({"vehicles": [
        {"vehicle_id": n.vehicle_id, "kind": n.kind.value, "lon": n.lon, "lat": n.lat,
         "distance_m": n.distance_m} for n in found]})
