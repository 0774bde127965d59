"""CPU milliseconds per call of the intake, part by part, as a ratio to a bare baseline.

    python -m loadtests.bench_intake --rate 40 --seconds 10 --runs 3
    # loadtests/out/intake-cpu.json and loadtests/out/intake-cpu.md

Starts the service (one uvicorn process, as `--start-local`, demo city) and the baseline
app (loadtests/baseline_app.py: FastAPI + pydantic + one asyncpg INSERT), then alternates
runs of each at the same offered rate, `--runs` times, so both see the same machine in the
same minutes. Each service run is `loadtests.intake` (open loop; crews clear each assigned
vehicle after a hold, so a call is the intake and its clear). Per run, over the window
from the first request to the last answer:

* service: CPU of the uvicorn process(es) (/proc/<pid>/stat);
* pg: CPU of the PostgreSQL backends serving that process, found through its sockets
  (loadtests/cpu.py), so other clients of the shared cluster do not count;
* pg_cluster: every `postgres` process of the machine (shared: other runs count too);
* redis: the whole server's INFO CPU (shared);
* harness: this process (/proc/self/stat).

With `--compare DIR` a second service runs from another source tree (DIR, e.g. an export
of the main branch: `git archive main | tar -x -C DIR`) and takes its turn in the same
rotation, so a change is measured before and after in the same minutes.

Printed and written: the medians over the runs, per call and per request, and the
service's figure as a multiple of the baseline's per request. Wall-clock latencies are
reported too, but on a shared machine CPU per call and the alternated ratio are the
figures to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import statistics
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loadtests.client import Api, Tokens, run_loop
from loadtests.cpu import BackendMeter, children_matching, pid_cpu_s, redis_cpu_s
from loadtests.harness_check import offer
from loadtests.intake import IntakeConfig, run_intake
from loadtests.lean_http import LeanHttp
from loadtests.local import (
    database_url,
    drop_isolation,
    local_service,
    redis_url,
    start_process,
    stop_processes,
    wait_ready,
)
from loadtests.report import OUT_DIR, machine

PARTS = ("service", "pg", "pg_cluster", "redis", "harness")


def _postgres_cpu_s() -> dict[int, float]:
    """CPU seconds of every postgres process of the machine (the whole, shared cluster)."""
    out: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text.partition("(")[2].startswith("postgres"):
            out[int(stat.parent.name)] = pid_cpu_s(stat.parent.name) or 0.0
    return out


def _spent_since(start: dict[int, float], end: dict[int, float]) -> float:
    """CPU seconds spent by the processes alive at the end since `start` (a process started
    meanwhile from zero; one that exited meanwhile is lost, never negative)."""
    return sum(cpu - start.get(pid, 0.0) for pid, cpu in end.items())


@dataclass
class ProcessMeter:
    """CPU of given server processes, their PostgreSQL backends, the cluster and Redis."""

    pids: list[int]
    backends: BackendMeter = field(init=False)
    _start: dict[str, float] = field(default_factory=dict)
    _cluster: dict[int, float] = field(default_factory=dict)
    _follow: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.backends = BackendMeter(database_url=database_url(), client_pids=self.pids)

    def _servers_s(self) -> float:
        return sum(pid_cpu_s(pid) or 0.0 for pid in self.pids)

    async def start(self) -> None:
        self.backends.start()
        await self.backends.read()
        self.backends.cost_s = 0.0  # from here on the readings fall in the measured window
        self._cluster = _postgres_cpu_s()
        self._start = {"service": self._servers_s(), "redis": await redis_cpu_s(redis_url())}
        self._follow = asyncio.create_task(self.backends.follow())

    async def stop(self) -> dict[str, Any]:
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
        meter_s = self.backends.cost_s
        await self.backends.read()
        await self.backends.close()
        return {"service_s": self._servers_s() - self._start["service"],
                "pg_s": self.backends.spent_s,
                "pg_backends": len(self.backends.last),
                "pg_cluster_s": _spent_since(self._cluster, _postgres_cpu_s()),
                "redis_s": await redis_cpu_s(redis_url()) - self._start["redis"],
                # the meter's own readings ran in the harness's process: not the harness's
                "meter_s": meter_s}


def per_call(metered: dict[str, Any], *, harness_ms: float, calls: int) -> dict[str, float]:
    """CPU ms per call of each part, from a run's seconds."""
    out = {part: round(1000 * metered[f"{part}_s"] / max(1, calls), 4)
           for part in PARTS if part != "harness"}
    out["harness"] = round(harness_ms - 1000 * metered["meter_s"] / max(1, calls), 4)
    return out


