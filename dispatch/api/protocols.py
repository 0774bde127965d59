"""The documents a client team builds against, beside /openapi.json: the websocket
protocol (AsyncAPI 3.0) and the reference-data format (JSON Schema). Both are public."""

from __future__ import annotations

from fastapi import APIRouter, Request

from dispatch.api.json import JSON
from dispatch.handover.asyncapi import asyncapi_document
from dispatch.reference_format import reference_schema

__all__ = ["router"]

router = APIRouter(tags=["protocols"])


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi(request: Request) -> JSON:
    """The websocket channels, their frames, authentication, resume and close codes."""
    app = request.app
    return JSON(asyncapi_document(title=app.title, version=app.version,
                                  host=request.url.netloc,
                                  secure=request.url.scheme in ("https", "wss")))


@router.get("/v1/reference/schema",
            summary="The JSON Schema of the reference data (POST /v1/admin/reference)")
async def reference_data_schema() -> JSON:
    """Districts, stations, vehicles and hospitals as a GeoJSON FeatureCollection: what
    `POST /v1/admin/reference` and `dispatch load` accept."""
    return JSON(reference_schema())
