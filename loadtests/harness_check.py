"""The harness's own CPU per request, against a server that does nothing.

    python -m loadtests.harness_check --rate 1000 --seconds 10

Starts `loadtests.trivial_server` in its own process, offers POSTs of an intake-sized body
open loop at the rate, and prints the achieved rate, latency and the CPU milliseconds per
request of this process (/proc/self/stat) and of the server. The harness is fit to
measure a service at a rate when its own figure here stays well under the service's.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
from typing import Any

import orjson

from loadtests.cpu import own_cpu_s, pid_cpu_s
from loadtests.figures import distribution
from loadtests.lean_http import LeanHttp, TransportError
from loadtests.local import free_port, wait_ready
from loadtests.openloop import Schedule, drive, send_offsets


def intake_sized_body(rng: random.Random) -> bytes:
    """A JSON body of the size and shape of POST /v1/calls (~1.2 kB)."""
    return orjson.dumps({
        "caller_number": f"139{rng.randrange(10**8):08d}",
        "complaint": "胸痛，出汗，呼吸困难",
        "answers": {f"q{i}": rng.random() < 0.5 for i in range(24)},
        "received_at": "2026-01-01T08:00:00+08:00", "answered_at": "2026-01-01T08:00:05+08:00",
        "fixes": [{"source": s, "lon": 116.4 + rng.random() / 10, "lat": 39.9,
                   "accuracy_m": 50.0, "coord_system": "wgs84",
                   "observed_at": "2026-01-01T08:00:05+08:00"} for s in ("cell", "aml")],
    })


async def offer(*, client: LeanHttp, rate: float, seconds: float,
                schedule: Schedule = "uniform", seed: int = 1) -> dict[str, Any]:
    """Offer POSTs open loop; the achieved rate, latency and own CPU per request."""
    rng = random.Random(seed)
    offsets = send_offsets(rate=rate, count=int(rate * seconds), schedule=schedule, rng=rng)
    bodies = [client.encode("POST", "/v1/calls", body=intake_sized_body(rng),
                            headers=b"Content-Type: application/json\r\n")
              for _ in range(min(len(offsets), 512))]
    latencies_ms: list[float] = []
    errors = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, meant: float) -> None:
        nonlocal errors
        try:
            r = await client.send(bodies[i % len(bodies)])
        except TransportError:
            errors += 1
            return
        if r.status_code >= 400:
            errors += 1
            return
        latencies_ms.append((time.perf_counter() - meant) * 1000)

    def launch(i: int, meant: float) -> None:
        t = asyncio.create_task(one(i, meant))
        tasks.add(t)
        t.add_done_callback(tasks.discard)

    cpu0 = own_cpu_s()
    start = time.perf_counter() + 0.1
    await drive(offsets=offsets, start=start, clock=time.perf_counter, launch=launch)
    while tasks:
        await asyncio.gather(*list(tasks))
    wall = time.perf_counter() - start
    own = own_cpu_s() - cpu0
    n = len(offsets)
    return {"offered_per_s": rate, "sent": n, "answered": len(latencies_ms), "errors": errors,
            "achieved_per_s": round(len(latencies_ms) / wall, 1) if wall > 0 else None,
            "harness_cpu_ms_per_request": round(1000 * own / max(1, n), 4),
            "latency_ms": distribution(latencies_ms).to_dict()}


async def check(*, rate: float, seconds: float, schedule: Schedule) -> dict[str, Any]:
    """Start the trivial server, offer the load, stop it; every figure."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "loadtests.trivial_server",
                             "--port", str(port)])
    try:
        await wait_ready(url=url, proc=proc, path="/")
        client = LeanHttp(url)
        server0 = pid_cpu_s(proc.pid) or 0.0
        try:
            figures = await offer(client=client, rate=rate, seconds=seconds,
                                  schedule=schedule)
        finally:
            await client.aclose()
        server = (pid_cpu_s(proc.pid) or 0.0) - server0
        figures["server_cpu_ms_per_request"] = round(1000 * server / max(1, figures["sent"]), 4)
        return figures
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--schedule", choices=["uniform", "poisson"], default="uniform")
    args = parser.parse_args()
    from loadtests.client import run_loop

    figures = run_loop(check(rate=args.rate, seconds=args.seconds, schedule=args.schedule))
    sys.stdout.write(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