@contextlib.asynccontextmanager
async def baseline_service() -> AsyncIterator[str]:
    """The baseline app on its own schema; dropped on the way out."""
    schema = f"ltb_{secrets.token_hex(5)}"
    env = {**os.environ, "BASELINE_DATABASE_URL": database_url(), "BASELINE_SCHEMA": schema}
    url, proc = start_process(env=env, app="loadtests.baseline_app:create_app",
                              uvicorn_args=("--no-access-log", "--loop", "uvloop",
                                            "--http", "httptools"))
    procs: list[subprocess.Popen[bytes]] = [proc]
    try:
        await wait_ready(url=url, proc=proc)
        yield url
    finally:
        stop_processes(procs)
        await drop_isolation(tag=schema, database_url=database_url(), redis_url=redis_url())


async def service_run(*, api: Api, pids: list[int], rate: float, seconds: float,
                      seed: int) -> dict[str, Any]:
    """One intake run; its CPU per call and its latencies."""
    api.samples.clear()
    api.errors.clear()
    meter = ProcessMeter(pids=pids)
    f = await run_intake(api=api, config=IntakeConfig(rate=rate, seconds=seconds, seed=seed),
                         show_progress=False, meter=meter)
    f.pop("_samples", None)
    calls = f["calls_sent"]
    clears = f["crew_status_latency_ms"]["n"]
    cpu = per_call(f["metered"], harness_ms=f["harness_cpu_ms_per_call"], calls=calls)
    return {"target": "service", "rate": rate, "calls": calls, "requests": calls + clears,
            "achieved_per_s": round(f["achieved_calls_per_s"], 1),
            "cpu_ms_per_call": cpu,
            "cpu_ms_per_request": {k: round(v * calls / max(1, calls + clears), 4)
                                   for k, v in cpu.items()},
            "pg_backends": f["metered"]["pg_backends"],
            "intake_ms": f["intake_latency_ms"],
            "request_to_assignment_ms": f["request_to_assignment_ms"],
            "outcomes": f["outcomes"], "errors": f["errors"],
            "invariants_ok": f["invariants"]["ok"]}


async def baseline_run(*, url: str, pids: list[int], rate: float, seconds: float,
                       seed: int) -> dict[str, Any]:
    """One run of the baseline app at the same rate; CPU per request."""
    client = LeanHttp(url)
    meter = ProcessMeter(pids=pids)
    try:
        await meter.start()
        f = await offer(client=client, rate=rate, seconds=seconds, seed=seed)
        metered = await meter.stop()
    finally:
        await client.aclose()
    cpu = per_call(metered, harness_ms=f["harness_cpu_ms_per_request"], calls=f["sent"])
    return {"target": "baseline", "rate": rate, "calls": f["sent"], "requests": f["sent"],
            "achieved_per_s": f["achieved_per_s"], "cpu_ms_per_call": cpu,
            "cpu_ms_per_request": cpu, "pg_backends": metered["pg_backends"],
            "latency_ms": f["latency_ms"], "errors": f["errors"]}


