"""The HTTP framework's CPU per request on the two hottest endpoints, without their flows.

Drives the ASGI app in-process (no socket, no PostgreSQL, no Redis): the intake
(POST /v1/calls) and the crew's status report (POST /v1/vehicles/{id}/status) with their
flows replaced by stubs that answer a fixed result, so what is measured is the middleware,
routing, body parsing, authentication and rendering around them. Each tree given is run in
its own process, alternated, and the median CPU per request (time.process_time) printed
with its ratio to the first tree:

    python -m loadtests.bench_framework /path/to/old/tree /path/to/new/tree --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

_SECRET = "bench-secret-bench-secret-bench-secret-0123"
_VEHICLE = "A-001"


def _call_body(now: datetime) -> bytes:
    return json.dumps({
        "caller_number": "13800000000", "complaint": "chest pain", "answers": {},
        "received_at": (now - timedelta(seconds=8)).isoformat(),
        "answered_at": (now - timedelta(seconds=3)).isoformat(),
        "fixes": [{"lon": 116.4, "lat": 39.9, "accuracy_m": 20.0, "source": "aml",
                   "coord_system": "wgs84", "observed_at": now.isoformat()}],
    }).encode()


def _stub_flows() -> None:
    """Replace the two flows with answers of the usual size (imports the tree's modules)."""
    from dispatch.flows import fleet, intake
    from dispatch.flows.outcome import Outcome

    call_id = uuid.uuid4()
    view = {"id": str(call_id), "status": "assigned", "acuity": 1, "caller_number": "138",
            "complaint": "chest pain", "received_at": datetime.now(UTC),
            "vehicles": [{"vehicle_id": _VEHICLE, "status": "dispatched"}],
            "location": {"lon": 116.4, "lat": 39.9, "accuracy_m": 20.0}}

    async def take_call(**_: Any) -> Outcome:
        return Outcome(call_id=call_id, created=True, view=view)

    async def report_status(**kw: Any) -> dict[str, Any]:
        return {"vehicle_id": kw["vehicle_id"], "status": kw["status"].value,
                "call_id": None, "queued_assigned": None}

    intake.take_call = take_call
    fleet.report_status = report_status


async def _drive(requests: int, rounds: int) -> list[float]:
    """CPU ms per request pair (intake + status), one figure per round."""
    from dispatch.app import create_app
    from dispatch.auth import issue_token
    from dispatch.config import Settings
    from dispatch.domain import Role

    _stub_flows()
    settings = Settings(jwt_secret=_SECRET, database_url="postgresql://unused/none",
                        redis_url="redis://unused:1/0")
    app = create_app(settings)
    now = datetime.now(UTC)
    state = {"settings": settings, "runtime": SimpleNamespace(settings=settings),
             "pool": None, "crew": None}
    dispatcher = issue_token(secret=_SECRET, issuer=settings.jwt_issuer, subject="d",
                             role=Role.DISPATCHER, now=now, ttl_s=3600)
    crew = issue_token(secret=_SECRET, issuer=settings.jwt_issuer, subject="c",
                       role=Role.CREW, now=now, ttl_s=3600, vehicle_id=_VEHICLE)
    call = _call_body(now)
    status = json.dumps({"status": "available", "report_id": "r1"}).encode()

    def scope(path: str, token: str, body: bytes, *extra: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                "root_path": "", "query_string": b"", "server": ("127.0.0.1", 8000),
                "client": ("127.0.0.1", 5000), "state": dict(state),
                "headers": [(b"host", b"dispatch"), (b"content-type", b"application/json"),
                            (b"authorization", b"Bearer " + token.encode()),
                            (b"content-length", str(len(body)).encode()), *extra]}

    async def one(path: str, token: str, body: bytes, *extra: tuple[bytes, bytes]) -> int:
        sent = False
        status_code = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]

        await app(scope(path, token, body, *extra), receive, send)
        return status_code

    async def pair(i: int) -> None:
        a = await one("/v1/calls", dispatcher, call, (b"idempotency-key", f"k{i}".encode()))
        b = await one(f"/v1/vehicles/{_VEHICLE}/status", crew, status)
        assert (a, b) == (201, 200), (a, b)

    for i in range(requests):  # warm-up
        await pair(i)
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for i in range(requests):
            await pair(i)
        figures.append((time.process_time() - started) * 1000 / requests)
    return figures


def _child(requests: int, rounds: int) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_drive(requests, rounds))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="source trees to compare (the first: base)")
    parser.add_argument("--runs", type=int, default=5, help="alternated runs per tree")
    parser.add_argument("--requests", type=int, default=1000, help="request pairs a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.requests, args.rounds)
        return
    per_tree: dict[str, list[float]] = {t: [] for t in args.trees}
    for _ in range(args.runs):
        for tree in args.trees:
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run(
                # -P: the tree on PYTHONPATH is what is imported, not this file's folder
                [sys.executable, "-P", os.path.abspath(__file__), tree, "--child",
                 "--requests", str(args.requests), "--rounds", str(args.rounds)],
                env=env, cwd=tree, check=True, capture_output=True, text=True).stdout
            per_tree[tree].append(min(json.loads(out.strip().splitlines()[-1])))
    base = statistics.median(per_tree[args.trees[0]])
    for tree, figures in per_tree.items():
        median = statistics.median(figures)
        print(f"{tree}: CPU ms per intake+status pair, median of {len(figures)}: "
              f"{median:.3f} (runs {', '.join(f'{f:.3f}' for f in figures)}); "
              f"ratio to base {median / base:.2f}")


if __name__ == "__main__":
    main()
