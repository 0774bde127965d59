"""Reference data: stations, hospitals, districts, and loading them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from dispatch.api.deps import PoolDep, PrincipalDep, RuntimeDep
from dispatch.api.json import JSON
from dispatch.db import reference
from dispatch.domain import Role
from dispatch.flows import fleet
from dispatch.refdata import load_reference

router = APIRouter(tags=["reference"])


@router.get("/v1/stations")
async def stations(pool: PoolDep, principal: PrincipalDep) -> JSON:
    principal.require(Role.DISPATCHER, Role.CREW, Role.HOSPITAL)
    async with pool.acquire() as conn:
        rows = await reference.stations(conn=conn)
    return JSON({"stations": [dict(r) for r in rows]})


@router.get("/v1/hospitals")
async def hospitals(pool: PoolDep, principal: PrincipalDep) -> JSON:
    principal.require(Role.DISPATCHER, Role.CREW, Role.HOSPITAL)
    async with pool.acquire() as conn:
        rows = await reference.hospitals(conn=conn)
    return JSON({"hospitals": [dict(r) for r in rows]})


@router.get("/v1/districts")
async def districts(pool: PoolDep, principal: PrincipalDep) -> JSON:
    principal.require(Role.DISPATCHER, Role.CREW, Role.HOSPITAL)
    async with pool.acquire() as conn:
        rows = await reference.districts(conn=conn)
    return JSON({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": r["geometry"],
         "properties": {"id": r["id"], "name": r["name"], "area_type": r["area_type"],
                        "synthetic": r["synthetic"]}} for r in rows]})


@router.post("/v1/admin/reference", summary="Load reference data (GeoJSON FeatureCollection)")
async def load(
    rt: RuntimeDep, principal: PrincipalDep,
    collection: dict[str, Any] = Body(...),  # noqa: B008
) -> JSON:
    principal.require(Role.ADMIN)
    async with rt.pool.acquire() as conn:
        counts = await load_reference(conn=conn, collection=collection)
    await rt.places.invalidate()
    await fleet.rebuild_index(rt=rt)
    return JSON(counts)
