"""The ETA model: what the service uses now, and recalibrating it from completed trips."""

from __future__ import annotations

from fastapi import APIRouter, Request

from dispatch.api.deps import Now, OrchestratorDep, PrincipalDep
from dispatch.api.json import JSON
from dispatch.domain import Role
from dispatch.geo.calibration import calibrate, model_view

router = APIRouter(tags=["eta"])


@router.get("/v1/eta/model", summary="The ETA model in use: priors and calibrated scales")
async def get_model(orchestrator: OrchestratorDep, principal: PrincipalDep) -> JSON:
    principal.require(Role.DISPATCHER)
    return JSON(model_view(orchestrator.eta_model))


@router.post("/v1/admin/eta/calibrate", summary="Refit the ETA model from completed trips now")
async def calibrate_now(
    request: Request, orchestrator: OrchestratorDep, principal: PrincipalDep, now: Now
) -> JSON:
    principal.require(Role.ADMIN)
    eta = request.state.settings.eta
    fit = await calibrate(pool=orchestrator.pool, base=orchestrator.eta_model, now=now,
                          lookback_days=eta.eta_calibration_days,
                          min_samples=eta.eta_min_samples)
    orchestrator.eta_model = fit.model  # this instance now; the others at their next tick
    return JSON(fit.to_dict())
