"""CPU milliseconds per call of the intake, part by part, as a ratio to a bare baseline.

    python -m loadtests.bench_intake --rate 40 --seconds 10 --runs 3 [--private-postgres]
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
* harness: this process (/proc/self/stat);
* PostgreSQL statements (top-level and nested), rows and commits per call, and the most
  frequent statements (loadtests/pgstats.py).

With `--private-postgres` every target runs on a throw-away cluster (initdb in a temporary
directory, a free port; deleted at the end, also on an error or Ctrl-C) with
pg_stat_statements preloaded and the shared server's durability and memory settings, one
database per target: its statements and commits are counted from pg_stat_statements and
pg_stat_database with no other client, and `pg_cluster` is that cluster alone. Without it
only commits are counted, from the shared database (other clients' too).

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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
from loadtests.pgstats import STATEMENT_KEYS, StatementMeter, private_cluster, statement_figures
from loadtests.report import OUT_DIR, machine

PARTS = ("service", "pg", "pg_cluster", "redis", "harness")


def _postgres_cpu_s(pids: list[int] | None = None) -> dict[int, float]:
    """CPU seconds of `pids`, by default every postgres process of the machine (the whole,
    shared cluster)."""
    if pids is not None:
        return {pid: pid_cpu_s(pid) or 0.0 for pid in pids}
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
class Cluster:
    """The PostgreSQL the targets use: a URL of each target's database, and the cluster's
    processes when it is a private one (None: the shared cluster, every postgres process)."""

    urls: dict[str, str]
    processes: Callable[[], list[int]] | None = None
    directory: str | None = None  # a private cluster's files (deleted at the end)
    port: int | None = None

    @property
    def private(self) -> bool:
        return self.processes is not None

    def database(self, target: str) -> str:
        return self.urls.get(target) or self.urls["service"]


def with_database(url: str, name: str) -> str:
    """`url` naming the database `name` instead."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@dataclass
class ProcessMeter:
    """CPU of given server processes, their PostgreSQL backends, the cluster and Redis; the
    statements and commits of their database."""

    pids: list[int]
    database: str = field(default_factory=database_url)
    cluster_pids: Callable[[], list[int]] | None = None
    backends: BackendMeter = field(init=False)
    stats: StatementMeter = field(init=False)
    _start: dict[str, float] = field(default_factory=dict)
    _cluster: dict[int, float] = field(default_factory=dict)
    _follow: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        url = urlsplit(self.database)
        # the readings go through another database: not counted as the target's statements
        admin = with_database(self.database, "postgres")
        self.backends = BackendMeter(database_url=admin, client_pids=self.pids,
                                     pg_port=url.port or 5432)
        self.stats = StatementMeter(admin_url=admin, database=url.path.lstrip("/"))

    def _cluster_cpu_s(self) -> dict[int, float]:
        return _postgres_cpu_s(None if self.cluster_pids is None else self.cluster_pids())

    def _servers_s(self) -> float:
        return sum(pid_cpu_s(pid) or 0.0 for pid in self.pids)

    async def start(self) -> None:
        await self.stats.start()
        self.backends.start()
        await self.backends.read()
        self.backends.cost_s = 0.0  # from here on the readings fall in the measured window
        self._cluster = self._cluster_cpu_s()
        self._start = {"service": self._servers_s(), "redis": await redis_cpu_s(redis_url())}
        self._follow = asyncio.create_task(self.backends.follow())

    async def stop(self) -> dict[str, Any]:
        if self._follow is not None:
            self._follow.cancel()
            # wait for it to end without swallowing a cancellation of this task (Ctrl-C)
            await asyncio.wait([self._follow])
        meter_s = self.backends.cost_s
        await self.backends.read()
        await self.backends.close()
        out: dict[str, Any] = {
            "service_s": self._servers_s() - self._start["service"],
            "pg_s": self.backends.spent_s,
            "pg_backends": len(self.backends.last),
            "pg_cluster_s": _spent_since(self._cluster, self._cluster_cpu_s()),
            "redis_s": await redis_cpu_s(redis_url()) - self._start["redis"],
            # the meter's own readings ran in the harness's process: not the harness's
            "meter_s": meter_s}
        out["pg_stats"] = await self.stats.stop()  # after the CPU: it waits for the counts
        return out


def per_call(metered: dict[str, Any], *, harness_ms: float, calls: int) -> dict[str, float]:
    """CPU ms per call of each part, from a run's seconds."""
    out = {part: round(1000 * metered[f"{part}_s"] / max(1, calls), 4)
           for part in PARTS if part != "harness"}
    out["harness"] = round(harness_ms - 1000 * metered["meter_s"] / max(1, calls), 4)
    return out


