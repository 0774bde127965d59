"""Handover benchmark: N crews at 1 Hz (position + vitals) to M screens per centre.

    python -m loadtests.bench_handover --crews 200 --screens 3 --seconds 30

Without --url it starts its own service instances (--instances, default 2) on an isolated
schema and Redis prefix. It loads `--hospitals` PCI centres in a ring, one chest-pain
call per crew near a centre (so patients spread over the centres), connects M screens to
every destination centre and one crew per call, spread over the instances, then lets each
crew send a position and a vitals frame every second (the crews start over `--ramp`
seconds, as missions do, so their calls' re-triage every 5 s is not synchronised; the
measured `--seconds` begin once every crew is sending); `--consoles` dispatcher consoles
listen to the console stream (positions batched once a second). Prints crew messages/s
in, frames/s delivered to screens, the share of vitals delivered to every screen of their
centre, end-to-end latency (crew send -> screen receipt, one clock: the harness) p50/p99
and, for instances it started itself, the service processes' CPU time per crew message
(a figure that does not depend on what else the machine is running); writes
loadtests/out/bench_handover.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from dispatch.auth import issue_token
from dispatch.domain import Role
from loadtests.client import JWT_ISSUER, run_loop
from loadtests.figures import percentile
from loadtests.local import local_service
from loadtests.sansio_client import OnMessage, lean_connect
from loadtests.wslinks import ws_url

OUT = Path(__file__).parent / "out" / "bench_handover.json"
CENTRE = (118.78, 32.04)
CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}


@dataclass
class Stats:
    sent: int = 0
    acked: int = 0
    errors: int = 0
    screen_frames: int = 0
    console_frames: int = 0
    console_positions: int = 0
    vitals_delivered: int = 0
    expected_deliveries: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    send_t: dict[str, float] = field(default_factory=dict)


def _pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0-100) rounded to 0.01; None for an empty sample."""
    value = percentile(values, p)
    return None if value is None else round(value, 2)


def reference(*, hospitals: int, crews: int, seed: int) -> dict[str, Any]:
    """PCI centres on a ring around the centre, and one ALS ambulance per crew near each."""
    rng = random.Random(seed)
    features: list[dict[str, Any]] = []
    spots: list[tuple[float, float]] = []
    for i in range(hospitals):
        angle = 2 * math.pi * i / hospitals
        lon, lat = CENTRE[0] + 0.12 * math.cos(angle), CENTRE[1] + 0.10 * math.sin(angle)
        spots.append((lon, lat))
        features.append({"type": "Feature",
                         "geometry": {"type": "Point", "coordinates": [lon, lat]},
                         "properties": {"type": "hospital", "id": f"BH{i:02d}",
                                        "name": f"Bench centre {i}",
                                        "capabilities": ["pci", "thrombolysis"],
                                        "synthetic": True}})
    for i in range(crews):
        lon, lat = spots[i % hospitals]
        features.append({"type": "Feature", "geometry": {
            "type": "Point",
            "coordinates": [lon + rng.uniform(-0.004, 0.004), lat + rng.uniform(-0.004, 0.004)]},
            "properties": {"type": "vehicle", "id": f"BV{i:04d}", "name": f"BV{i:04d}",
                           "kind": "als", "synthetic": True}})
    return {"type": "FeatureCollection", "features": features}


