"""Coverage and move-up (issue 4 items 7 and 8): figures, GeoJSON, moves, accepting a move."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import Now, PrincipalDep, RuntimeDep
from dispatch.api.json import JSON
from dispatch.domain import Role
from dispatch.errors import InvalidInput
from dispatch.flows import coverage
from dispatch.flows.coverage import DemandCache
from dispatch.geo.coverage import DEFAULT_TARGETS_S, coverage_geojson

router = APIRouter(prefix="/v1/coverage", tags=["coverage"])

# Two hours: beyond it "coverage" is no longer an emergency response question.
MAX_TARGET_S = 7200.0


def get_demand(request: Request) -> DemandCache:
    demand: DemandCache = request.state.coverage
    return demand


DemandDep = Annotated[DemandCache, Depends(get_demand)]
Targets = Annotated[list[float] | None, Query(description="travel-time targets, seconds")]


def _targets(values: list[float] | None) -> list[float]:
    targets = values or list(DEFAULT_TARGETS_S)
    for t in targets:
        if not 0 < t <= MAX_TARGET_S:
            raise InvalidInput(f"target_s must be in (0, {MAX_TARGET_S:.0f}]", field="target_s")
    return targets


@router.get("", summary="Share of expected demand an available vehicle reaches in time")
async def get_coverage_figures(
    demand: DemandDep, rt: RuntimeDep, principal: PrincipalDep, now: Now,
    target_s: Targets = None, format: Literal["json", "geojson"] = "json",  # noqa: A002
) -> JSON:
    principal.require(Role.DISPATCHER)
    if format == "geojson":
        # one map per target; without one, the first default (8 minutes)
        targets = _targets(target_s or [DEFAULT_TARGETS_S[0]])
        if len(targets) != 1:
            raise InvalidInput("format=geojson maps one target_s at a time", field="target_s")
    else:
        targets = _targets(target_s)
    grid, places, vehicles, results = await coverage.figures(
        rt=rt, demand=demand, targets_s=targets, now=now)
    if format == "geojson":
        return JSON(coverage_geojson(results[0]))
    districts = {d.id: d for d in places.districts.districts}
    figures = []
    for r in results:
        body = r.to_dict()
        for row in body["by_district"]:
            d = districts.get(row["district_id"])
            row["name"] = d.name if d else None
            row["area_type"] = d.area_type if d else None
        figures.append(body)
    return JSON({"at": now, "vehicles": vehicles, "demand": grid.to_dict(),
                 "targets": figures})


@router.get("/moves", summary="Move-up: which available vehicle to move to which station")
async def get_moves(
    demand: DemandDep, rt: RuntimeDep, principal: PrincipalDep, now: Now,
    target_s: Annotated[float, Query(gt=0, le=MAX_TARGET_S)] = DEFAULT_TARGETS_S[0],
) -> JSON:
    principal.require(Role.DISPATCHER)
    plan = await coverage.moves(rt=rt, demand=demand, target_s=target_s, now=now)
    return JSON({"at": now, **plan.to_dict()})


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vehicle_id: str = Field(min_length=1, max_length=64)
    to_station_id: str = Field(min_length=1, max_length=64)


@router.post("/moves/accept", summary="Accept a move: a timeline event for the vehicle")
async def accept_move(
    body: MoveIn, rt: RuntimeDep,
    principal: PrincipalDep, now: Now,
) -> JSON:
    result = await coverage.accept_move(rt=rt, vehicle_id=body.vehicle_id,
                                        to_station_id=body.to_station_id, principal=principal,
                                        now=now)
    return JSON(result)
