"""The yardstick for the intake's CPU: a bare FastAPI app that validates a call with
pydantic and stores it with one asyncpg INSERT, served the way the service is (uvicorn,
uvloop, httptools). What the service spends per call is read as a multiple of this.

    BASELINE_DATABASE_URL=postgresql://... BASELINE_SCHEMA=s \\
        uvicorn loadtests.baseline_app:create_app --factory --loop uvloop --http httptools
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS baseline_calls (
    id bigserial PRIMARY KEY,
    caller_number text NOT NULL,
    complaint text NOT NULL,
    received_at timestamptz NOT NULL,
    body jsonb NOT NULL
)"""


class Fix(BaseModel):
    model_config = ConfigDict(extra="allow")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class CallIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    caller_number: str = Field(min_length=3, max_length=32)
    complaint: str = Field(max_length=2000)
    answers: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime
    answered_at: datetime
    fixes: list[Fix] = Field(default_factory=list)


def create_app() -> FastAPI:
    """The app; its pool is opened by the lifespan, on the schema BASELINE_SCHEMA."""
    dsn = os.environ["BASELINE_DATABASE_URL"]
    schema = os.environ["BASELINE_SCHEMA"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        pool = await asyncpg.create_pool(
            dsn, min_size=2, max_size=20,
            server_settings={"search_path": schema, "application_name": "baseline"})
        async with pool.acquire() as conn:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(SCHEMA_SQL)
        try:
            yield {"pool": pool}
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/calls", status_code=201)
    async def create_call(body: CallIn, request: Request) -> Response:
        async with request.state.pool.acquire() as conn:
            call_id = await conn.fetchval(
                "INSERT INTO baseline_calls (caller_number, complaint, received_at, body)"
                " VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
                body.caller_number, body.complaint, body.received_at,
                orjson.dumps(body.model_dump(mode="json")).decode())
        return Response(orjson.dumps({"id": call_id, "assignments": []}), status_code=201,
                        media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