class Harness:
    def __init__(self, *, urls: list[str], secret: str) -> None:
        self.urls = urls
        self.secret = secret
        self.stats = Stats()
        self.running = True
        # Crews start over `ramp_s` seconds; frames sent before `measuring` is set are not
        # counted, so the figures are those of every crew sending at once.
        self.ramp_s = 1.0
        self.measuring = False

    def token(self, role: Role, **binding: str) -> str:
        return issue_token(secret=self.secret, issuer=JWT_ISSUER, subject=f"bench-{role.value}",
                           role=role, now=datetime.now(UTC), ttl_s=3600, **binding)

    def ws(self, i: int, channel: str, token: str) -> str:
        return f"{ws_url(self.urls[i % len(self.urls)], channel)}?token={token}"

    async def calls(self, *, crews: int, hospitals: int, seed: int) -> list[dict[str, Any]]:
        """One chest-pain call per crew, near a centre; returns the assigned calls."""
        rng = random.Random(seed + 1)
        headers = {"Authorization": f"Bearer {self.token(Role.DISPATCHER)}"}
        sem = asyncio.Semaphore(16)
        async with httpx.AsyncClient(timeout=60.0) as client:
            r = await client.post(
                f"{self.urls[0]}/v1/admin/reference",
                json=reference(hospitals=hospitals, crews=crews, seed=seed),
                headers={"Authorization": f"Bearer {self.token(Role.ADMIN)}"})
            if r.status_code != 200:
                raise RuntimeError(f"reference data refused: {r.text}")

            async def one(i: int) -> dict[str, Any]:
                angle = 2 * math.pi * (i % hospitals) / hospitals
                lon = CENTRE[0] + 0.12 * math.cos(angle) + rng.uniform(-0.01, 0.01)
                lat = CENTRE[1] + 0.10 * math.sin(angle) + rng.uniform(-0.01, 0.01)
                now = datetime.now(UTC)
                body = {"caller_number": f"139{i:08d}", "complaint": "chest pain",
                        "answers": CHEST_PAIN,
                        "received_at": (now - timedelta(seconds=8)).isoformat(),
                        "answered_at": (now - timedelta(seconds=3)).isoformat(),
                        "fixes": [{"lon": lon, "lat": lat, "accuracy_m": 15, "source": "aml",
                                   "coord_system": "wgs84", "observed_at": now.isoformat()}]}
                async with sem:
                    r = await client.post(f"{self.urls[i % len(self.urls)]}/v1/calls",
                                          json=body, headers=headers)
                r.raise_for_status()
                data: dict[str, Any] = r.json()
                return data

            made = await asyncio.gather(*(one(i) for i in range(crews)))
        return [c for c in made if c["assignments"] and c["destination_id"]]

    async def screen(self, i: int, hospital_id: str, ready: asyncio.Event) -> None:
        token = self.token(Role.HOSPITAL, hospital_id=hospital_id)
        stats = self.stats

        def on_message(raw: bytes, received: float) -> None:
            stats.screen_frames += 1
            frame = orjson.loads(raw)
            if frame.get("kind") != "vitals":
                return
            sent = stats.send_t.get(frame["data"].get("msg_id", ""))
            if sent is not None:
                stats.vitals_delivered += 1
                stats.latencies_ms.append((received - sent) * 1000)

        await self._hold(self.ws(i, "hospital", token), _after_snapshot(ready, on_message))

    async def console(self, i: int, ready: asyncio.Event) -> None:
        stats = self.stats

        def on_message(raw: bytes, _received: float) -> None:
            stats.console_frames += 1
            # A positions batch is a large frame (every vehicle); its kind is in the head
            # (event_frame_bytes: type, id, kind, ...), so the harness does not parse it all.
            if b'"kind":"positions"' in raw[:120]:
                stats.console_positions += 1

        await self._hold(self.ws(i, "console", self.token(Role.DISPATCHER)),
                         _after_snapshot(ready, on_message))

    @staticmethod
    async def _hold(url: str, on_message: OnMessage) -> None:
        """Keep a listening connection open until cancelled."""
        conn = await lean_connect(url, on_message)
        try:
            await conn.closed
        finally:
            conn.close()

    async def crew(self, i: int, call: dict[str, Any], screens: int, ready: asyncio.Event,
                   start: asyncio.Event) -> None:
        vehicle = call["assignments"][0]["vehicle_id"]
        call_id = call["id"]
        stats = self.stats
        rng = random.Random(i)

        def on_message(raw: bytes, received: float) -> None:
            frame = orjson.loads(raw)
            if frame.get("type") == "ack":
                stats.acked += 1
                sent = stats.send_t.get(frame["msg_id"])
                if sent is not None:
                    stats.ack_ms.append((received - sent) * 1000)
            elif frame.get("type") == "error":
                stats.errors += 1

        conn = await lean_connect(self.ws(i, "crew", self.token(Role.CREW, vehicle_id=vehicle)),
                                  _after_snapshot(ready, on_message))
        try:
            await start.wait()
            # Missions start at different times: spread the crews (and with them the 5 s
            # re-triage rhythm of their calls) over the ramp instead of one second.
            await asyncio.sleep(rng.random() * self.ramp_s)
            lon, lat = call["location"]["lon"], call["location"]["lat"]
            n = 0
            next_t = time.perf_counter()
            while self.running:
                at = datetime.now(UTC).isoformat()
                pos_id, vit_id = f"{vehicle}-p{n}", f"{vehicle}-v{n}"
                lon += rng.uniform(-0.0003, 0.0003)
                lat += rng.uniform(-0.0003, 0.0003)
                position = {"type": "position", "msg_id": pos_id, "call_id": call_id,
                            "lon": lon, "lat": lat, "speed_mps": 12.0, "at": at}
                vitals = {"type": "vitals", "msg_id": vit_id, "call_id": call_id,
                          "hr": 90 + rng.randint(-3, 3), "sbp": 130, "dbp": 80, "spo2": 96,
                          "rr": 16, "at": at}
                measured = self.measuring
                if measured:
                    stats.send_t[pos_id] = stats.send_t[vit_id] = time.perf_counter()
                # The tablet's report of the second, both frames in one socket write.
                conn.send_text(orjson.dumps(position), orjson.dumps(vitals))
                if measured:
                    stats.sent += 2
                    stats.expected_deliveries += screens
                n += 1
                next_t += 1.0
                await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
            await asyncio.sleep(3.0)  # let the last acks and deliveries arrive
        finally:
            conn.close()