@contextlib.asynccontextmanager
async def baseline_service(database: str) -> AsyncIterator[str]:
    """The baseline app on its own schema of `database`; dropped on the way out."""
    schema = f"ltb_{secrets.token_hex(5)}"
    env = {**os.environ, "BASELINE_DATABASE_URL": database, "BASELINE_SCHEMA": schema}
    url, proc = start_process(env=env, app="loadtests.baseline_app:create_app",
                              uvicorn_args=("--no-access-log", "--loop", "uvloop",
                                            "--http", "httptools"))
    procs: list[subprocess.Popen[bytes]] = [proc]
    try:
        await wait_ready(url=url, proc=proc)
        yield url
    finally:
        stop_processes(procs)
        await drop_isolation(tag=schema, database_url=database, redis_url=redis_url())


async def service_run(*, api: Api, meter: ProcessMeter, rate: float, seconds: float,
                      seed: int) -> dict[str, Any]:
    """One intake run; its CPU, statements and commits per call and its latencies."""
    api.samples.clear()
    api.errors.clear()
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
            "pg_per_call": statement_figures(f["metered"]["pg_stats"], calls=calls),
            "intake_ms": f["intake_latency_ms"],
            "request_to_assignment_ms": f["request_to_assignment_ms"],
            "outcomes": f["outcomes"], "errors": f["errors"],
            "invariants_ok": f["invariants"]["ok"]}


async def baseline_run(*, url: str, meter: ProcessMeter, rate: float, seconds: float,
                       seed: int) -> dict[str, Any]:
    """One run of the baseline app at the same rate; CPU and statements per request."""
    client = LeanHttp(url)
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
            "pg_per_call": statement_figures(metered["pg_stats"], calls=f["sent"]),
            "latency_ms": f["latency_ms"], "errors": f["errors"]}


async def split_run(*, api: Api, meter: Callable[[], ProcessMeter], rate: float,
                    seconds: float, seed: int) -> dict[str, Any]:
    """The intake and the crews' clear measured apart: calls at `rate` with every crew
    holding its vehicle (no more calls than half the fleet, so each is assigned at intake),
    then each held vehicle cleared in turn at the same rate."""
    city = await api.city()
    fleet = sum(1 for v in city.vehicles.values() if v.kind in ("als", "bls"))
    seconds = min(seconds, 0.5 * fleet / rate)
    api.samples.clear()
    api.errors.clear()
    f = await run_intake(api=api, config=IntakeConfig(rate=rate, seconds=seconds, seed=seed,
                                                      clear=False),
                         show_progress=False, meter=meter())
    clearing = meter()
    await clearing.start()
    start = api.clock()
    for i, (vehicle, call) in enumerate(f["held"]):
        await asyncio.sleep(max(0.0, start + i / rate - api.clock()))
        await api.request("POST", f"/v1/vehicles/{vehicle}/status", label="crew_status",
                          token=api.tokens.crew(vehicle),
                          body={"status": "available", "call_id": call})
    cleared = await clearing.stop()
    out: dict[str, Any] = {"rate": rate, "outcomes": f["outcomes"], "errors": dict(api.errors)}
    for phase, metered, n in (("intake", f["metered"], f["calls_sent"]),
                              ("clear", cleared, len(f["held"]))):
        out[phase] = {"n": n, "pg": statement_figures(metered["pg_stats"], calls=n),
                      "cpu_ms": {part: round(1000 * metered[f"{part}_s"] / max(1, n), 4)
                                 for part in ("service", "pg", "pg_cluster")}}
    return out


def split_markdown(split: dict[str, dict[str, Any]]) -> list[str]:
    """Per intake and per clear, apart: PostgreSQL statements and commits, CPU ms."""
    lines: list[str] = []
    for target, r in split.items():
        i, c = r["intake"], r["clear"]
        lines += ["", f"{target}: {i['n']} intakes at {r['rate']:g}/s with the crews holding "
                  f"(outcomes {r['outcomes']}), then {c['n']} clears; per intake and per "
                  "clear.", "", "| | per intake | per clear |", "|---|---|---|"]
        lines += [f"| {label} | {_figure(i['pg'][key])} | {_figure(c['pg'][key])} |"
                  for label, key in (("statements", "statements_per_call"),
                                     ("top-level", "toplevel_per_call"),
                                     ("nested", "nested_per_call"),
                                     ("rows", "rows_per_call"),
                                     ("COMMIT statements", "commit_statements_per_call"),
                                     ("commits (xact_commit)", "commits_per_call"))]
        lines += [f"| CPU ms, {part} | {i['cpu_ms'][part]:.2f} | {c['cpu_ms'][part]:.2f} |"
                  for part in ("service", "pg")]
    return lines


