"""The ETA model: what the service uses now, and recalibrating it from completed trips."""

from __future__ import annotations

from fastapi import APIRouter

from dispatch.api.deps import Now, PrincipalDep, RuntimeDep
from dispatch.api.json import JSON
from dispatch.domain import Role
from dispatch.flows.eta_calibration import calibrate
from dispatch.geo.calibration import model_view

router = APIRouter(tags=["eta"])


@router.get("/v1/eta/model", summary="The ETA model in use: priors and calibrated scales")
async def get_model(rt: RuntimeDep, principal: PrincipalDep) -> JSON:
    principal.require(Role.DISPATCHER)
    return JSON(model_view(rt.eta.model))


@router.post("/v1/admin/eta/calibrate", summary="Refit the ETA model from completed trips now")
async def calibrate_now(rt: RuntimeDep, principal: PrincipalDep, now: Now) -> JSON:
    principal.require(Role.ADMIN)
    eta = rt.settings.eta
    fit = await calibrate(rt=rt, now=now, lookback_days=eta.eta_calibration_days,
                          min_samples=eta.eta_min_samples)
    rt.eta.replace(fit.model)  # this instance now; the others at their next tick
    return JSON(fit.to_dict())
