"""Logs: one JSON object a line with the request, call and vehicle ids; no token, ever."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import orjson

from dispatch.auth import issue_token
from dispatch.domain import Role
from dispatch.logs import JsonFormatter, call_id, redact, request_id
from tests.conftest import drop_isolation, isolated_settings
from tests.service.test_cli import _free_port

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0."
       "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg")


def test_tokens_are_redacted_wherever_they_appear() -> None:
    assert JWT not in redact(f"GET /v1/ws/crew?token={JWT} HTTP/1.1")
    assert redact("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer [redacted]"
    assert redact("/v1/ws/console?last_event_id=5&token=xyz&x=1") == \
        "/v1/ws/console?last_event_id=5&token=[redacted]&x=1"
    assert redact("call 7f0c3c9e dispatched") == "call 7f0c3c9e dispatched"


def test_a_json_line_carries_the_context_ids() -> None:
    record = logging.LogRecord("dispatch.x", logging.INFO, __file__, 1, "vehicle %s en route",
                               ("V001",), None)
    record.vehicle_id = "V001"
    tokens = (request_id.set("req-1"), call_id.set("c-1"))
    try:
        line = orjson.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(tokens[0])
        call_id.reset(tokens[1])
    assert line["message"] == "vehicle V001 en route"
    assert (line["request_id"], line["call_id"], line["vehicle_id"]) == ("req-1", "c-1", "V001")
    assert line["level"] == "INFO" and line["logger"] == "dispatch.x"


async def test_a_served_request_logs_json_with_its_ids_and_no_token() -> None:
    settings = isolated_settings()
    token = issue_token(secret=settings.jwt_secret, issuer=settings.jwt_issuer, subject="t",
                        role=Role.DISPATCHER, now=datetime.now(UTC), ttl_s=600)
    env = {**os.environ, "DISPATCH_DATABASE_URL": settings.database_url or "",
           "DISPATCH_REDIS_URL": settings.redis_url or "",
           "DISPATCH_DB_SCHEMA": settings.db_schema, "DISPATCH_REDIS_PREFIX": settings.redis_prefix,
           "DISPATCH_JWT_SECRET": settings.jwt_secret, "DISPATCH_LOG_FORMAT": "json"}
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch.cli", "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    missing = uuid4()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(600):
                assert proc.returncode is None, "serve exited"
                try:
                    await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            r = await client.get(f"/v1/calls/{missing}", headers={
                "Authorization": f"Bearer {token}", "X-Request-ID": "req-42"})
            assert r.status_code == 404
            assert r.headers["x-request-id"] == "req-42"
            r = await client.get("/healthz", params={"token": token})
            assert len(r.headers["x-request-id"]) == 32  # none given: a new one
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        await drop_isolation(settings)
    text = err.decode()
    assert token not in text
    lines = [orjson.loads(ln) for ln in text.splitlines() if ln.strip()]
    access = [ln for ln in lines if ln["logger"] == "uvicorn.access"]
    call_line = next(ln for ln in access if str(missing) in ln["message"])
    assert call_line["request_id"] == "req-42" and call_line["call_id"] == str(missing)
    # the request with ?token= is logged (its query cut by accesslog's filter, or redacted)
    health = [ln["message"] for ln in access if "/healthz" in ln["message"]]
    assert health and all(token not in m for m in health)
