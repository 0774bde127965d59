"""A rate sweep: intake runs at each offered rate in turn on one service, one row per rate.

    python -m loadtests.intake --start-local --sweep 5,10,20,40,80 --seconds 10

Each rate is a `run_intake` (open loop, crews clearing) metered as `loadtests.bench_intake`
meters a run: the service process's CPU, its own PostgreSQL backends', Redis's (shared)
and the harness's per call, over the window from the first call sent to the last crew
cleared. The end-of-run read-back (verification) falls outside that window: its CPU is
reported apart, per rate. The sweep names the highest rate whose run met every target
(intake p99 <= --p99-ms, achieved >= 95% of offered, no invariant broken).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from loadtests.bench_intake import ProcessMeter, per_call
from loadtests.client import Api, Tokens
from loadtests.figures import pathway_and_queued_shares
from loadtests.intake import IntakeConfig, run_intake
from loadtests.local import database_url, local_service
from loadtests.pgstats import private_cluster, statement_figures
from loadtests.report import OUT_DIR, write_json

__all__ = ["best_rate", "markdown", "parse_rates", "row", "run_sweep", "sweep_local",
           "table_rows", "verdict", "write_outputs"]


def parse_rates(text: str) -> list[float]:
    """`5,10,20` as ascending rates."""
    try:
        rates = [float(p) for p in text.split(",") if p.strip()]
    except ValueError as exc:
        raise ValueError(f"rates are numbers separated by commas: {text!r}") from exc
    if not rates or any(r <= 0 for r in rates):
        raise ValueError("give at least one rate, each > 0")
    return sorted(set(rates))


def row(figures: dict[str, Any]) -> dict[str, Any]:
    """A run's figures as one sweep row."""
    metered = figures["metered"]
    calls = figures["calls_sent"]
    inv = figures["invariants"]
    lat, ta = figures["intake_latency_ms"], figures["request_to_assignment_ms"]
    return {
        "offered_per_s": figures["offered_calls_per_s"],
        "achieved_per_s": round(figures["achieved_calls_per_s"], 1),
        "calls": calls, "outcomes": figures["outcomes"],
        "intake_ms": {k: lat[k] for k in ("p50", "p95", "p99")},
        "to_assignment_ms": {k: ta[k] for k in ("p50", "p95", "p99")},
        "cpu_ms_per_call": per_call(metered, harness_ms=figures["harness_cpu_ms_per_call"],
                                    calls=calls),
        "verify_cpu_ms_per_call": figures["verify_cpu_ms_per_call"],
        "pg_per_call": statement_figures(metered["pg_stats"], calls=calls),
        "errors": sum(figures["errors"].values()), "error_kinds": figures["errors"],
        "invariants": {k: inv[k] for k in ("lost", "duplicated", "double_assignments")},
        "invariants_ok": inv["ok"], "slow": figures.get("slow"),
        "passed": figures["passed"],
        "missed": [t["name"] for t in figures["targets"] if not t["passed"]],
    }


def best_rate(rows: Sequence[dict[str, Any]]) -> float | None:
    """The highest offered rate whose run met every target (None: none did)."""
    return max((r["offered_per_s"] for r in rows if r["passed"]), default=None)


