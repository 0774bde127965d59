"""Group commit of intakes, off and on, alternated: commits, CPU and latency per call.

    python -m loadtests.bench_group_commit --rates 40,80,160 --seconds 10 --runs 3
    # loadtests/out/group-commit.json and loadtests/out/group-commit.md

Two services from this tree (one uvicorn process each, demo city), the same but for
DISPATCH_INTAKE_BATCH_MS (0, and --window-ms), each on its own database of one private
PostgreSQL cluster with pg_stat_statements (loadtests/pgstats.py), take turns at each
rate: `loadtests.bench_intake.service_run`, an open-loop intake run whose crews clear,
so a call is its intake and its clear. Reported per rate and setting, medians of the
runs: achieved calls/s, PostgreSQL commits and statements per call, CPU ms per call of
the service and of its PostgreSQL backends, intake p50/p99.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from typing import Any

import orjson

from loadtests.bench_intake import ProcessMeter, postgres, service_run
from loadtests.client import Api, Tokens, run_loop
from loadtests.local import local_service
from loadtests.report import OUT_DIR, machine

SETTINGS = ("off", "on")


def _median(runs: list[dict[str, Any]], *path: str) -> float:
    values = []
    for r in runs:
        value: Any = r
        for key in path:
            value = value[key]
        values.append(float(value or 0.0))
    return round(statistics.median(values), 2)


def _row(rate: float, setting: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rate": rate, "setting": setting,
            "achieved_per_s": _median(runs, "achieved_per_s"),
            "commits_per_call": _median(runs, "pg_per_call", "commits_per_call"),
            "statements_per_call": _median(runs, "pg_per_call", "statements_per_call"),
            "service_ms": _median(runs, "cpu_ms_per_call", "service"),
            "pg_ms": _median(runs, "cpu_ms_per_call", "pg"),
            "p50_ms": _median(runs, "intake_ms", "p50"),
            "p99_ms": _median(runs, "intake_ms", "p99")}


def markdown(rows: list[dict[str, Any]], window_ms: float) -> str:
    out = ["| calls/s offered | group commit | achieved/s | commits/call | statements/call "
           "| service CPU ms/call | PG CPU ms/call | intake p50 ms | p99 ms |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = f"on, {window_ms:g} ms" if r["setting"] == "on" else "off"
        out.append(f"| {r['rate']:g} | {name} | {r['achieved_per_s']} | "
                   f"{r['commits_per_call']} | {r['statements_per_call']} | "
                   f"{r['service_ms']} | {r['pg_ms']} | {r['p50_ms']} | {r['p99_ms']} |")
    return "\n".join(out) + "\n"


async def bench(*, rates: list[float], seconds: float, runs: int, window_ms: float,
                seed: int) -> dict[str, Any]:
    """Every rate, `runs` turns of each setting (the order swapped every run)."""
    done: list[dict[str, Any]] = []
    async with (postgres(list(SETTINGS), private=True) as cluster,
                contextlib.AsyncExitStack() as stack):
        targets: dict[str, tuple[Api, list[int]]] = {}
        for setting in SETTINGS:
            svc = await stack.enter_async_context(local_service(
                database=cluster.database(setting),
                extra_env={"DISPATCH_INTAKE_BATCH_MS": str(window_ms if setting == "on"
                                                           else 0)}))
            api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret))
            stack.push_async_callback(api.aclose)
            targets[setting] = (api, list(svc.pids))

        async def one(setting: str, rate: float, seconds: float, seed: int) -> dict[str, Any]:
            api, pids = targets[setting]
            meter = ProcessMeter(pids=pids, database=cluster.database(setting),
                                 cluster_pids=cluster.processes)
            r = await service_run(api=api, meter=meter, rate=rate, seconds=seconds, seed=seed)
            return {**r, "setting": setting}

        for setting in SETTINGS:  # statements prepared, pools grown, the city cached
            await one(setting, rates[0], 2.0, seed + 999)
        for rate in rates:
            for i in range(runs):
                for setting in SETTINGS[i % 2:] + SETTINGS[:i % 2]:
                    r = await one(setting, rate, seconds, seed + i)
                    done.append({**r, "run": i})
                    print(f"{rate:g}/s {setting} run {i}: {_row(rate, setting, [r])}",
                          flush=True)
    rows = [_row(rate, s, [r for r in done if r["rate"] == rate and r["setting"] == s])
            for rate in rates for s in SETTINGS]
    return {"rates": rates, "seconds": seconds, "runs": runs, "window_ms": window_ms,
            "machine": machine(), "rows": rows, "runs_detail": done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="40,80,160", help="calls/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window-ms", type=float, default=2.0,
                        help="DISPATCH_INTAKE_BATCH_MS of the service with group commit")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="group-commit", help="output stem in loadtests/out/")
    args = parser.parse_args()
    result = run_loop(bench(rates=[float(r) for r in args.rates.split(",")],
                            seconds=args.seconds, runs=args.runs, window_ms=args.window_ms,
                            seed=args.seed))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"{args.name}.json").write_bytes(orjson.dumps(result,
                                                             option=orjson.OPT_INDENT_2))
    text = markdown(result["rows"], args.window_ms)
    (OUT_DIR / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
