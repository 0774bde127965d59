"""POST /v1/auth/login: a user's name and password for a bearer token and the page settings."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import Now
from dispatch.api.json import JSON
from dispatch.config import Settings
from dispatch.users import log_in

__all__ = ["router"]

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


@router.post("/login", summary="Sign in with a name and password")
async def login(body: LoginIn, request: Request, now: Now) -> JSON:
    """The same bearer JWT `dispatch token` issues, bound to the user's role and vehicle or
    hospital, with when it expires and what the screens show times and maps in."""
    settings: Settings = request.state.settings
    result = await log_in(pool=request.state.pool, auth=settings.auth, name=body.name,
                          password=body.password, now=now)
    display = settings.display
    return JSON({**result.to_dict(), "timezone": display.display_timezone,
                 "map": {"tile_url": display.map_tile_url,
                         "tile_coord_system": display.map_tile_coord_system.value,
                         "tile_attribution": display.map_tile_attribution}})