async def run_sweep(*, api: Api, config: IntakeConfig, rates: Sequence[float],
                    meter: Callable[[], ProcessMeter], warmup_s: float = 0.0,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """An intake run per rate, in ascending order, each metered by a fresh `meter()`.

    `warmup_s`: first offer the first rate this long, unrecorded, so the first row does
    not carry the service's first calls (statements prepared, plans chosen, caches)."""
    if warmup_s > 0:
        await run_intake(api=api, config=replace(config, rate=rates[0], seconds=warmup_s),
                         show_progress=False, meter=meter())
        log(f"warm-up: {warmup_s:g} s at {rates[0]:g} calls/s, not recorded")
    rows = []
    for rate in rates:
        api.samples.clear()
        api.errors.clear()
        step = replace(config, rate=rate,
                       positions_per_s=config.positions_per_s / config.rate * rate)
        r = row(await run_intake(api=api, config=step, show_progress=False, meter=meter()))
        rows.append(r)
        log(" | ".join(f"{k} {v}" for k, v in table_rows([r])[0].items()))
    best = best_rate(rows)
    missed_below = [r["offered_per_s"] for r in rows
                    if not r["passed"] and best is not None and r["offered_per_s"] < best]
    return {"mode": "sweep", "config": asdict(config), "rates": list(rates),
            "warmup_s": warmup_s, "rows": rows,
            "highest_rate_meeting_targets": best, "missed_below_highest": missed_below,
            "p99_target_ms": config.p99_ms, "passed": best is not None}


def _ms(d: dict[str, float | None]) -> str:
    return " / ".join("-" if d[k] is None else f"{d[k]:.1f}" for k in ("p50", "p95", "p99"))


def table_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The printed columns of each row."""
    out = []
    for r in rows:
        cpu = r["cpu_ms_per_call"]
        inv = r["invariants"]
        out.append({
            "offered/s": f"{r['offered_per_s']:g}", "achieved/s": f"{r['achieved_per_s']:g}",
            "intake p50/p95/p99 ms": _ms(r["intake_ms"]),
            "request->assignment p50/p95/p99 ms": _ms(r["to_assignment_ms"]),
            "CPU ms/call service": f"{cpu['service']:.2f}", "PG own": f"{cpu['pg']:.2f}",
            "Redis (shared)": f"{cpu['redis']:.2f}", "harness": f"{cpu['harness']:.3f}",
            "verify": f"{r['verify_cpu_ms_per_call']:.3f}",
            "errors": str(r["errors"]),
            "lost/dup/double": f"{inv['lost']}/{inv['duplicated']}/{inv['double_assignments']}",
            "targets": "met" if r["passed"] else "missed " + ", ".join(r["missed"]),
        })
    return out


def verdict(result: dict[str, Any]) -> str:
    """The sentence naming the highest rate that met the targets."""
    best = result["highest_rate_meeting_targets"]
    if best is None:
        return f"No rate met the targets (intake p99 <= {result['p99_target_ms']:g} ms)."
    text = (f"Highest rate meeting the targets (intake p99 <= {result['p99_target_ms']:g} ms, "
            f"achieved >= 95% of offered, invariants held): {best:g} calls/s.")
    if result["missed_below_highest"]:
        text += (" Lower rates that missed: "
                 + ", ".join(f"{r:g}" for r in result["missed_below_highest"]) + "/s.")
    return text


def markdown(result: dict[str, Any]) -> str:
    """The table and the verdict as Markdown."""
    rows = table_rows(result["rows"])
    head = list(rows[0]) if rows else []
    lines = [f"Intake sweep, {result['config']['seconds']:g} s per rate; CPU ms per call "
             "(intake + clear) over the run's window; verify: the read-back after it.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r.values()) + " |" for r in rows]
    return "\n".join([*lines, "", verdict(result), "", *slow_lines(result["rows"])]) + "\n"


def slow_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Per rate, the pathway and queued calls' shares of the calls above p95 (of all)."""
    out = []
    for r in rows:
        shares = pathway_and_queued_shares(r.get("slow") or {})
        if shares:
            out.append(f"- {r['offered_per_s']:g}/s, {r['slow']['slow']} calls above p95 "
                       f"({r['slow']['above']:.1f} ms): " + ", ".join(
                           f"{label} {slow:.0%} (of all {every:.0%})"
                           for label, (slow, every) in shares.items()))
    return ["Calls above p95:", "", *out] if out else []


async def sweep_local(*, config: IntakeConfig, rates: Sequence[float],
                      private_postgres: bool = False, warmup_s: float = 0.0
                      ) -> dict[str, Any]:
    """The sweep on a local service (on a throw-away cluster with `private_postgres`)."""
    if not private_postgres:
        return await _on_local(config=config, rates=rates, database=database_url(),
                               warmup_s=warmup_s)
    async with private_cluster(databases=["bench_service"], copy_from=database_url()) as pg:
        return await _on_local(config=config, rates=rates, database=pg.url("bench_service"),
                               cluster_pids=pg.processes, warmup_s=warmup_s)


async def _on_local(*, config: IntakeConfig, rates: Sequence[float], database: str,
                    cluster_pids: Callable[[], list[int]] | None = None,
                    warmup_s: float = 0.0) -> dict[str, Any]:
    async with local_service(database=database) as svc:
        api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret),
                  max_connections=config.max_connections)
        try:
            result = await run_sweep(
                api=api, config=config, rates=rates, warmup_s=warmup_s,
                meter=lambda: ProcessMeter(pids=list(svc.pids), database=database,
                                           cluster_pids=cluster_pids))
        finally:
            await api.aclose()
    result["private_postgres"] = cluster_pids is not None
    return result


def write_outputs(result: dict[str, Any], *, name: str) -> list[str]:
    """`<name>.json` (every figure) and `<name>.md` (the table) in loadtests/out/."""
    path = write_json(name=name, figures=result)
    md = OUT_DIR / f"{name}.md"
    md.write_text(markdown(result))
    return [str(path), str(md)]
