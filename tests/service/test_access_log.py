"""Access logs name the path only: a websocket's ?token= never reaches the log."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime

import websockets

from dispatch.accesslog import PathOnly
from dispatch.auth import issue_token
from dispatch.domain import Role
from loadtests.local import free_port, stop_processes, wait_ready
from tests.conftest import drop_isolation, isolated_settings
from tests.instances import _env


def test_the_filter_cuts_the_query_off_access_and_websocket_records() -> None:
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("1.2.3.4:5", "GET", "/v1/calls?token=abc", "1.1", 200), None)
    ws = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                           '%s - "WebSocket %s" [accepted]',
                           ("1.2.3.4:5", "/v1/ws/crew?token=abc&last_event_id=3"), None)
    other = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %s",
                              ("/x?y",), None)
    for record in (access, ws, other):
        assert PathOnly().filter(record)
    assert access.getMessage() == '1.2.3.4:5 - "GET /v1/calls HTTP/1.1" 200'
    assert ws.getMessage() == '1.2.3.4:5 - "WebSocket /v1/ws/crew" [accepted]'
    assert other.getMessage() == "Started /x?y"


async def test_a_running_service_logs_no_token(tmp_path: object) -> None:
    settings = isolated_settings()
    port = free_port()
    log_path = f"{tmp_path}/service.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "dispatch.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "info",
             "--ws", "websockets-sansio"],
            env=_env(settings), stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url=url, proc=proc)
        token = issue_token(secret=settings.jwt_secret, issuer=settings.jwt_issuer,
                            subject="t", role=Role.DISPATCHER, now=datetime.now(UTC), ttl_s=60)
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/ws/console?token={token}") as ws:
            await ws.recv()  # the snapshot: the handshake is logged by now
    finally:
        stop_processes([proc])
        await drop_isolation(settings)
    with open(log_path, encoding="utf-8") as f:
        text = f.read()
    assert '"WebSocket /v1/ws/console"' in text, text
    assert token not in text and "token=" not in text
