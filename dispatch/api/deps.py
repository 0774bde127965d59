"""Annotated dependencies: the caller, the runtime and its pool, the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dispatch.auth import Principal, Unauthenticated, verify_token
from dispatch.flows.crew_batches import CrewBatches
from dispatch.runtime import Runtime

_bearer = HTTPBearer(auto_error=False)

# All async: none blocks, and a sync dependency costs every request a hop to the
# threadpool (docs/benchmarks.md, "Intake CPU per call, part by part").


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.state.runtime
    return runtime


async def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.state.runtime.pool
    return pool


async def get_crew(request: Request) -> CrewBatches:
    crew: CrewBatches = request.state.crew
    return crew


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token", field="Authorization")
    settings = request.state.settings
    return verify_token(token=credentials.credentials, secret=settings.jwt_secret,
                        issuer=settings.jwt_issuer)


async def get_now() -> datetime:
    return datetime.now(UTC)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
CrewDep = Annotated[CrewBatches, Depends(get_crew)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
Now = Annotated[datetime, Depends(get_now)]
