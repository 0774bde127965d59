"""POST /v1/auth/login: a user's name and password for a bearer token and the page settings."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import Now, RuntimeDep
from dispatch.api.json import JSON
from dispatch.users import log_in

__all__ = ["router"]

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


@router.post("/login", summary="Sign in with a name and password")
async def login(body: LoginIn, rt: RuntimeDep, now: Now) -> JSON:
    """The same bearer JWT `dispatch token` issues, bound to the user's role and vehicle or
    hospital, with when it expires and what the screens show times and maps in."""
    settings = rt.settings
    result = await log_in(pool=rt.pool, auth=settings.auth, name=body.name,
                          password=body.password, now=now)
    display = settings.display
    return JSON({**result.to_dict(), "timezone": display.display_timezone,
                 "map": {"tile_url": display.map_tile_url,
                         "tile_coord_system": display.map_tile_coord_system.value,
                         "tile_attribution": display.map_tile_attribution}})