def _after_snapshot(ready: asyncio.Event, on_message: OnMessage) -> OnMessage:
    """Every channel's first frame is its snapshot: it marks the client ready, and the
    frames after it go to `on_message`."""

    def receive(raw: bytes, received: float) -> None:
        if ready.is_set():
            on_message(raw, received)
        else:
            ready.set()

    return receive


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.url:
        secret = os.environ["DISPATCH_JWT_SECRET"]
        return await bench(urls=list(args.url), secret=secret, args=args)
    async with local_service(instances=args.instances, pool_max=args.pool_max,
                             ws_deflate=_flag(args.ws_deflate)) as service:
        return await bench(urls=list(service.urls), secret=service.jwt_secret, args=args)


async def bench(*, urls: list[str], secret: str, args: argparse.Namespace) -> dict[str, Any]:
    h = Harness(urls=urls, secret=secret)
    t0 = time.perf_counter()
    calls = await h.calls(crews=args.crews, hospitals=args.hospitals, seed=args.seed)
    setup_s = time.perf_counter() - t0
    by_centre: dict[str, int] = defaultdict(int)
    for call in calls:
        by_centre[call["destination_id"]] += 1
    tasks: list[asyncio.Task[None]] = []
    readies: list[asyncio.Event] = []
    for j, hospital_id in enumerate(sorted(by_centre)):
        for k in range(args.screens):
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(h.screen(j * args.screens + k + 1, hospital_id,
                                                      ready)))
    for k in range(args.consoles):
        ready = asyncio.Event()
        readies.append(ready)
        tasks.append(asyncio.create_task(h.console(k, ready)))
    start = asyncio.Event()
    for i, call in enumerate(calls):
        ready = asyncio.Event()
        readies.append(ready)
        tasks.append(asyncio.create_task(h.crew(i, call, args.screens, ready, start)))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
    h.ramp_s = args.ramp
    start.set()
    await asyncio.sleep(args.ramp + 1.0)  # every crew is sending
    h.measuring = True
    t_start = time.perf_counter()
    cpu_start = _service_cpu_s()
    stores_start = _stores_cpu_s()
    own_start = _own_cpu_s()
    busy_start = _machine_busy_s()
    await asyncio.sleep(args.seconds)
    h.running = False
    sending_s = time.perf_counter() - t_start
    cpu_s = _service_cpu_s() - cpu_start
    stores_s = {k: v - stores_start.get(k, 0.0) for k, v in _stores_cpu_s().items()}
    own_s = _own_cpu_s() - own_start
    busy_s = _machine_busy_s() - busy_start
    await asyncio.sleep(4.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    s = h.stats
    result = {
        "at": datetime.now(UTC).isoformat(),
        "instances": len(urls),
        "crews": len(calls),
        "centres": len(by_centre),
        "screens_per_centre": args.screens,
        "seconds": round(sending_s, 1),
        "ramp_s": args.ramp,
        "setup_s": round(setup_s, 1),
        "crew_messages_sent": s.sent,
        "crew_messages_per_s": round(s.sent / sending_s, 1),
        "acked": s.acked,
        "errors": s.errors,
        "ack_latency_ms": {"p50": _pct(s.ack_ms, 50), "p99": _pct(s.ack_ms, 99)},
        "service_cpu_s": round(cpu_s, 2),
        "service_cpu_ms_per_crew_message": round(1000 * cpu_s / max(1, s.sent), 3)
        if cpu_s else None,
        # the harness shares the machine: its own CPU while sending, in cores
        "harness_cpu_cores": round(own_s / sending_s, 2),
        # PostgreSQL's and Redis' processes (other users of the same servers included)
        **{f"{name}_cpu_cores": round(v / sending_s, 2) for name, v in stores_s.items()},
        # everything on the machine (services, harness, PostgreSQL, Redis, anyone else's jobs)
        "machine_busy_cores": round(busy_s / sending_s, 2) if busy_s else None,
        "consoles": args.consoles,
        "ws_deflate": args.ws_deflate,
        "console_frames_per_s": round(s.console_frames / sending_s, 1),
        "console_position_batches": s.console_positions,
        "screen_frames": s.screen_frames,
        "screen_frames_per_s": round(s.screen_frames / sending_s, 1),
        "vitals_delivered": s.vitals_delivered,
        "vitals_expected": s.expected_deliveries,
        "delivered_share": round(s.vitals_delivered / max(1, s.expected_deliveries), 4),
        "end_to_end_ms": {"p50": _pct(s.latencies_ms, 50), "p90": _pct(s.latencies_ms, 90),
                          "p99": _pct(s.latencies_ms, 99), "max": _pct(s.latencies_ms, 100)},
        "cpu_count": os.cpu_count(),
    }
    return result


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (not idle or waiting on I/O) so far (Linux)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


@dataclass(frozen=True, slots=True)
class _Process:
    path: Path  # /proc/<pid>
    name: str  # the executable's name (comm)
    parent: str  # the parent's pid
    cpu_s: float  # user + system CPU seconds so far


def _processes() -> Iterator[_Process]:
    """Every process of the machine, from /proc (Linux; nothing elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, rest = stat.read_text().rpartition(")")
        except OSError:
            continue  # gone meanwhile
        fields = rest.split()
        # after the name: state, parent pid, ...; utime and stime are fields 14 and 15
        yield _Process(path=stat.parent, name=head.split("(", 1)[-1], parent=fields[1],
                       cpu_s=(int(fields[11]) + int(fields[12])) / ticks)


def _service_cpu_s() -> float:
    """User + system CPU seconds of the uvicorn processes this harness started so far."""
    me = str(os.getpid())
    total = 0.0
    for proc in _processes():
        if proc.parent == me:
            with contextlib.suppress(OSError):
                if b"uvicorn" in (proc.path / "cmdline").read_bytes():
                    total += proc.cpu_s
    return total


def _stores_cpu_s() -> dict[str, float]:
    """User + system CPU seconds of every PostgreSQL and Redis server process so far."""
    total = {"postgres": 0.0, "redis": 0.0}
    for proc in _processes():
        if proc.name.startswith("postgres"):
            total["postgres"] += proc.cpu_s
        elif proc.name.startswith("redis-server"):
            total["redis"] += proc.cpu_s
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crews", type=int, default=200)
    parser.add_argument("--screens", type=int, default=3, help="screens per centre")
    parser.add_argument("--hospitals", type=int, default=30)
    parser.add_argument("--consoles", type=int, default=0, help="dispatcher consoles")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ramp", type=float, default=5.0,
                        help="crews start over this many seconds, before the measured ones")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--pool-max", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ws-deflate", choices=("true", "false"), default=None,
                        help="websocket compression of the instances it starts "
                             "(default: DISPATCH_WS_PER_MESSAGE_DEFLATE or the service default)")
    parser.add_argument("--url", action="append", help="a running instance (repeatable)")
    args = parser.parse_args()
    result = run_loop(run(args))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