def medians(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Per part, the median over runs of `key` (a dict of CPU ms)."""
    return {part: round(statistics.median(r[key][part] for r in runs), 4) for part in PARTS}


PG_KEYS = (*STATEMENT_KEYS, "commits_per_call")


def pg_medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per PostgreSQL figure, the median over runs that have it (None where none has), and
    the top statements of the run with the median statement count."""
    figures = [r["pg_per_call"] for r in runs if r.get("pg_per_call")]
    out: dict[str, Any] = {}
    for key in PG_KEYS:
        values = [f[key] for f in figures if f.get(key) is not None]
        out[key] = round(statistics.median(values), 2) if values else None
    counted = sorted((f for f in figures if f.get("statements_per_call") is not None),
                     key=lambda f: f["statements_per_call"])
    out["top"] = counted[(len(counted) - 1) // 2]["top"] if counted else []
    return out


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
        "service_requests_per_call": statistics.median(r["requests"] / max(1, r["calls"])
                                                       for r in svc if "requests" in r)
        if all("requests" in r for r in svc) else None,
        # statements, rows, commits: per call for the service, per request for the baseline
        "pg_per_call": {"service": pg_medians(svc), "baseline": pg_medians(base)},
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
        out["pg_per_call"]["compare"] = pg_medians(other)
        # this tree's CPU per call as a share of the compared tree's (< 1: cheaper)
        out["service_vs_compare"] = {
            part: round(out["service_per_call"][part] / out["compare_per_call"][part], 3)
            for part in PARTS if out["compare_per_call"][part] > 0}
    return out


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def pg_markdown(result: dict[str, Any]) -> list[str]:
    """PostgreSQL statements, rows and commits: medians per target, every run, and the
    most frequent statements of the service (and the compared tree)."""
    pg = result["summary"]["pg_per_call"]
    # in PG_KEYS' order
    head = ("statements | top-level | nested | rows | COMMIT statements "
            "| commits (xact_commit, read-only ones too) |")
    lines = ["", "PostgreSQL per call (the baseline: per request), medians; source: "
             f"{_sources(result)}.", "", "| | " + head, "|---|---|---|---|---|---|---|"]
    for target, figures in pg.items():
        lines.append(f"| {target} | " + " | ".join(_figure(figures[k]) for k in PG_KEYS) + " |")
    lines += ["", "Every run:", "", "| run | " + head, "|---|---|---|---|---|---|---|"]
    for r in result["runs_detail"]:
        f = r["pg_per_call"]
        lines.append(f"| {r['run']} {r['target']} | "
                     + " | ".join(_figure(f[k]) for k in PG_KEYS) + " |")
    for target in ("service", "compare"):
        top = pg.get(target, {}).get("top")
        if not top:
            continue
        lines += ["", f"Most frequent statements, {target} (the run of median statement "
                  "count): per call, mean ms, nested or top-level.", "",
                  "| per call | mean ms | level | statement |", "|---|---|---|---|"]
        lines += [f"| {t['per_call']:g} | {t['mean_ms']:.3f} | "
                  f"{'top' if t['toplevel'] else 'nested'} | "
                  f"`{t['query'].replace('|', '/')}` |" for t in top]
    return lines


def _sources(result: dict[str, Any]) -> str:
    found = sorted({r["pg_per_call"]["source"] for r in result["runs_detail"]})
    where = "a private cluster" if result.get("private_postgres") else "the shared cluster"
    return f"{', '.join(found)} on {where}"


def markdown(result: dict[str, Any]) -> str:
    """The tables for docs/benchmarks.md."""
    cluster = ("whole private cluster" if result.get("private_postgres")
               else "whole cluster, shared")
    lines = [f"Offered {result['rate']:g}/s for {result['seconds']:g} s, "
             f"{result['runs']} alternated runs each, medians; CPU ms.", "",
             f"| | service | PostgreSQL (own backends) | PostgreSQL ({cluster})"
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
    if "runs_detail" in result and all("pg_per_call" in r for r in result["runs_detail"]):
        lines += pg_markdown(result)
    if result.get("split"):
        lines += split_markdown(result["split"])
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def postgres(targets: list[str], *, private: bool) -> AsyncIterator[Cluster]:
    """The shared cluster, or a private one with pg_stat_statements and a database per
    target (so each target's statements and commits are its own)."""
    if not private:
        yield Cluster(urls={"service": database_url()})
        return
    names = {target: f"bench_{target}" for target in targets}
    async with private_cluster(databases=names.values(), copy_from=database_url()) as pg:
        yield Cluster(urls={t: pg.url(name) for t, name in names.items()},
                      processes=pg.processes, directory=str(pg.root), port=pg.port)


@contextlib.asynccontextmanager
async def services(compare: str | None,
                   cluster: Cluster) -> AsyncIterator[dict[str, tuple[Api, list[int]]]]:
    """This tree's service, and the `compare` tree's when given: a client and pids each."""
    async with contextlib.AsyncExitStack() as stack:
        out: dict[str, tuple[Api, list[int]]] = {}
        trees = {"service": None, **({"compare": compare} if compare else {})}
        for target, tree in trees.items():
            source = str(Path(tree).resolve()) if tree else None
            svc = await stack.enter_async_context(local_service(
                source=source, database=cluster.database(target)))
            api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret))
            stack.push_async_callback(api.aclose)
            out[target] = (api, list(svc.pids))
        yield out


def _run_line(i: int, r: dict[str, Any]) -> str:
    pg = r["pg_per_call"]
    return (f"run {i} {r['target']}: {r['achieved_per_s']}/s "
            f"CPU ms per call {r['cpu_ms_per_call']} "
            f"PG per call: statements {_figure(pg['statements_per_call'])} "
            f"(nested {_figure(pg['nested_per_call'])}), "
            f"commits {_figure(pg['commits_per_call'])}")


async def bench(*, rate: float, seconds: float, runs: int, seed: int,
                compare: str | None = None, private_postgres: bool = False,
                warmup_s: float = 2.0, split: bool = False,
                log: bool = True) -> dict[str, Any]:
    """Alternate the service (and `compare`) with the baseline; every run, the summary.

    `private_postgres`: on a private cluster with pg_stat_statements (statements per call),
    deleted at the end; otherwise on the shared one (commits only, shared).
    `warmup_s`: an unmeasured run of each target first (0: none).
    `split`: then, per service, the intake and the clear measured apart (`split_run`).
    """
    done: list[dict[str, Any]] = []
    names = ["service", *(["compare"] if compare else []), "baseline"]
    async with (postgres(names, private=private_postgres) as cluster,
                services(compare, cluster) as targets,
                baseline_service(cluster.database("baseline")) as base_url):
        base_pids = children_matching(os.getpid(), b"loadtests.baseline_app:create_app")

        def meter_of(target: str) -> Callable[[], ProcessMeter]:
            pids = base_pids if target == "baseline" else targets[target][1]
            return lambda: ProcessMeter(pids=pids, database=cluster.database(target),
                                        cluster_pids=cluster.processes)

        async def one(target: str, *, seconds: float, seed: int) -> dict[str, Any]:
            meter = meter_of(target)()
            if target == "baseline":
                return await baseline_run(url=base_url, meter=meter, rate=rate,
                                          seconds=seconds, seed=seed)
            r = await service_run(api=targets[target][0], meter=meter, rate=rate,
                                  seconds=seconds, seed=seed)
            r["target"] = target
            return r

        # a warm-up of each: statements prepared, pools grown, the city cached
        for target in names if warmup_s > 0 else ():
            await one(target, seconds=warmup_s, seed=seed + 999)
        for i in range(runs):
            for target in names[i % len(names):] + names[:i % len(names)]:
                r = await one(target, seconds=seconds, seed=seed + i)
                r["run"] = i
                done.append(r)
                if log:
                    print(_run_line(i, r), flush=True)
        apart = {target: await split_run(api=api, meter=meter_of(target), rate=rate,
                                         seconds=seconds, seed=seed + runs)
                 for target, (api, _) in targets.items()} if split else {}
    return {"rate": rate, "seconds": seconds, "runs": runs, "compare": compare,
            "private_postgres": private_postgres, "private_directory": cluster.directory,
            "private_port": cluster.port,
            "machine": machine(), "load_average": os.getloadavg(), "runs_detail": done,
            "summary": summarise(done), "split": apart}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="intake-cpu", help="output stem in loadtests/out/")
    parser.add_argument("--compare", metavar="DIR",
                        help="also run the service from this source tree, alternated")
    parser.add_argument("--private-postgres", action="store_true",
                        help="run on a throw-away PostgreSQL cluster with pg_stat_statements "
                             "(statements per call), deleted at the end")
    parser.add_argument("--split", action="store_true",
                        help="then measure the intake and the crews' clear apart")
    args = parser.parse_args()
    random.seed(args.seed)
    result = run_loop(bench(rate=args.rate, seconds=args.seconds, runs=args.runs,
                            seed=args.seed, compare=args.compare,
                            private_postgres=args.private_postgres, split=args.split))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"{args.name}.json").write_bytes(orjson.dumps(result,
                                                             option=orjson.OPT_INDENT_2))
    text = markdown(result)
    (OUT_DIR / f"{args.name}.md").write_text(text)
    print(text)
    print("written:", OUT_DIR / f"{args.name}.json", OUT_DIR / f"{args.name}.md")


if __name__ == "__main__":
    main()