def medians(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Per part, the median over runs of `key` (a dict of CPU ms)."""
    return {part: round(statistics.median(r[key][part] for r in runs), 4) for part in PARTS}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per target and the service's multiple of the baseline per request."""
    svc = [r for r in runs if r["target"] == "service"]
    base = [r for r in runs if r["target"] == "baseline"]
    out: dict[str, Any] = {
        "service_per_call": medians(svc, "cpu_ms_per_call"),
        "service_per_request": medians(svc, "cpu_ms_per_request"),
        "baseline_per_request": medians(base, "cpu_ms_per_request"),
        "service_achieved_per_s": statistics.median(r["achieved_per_s"] for r in svc),
        "baseline_achieved_per_s": statistics.median(r["achieved_per_s"] for r in base),
        "service_intake_p99_ms": statistics.median(r["intake_ms"]["p99"] or 0 for r in svc),
        "service_to_assignment_p99_ms": statistics.median(
            r["request_to_assignment_ms"]["p99"] or 0 for r in svc),
    }
    # ratios of the alternated runs' medians: per call (intake + clear) and per request
    out["ratio_per_call"] = {
        part: round(out["service_per_call"][part] / out["baseline_per_request"][part], 2)
        for part in ("service", "pg") if out["baseline_per_request"][part] > 0}
    out["ratio_per_request"] = {
        part: round(out["service_per_request"][part] / out["baseline_per_request"][part], 2)
        for part in ("service", "pg") if out["baseline_per_request"][part] > 0}
    other = [r for r in runs if r["target"] == "compare"]
    if other:
        out["compare_per_call"] = medians(other, "cpu_ms_per_call")
        out["compare_achieved_per_s"] = statistics.median(r["achieved_per_s"] for r in other)
        # this tree's CPU per call as a share of the compared tree's (< 1: cheaper)
        out["service_vs_compare"] = {
            part: round(out["service_per_call"][part] / out["compare_per_call"][part], 3)
            for part in PARTS if out["compare_per_call"][part] > 0}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The table for docs/benchmarks.md."""
    lines = [f"Offered {result['rate']:g}/s for {result['seconds']:g} s, "
             f"{result['runs']} alternated runs each, medians; CPU ms.", "",
             "| | service | PostgreSQL (own backends) | PostgreSQL (whole cluster, shared)"
             " | Redis (shared) | harness | achieved/s |",
             "|---|---|---|---|---|---|---|"]
    s = result["summary"]
    for label, key, rate in (("service, per call (intake + clear)", "service_per_call",
                              "service_achieved_per_s"),
                             ("service, per request", "service_per_request",
                              "service_achieved_per_s"),
                             ("baseline, per request", "baseline_per_request",
                              "baseline_achieved_per_s")):
        v = s[key]
        lines.append(f"| {label} | {v['service']:.2f} | {v['pg']:.2f} | {v['pg_cluster']:.2f}"
                     f" | {v['redis']:.2f} | {v['harness']:.3f} | {s[rate]:.1f} |")
    if "compare_per_call" in s:
        v = s["compare_per_call"]
        lines.insert(-1, f"| compared tree, per call | {v['service']:.2f} | {v['pg']:.2f} | "
                         f"{v['pg_cluster']:.2f} | {v['redis']:.2f} | {v['harness']:.3f} | "
                         f"{s['compare_achieved_per_s']:.1f} |")
        lines += ["", f"This tree / compared tree per call: {s['service_vs_compare']}."]
    lines += ["", f"Service / baseline per call: {s['ratio_per_call']}; per request: "
                  f"{s['ratio_per_request']}. Intake p99 {s['service_intake_p99_ms']:.1f} ms,"
                  f" request->assignment p99 {s['service_to_assignment_p99_ms']:.1f} ms."]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def services(compare: str | None) -> AsyncIterator[dict[str, tuple[Api, list[int]]]]:
    """This tree's service, and the `compare` tree's when given: a client and pids each."""
    async with contextlib.AsyncExitStack() as stack:
        out: dict[str, tuple[Api, list[int]]] = {}
        trees = {"service": None, **({"compare": compare} if compare else {})}
        for target, tree in trees.items():
            source = str(Path(tree).resolve()) if tree else None
            svc = await stack.enter_async_context(local_service(source=source))
            api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret))
            stack.push_async_callback(api.aclose)
            out[target] = (api, list(svc.pids))
        yield out


async def bench(*, rate: float, seconds: float, runs: int, seed: int,
                compare: str | None = None, log: bool = True) -> dict[str, Any]:
    """Alternate the service (and `compare`) with the baseline; every run, the summary."""
    done: list[dict[str, Any]] = []
    async with services(compare) as targets, baseline_service() as base_url:
        base_pids = children_matching(os.getpid(), b"loadtests.baseline_app:create_app")

        async def one(target: str, *, seconds: float, seed: int) -> dict[str, Any]:
            if target == "baseline":
                return await baseline_run(url=base_url, pids=base_pids, rate=rate,
                                          seconds=seconds, seed=seed)
            api, pids = targets[target]
            r = await service_run(api=api, pids=pids, rate=rate, seconds=seconds, seed=seed)
            r["target"] = target
            return r

        names = [*targets, "baseline"]
        # a warm-up of each: statements prepared, pools grown, the city cached
        for target in names:
            await one(target, seconds=2, seed=seed + 999)
        for i in range(runs):
            for target in names[i % len(names):] + names[:i % len(names)]:
                r = await one(target, seconds=seconds, seed=seed + i)
                done.append(r)
                if log:
                    print(f"run {i} {target}: {r['achieved_per_s']}/s "
                          f"CPU ms per call {r['cpu_ms_per_call']}", flush=True)
    return {"rate": rate, "seconds": seconds, "runs": runs, "compare": compare,
            "machine": machine(), "load_average": os.getloadavg(), "runs_detail": done,
            "summary": summarise(done)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="intake-cpu", help="output stem in loadtests/out/")
    parser.add_argument("--compare", metavar="DIR",
                        help="also run the service from this source tree, alternated")
    args = parser.parse_args()
    random.seed(args.seed)
    result = run_loop(bench(rate=args.rate, seconds=args.seconds, runs=args.runs,
                            seed=args.seed, compare=args.compare))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"{args.name}.json").write_bytes(orjson.dumps(result,
                                                             option=orjson.OPT_INDENT_2))
    text = markdown(result)
    (OUT_DIR / f"{args.name}.md").write_text(text)
    print(text)
    print("written:", OUT_DIR / f"{args.name}.json", OUT_DIR / f"{args.name}.md")


if __name__ == "__main__":
    main()
