"""Open-loop, fixed-rate call intake: calls/s achieved and request-to-assignment latency.

    python -m loadtests.intake --url URL --rate R --seconds S [--token T]
    python -m loadtests.intake --start-local --rate R --seconds S
    python -m loadtests.intake --start-local --private-postgres --rate R --seconds S
    python -m loadtests.intake --start-local --sweep 5,10,20,40,80 --seconds S  # sweep.py

Call i is sent at t0 + i/R whatever happened to earlier calls (open loop), and its latency is
measured from that planned moment, so a service that falls behind shows it. Each call carries
a cell fix and an AML fix at a district-weighted point of the city.

Crews clear: every assigned vehicle is reported `available` again after a short hold (by
default half the time the fleet would take to run out at this rate, at most 5 s), so the run
measures intake to assignment rather than an empty fleet. A clear goes out with the first
call sent after its hold is over (loadtests/dueq.py: no timer of its own), so a hold is at
least that, at most one send interval more. Those status reports are timed as
crew messages. A call the service queued (no vehicle free) is assigned when a vehicle
clears; its latency to assignment is read from its timeline at the end (the `dispatched`
event's server-side insert time minus the planned send time, one clock on one machine).

Requests go out on lean keep-alive HTTP/1.1 connections (loadtests/lean_http.py), whose
own CPU per call is reported (`harness_cpu_ms_per_call`, the process's CPU clock) so a run
shows whether the harness, not the service, was the limit. `meter` (loadtests/
bench_intake.py) reads the service's and the stores' CPU over the same window: from the
first call sent to the last crew cleared, before the read-back.

Runs repeat safely against a live service: each has its own id in every Idempotency-Key and
caller number, and only the calls the service created for it (201) are timed, read back and
cleared.

With `--private-postgres` the local service runs on a throw-away PostgreSQL cluster with
pg_stat_statements (loadtests/pgstats.py), deleted at the end, and the run reports the
PostgreSQL statements, rows and commits per call (surge runs: per call of every step).
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dispatch.domain import TransportClass
from loadtests.calls import BodyTemplate, SimCall, new_run_id
from loadtests.city import City
from loadtests.client import Api, Tokens, run_loop
from loadtests.cpu import own_cpu_s
from loadtests.dueq import DueQueue
from loadtests.figures import (
    Target,
    check_targets,
    distribution,
    highest_sustained,
    pathway_and_queued_shares,
    throughput,
    what_slow_calls_share,
)
from loadtests.fixes import FixProfile, fix_sequence
from loadtests.local import database_url, local_service
from loadtests.openloop import Schedule, drive, send_offsets
from loadtests.pgstats import StatementMeter, private_cluster, statement_figures
from loadtests.presentations import Mix
from loadtests.report import (
    OUT_DIR,
    grid_table,
    histogram_png,
    line_png,
    print_table,
    summary_table,
    write_json,
)
from loadtests.verify import first_event, parse_time, read_back


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    rate: float
    seconds: float
    seed: int = 1
    hold_s: float | None = None  # None: derived from the fleet size and the rate
    p99_ms: float = 25.0
    min_rate_share: float = 0.95  # achieved / offered calls/s that still counts as sustained
    max_connections: int = 256
    emergency_only: bool = True  # bookings wait for their window: not an intake measurement
    positions_per_s: float = 0.0  # crew position pings offered alongside, open loop
    crew_p99_ms: float = 100.0
    schedule: Schedule = "uniform"  # or "poisson": exponential gaps of mean 1/rate
    clear: bool = True  # False: the crews hold their vehicles (listed in `held`)


class Meter(Protocol):
    """Reads CPU (or anything else) over the measured window of a run."""

    async def start(self) -> None: ...

    async def stop(self) -> dict[str, Any]: ...


def hold_for(*, rate: float, fleet: int, cap_s: float = 5.0) -> float:
    """How long a crew holds a vehicle: half the fleet's time to run out at `rate`, capped."""
    if rate <= 0 or fleet <= 0:
        raise ValueError("rate and fleet must be > 0")
    return min(cap_s, 0.5 * fleet / rate)


def make_calls(*, api_city: City, count: int, rng: random.Random,
               emergency_only: bool, run_id: str) -> list[SimCall]:
    """`count` calls, each with a cell and an AML fix sent together at intake."""
    mix = Mix()
    profile = FixProfile(aml_share=1.0)
    out = []
    for i in range(count):
        p = mix.draw(rng)
        while emergency_only and p.transport_class is TransportClass.NON_EMERGENCY:
            p = mix.draw(rng)
        district, lon, lat = api_city.draw_location(rng)
        fixes = tuple(fix_sequence(lon=lon, lat=lat, profile=profile, rng=rng))
        out.append(SimCall(run_id=run_id, index=i, at_s=i, answer_delay_s=rng.uniform(2.0, 8.0),
                           presentation=p, district_id=district.id, lon=lon, lat=lat,
                           fixes=fixes))
    return out


async def run_intake(*, api: Api, config: IntakeConfig, show_progress: bool = True,
                     run_id: str | None = None, meter: Meter | None = None) -> dict[str, Any]:
    """Drive the intake and return every figure (also the invariants).

    Everything it sends carries `run_id` (a fresh one by default), and it reads back, times
    and clears only the calls the service created for this run (answered 201). A 200 is the
    service returning an existing call for the key: not this run's, so an error.
    """
    run_id = run_id or new_run_id()
    rng = random.Random(config.seed)
    city = await api.city()
    fleet = sum(1 for v in city.vehicles.values() if v.kind in ("als", "bls"))
    hold_s = config.hold_s if config.hold_s is not None else hold_for(rate=config.rate,
                                                                     fleet=fleet)
    n = int(config.rate * config.seconds)
    calls = make_calls(api_city=city, count=n, rng=rng, emergency_only=config.emergency_only,
                       run_id=run_id)
    acknowledged: dict[str, list[str]] = defaultdict(list)
    sent_wall: dict[str, datetime] = {}
    planned: dict[str, float] = {}
    assigned_at_intake: dict[str, float] = {}
    outcomes: dict[str, int] = defaultdict(int)
    tasks: set[asyncio.Task[Any]] = set()
    held: list[tuple[str, str]] = []  # (vehicle, call) left assigned: config.clear False
    timed: list[tuple[float, dict[str, str]]] = []  # intake ms and what kind of call

    due: DueQueue[tuple[str, str]] = DueQueue()  # (vehicle, call) cleared once held

    async def clear(vehicle_id: str, call_id: str) -> None:
        # a crew's clearing names its call, as the tablet does
        await api.request("POST", f"/v1/vehicles/{vehicle_id}/status", label="crew_status",
                          token=api.tokens.crew(vehicle_id),
                          body={"status": "available", "call_id": call_id})

    def clear_due() -> None:
        """Send every clear whose hold is over (the loop is awake: see loadtests/dueq.py)."""
        for vehicle_id, call_id in due.take_due(api.clock()):
            t = asyncio.create_task(clear(vehicle_id, call_id))
            tasks.add(t)
            t.add_done_callback(tasks.discard)

    async def send(call: SimCall, meant_at: float) -> None:
        wall = datetime.now(UTC)  # answered now
        key = call.key
        r = await api.request("POST", "/v1/calls", label="intake",
                              content=bodies[call.index].render(wall),
                              headers={"Idempotency-Key": key}, meant_at=meant_at)
        if r is None or r.status_code != 201:
            if r is not None and r.status_code == 200:
                # A fresh key answered with an existing call: someone else's, not measured.
                api.errors["intake:200_existing_call"] += 1
                outcomes["replayed"] += 1
            outcomes["error"] += 1
            return
        latency = api.clock() - meant_at
        view = r.json()
        timed.append((latency * 1000, {
            "pathway": "pathway" if call.presentation.pathway else "plain",
            "outcome": "assigned" if view["assignments"] else "queued",
            "presentation": call.presentation.name}))
        acknowledged[key].append(view["id"])
        sent_wall[view["id"]] = wall
        planned[view["id"]] = meant_at
        if view["assignments"]:
            outcomes["assigned"] += 1
            assigned_at_intake[view["id"]] = api.clock() - meant_at
            for a in view["assignments"]:
                if not config.clear:
                    held.append((a["vehicle_id"], view["id"]))
                    continue
                due.put(api.clock() + hold_s, (a["vehicle_id"], view["id"]))
        else:
            outcomes["queued"] += 1

    # redrawn by the sends, every 50th: the auto-refresh thread's ten redraws a second
    # cost more CPU than the calls at 20/s
    progress = Progress(TextColumn("intake {task.fields[rate]:.0f}/s"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        disable=not show_progress, transient=True, auto_refresh=False)
    for vehicle_id in city.vehicles:  # a tablet holds its token before the calls come
        api.tokens.crew(vehicle_id)
    # each call's body rendered now but for its times (the sends run on a cold cache)
    bodies = [BodyTemplate.of(call=c, fixes=c.fixes) for c in calls]
    offsets = send_offsets(rate=config.rate, count=n, schedule=config.schedule,
                           rng=random.Random(config.seed))
    if meter is not None:
        await meter.start()
    cpu_start = own_cpu_s()
    start = api.clock() + 0.2
    ping_task = asyncio.create_task(_ping_positions(api=api, city=city, config=config,
                                                    start=start, tasks=tasks))
    with progress:
        bar = progress.add_task("intake", total=n, rate=config.rate)

        sending: set[asyncio.Task[Any]] = set()

        def launch(i: int, meant: float) -> None:
            t = asyncio.create_task(send(calls[i], meant))
            sending.add(t)
            t.add_done_callback(sending.discard)
            clear_due()
            if i % 50 == 0:
                progress.update(bar, completed=i, refresh=True)

        await drive(offsets=offsets, start=start, clock=api.clock, launch=launch)
        progress.update(bar, completed=n, refresh=True)
        await _clear_the_rest(due=due, sending=sending, clock=api.clock, clear_due=clear_due)
        await ping_task
        while tasks:
            await asyncio.gather(*list(tasks))
    harness_cpu_s = own_cpu_s() - cpu_start
    metered = await meter.stop() if meter is not None else {}
    end = max((s.started + s.latency_s for s in api.samples["intake"]), default=start + 1.0)
    # Queued calls that a clearing crew picked up: their time to assignment from the timeline.
    # The read-back is a check after the run: its CPU is reported apart from the calls'.
    verify_start = own_cpu_s()
    back = await read_back(api=api, acknowledged=acknowledged)
    verify_cpu_s = own_cpu_s() - verify_start
    to_assignment, never_assigned, before_sent = _times_to_assignment(
        calls=back.calls, assigned_at_intake=assigned_at_intake, sent_wall=sent_wall)
    intake_ms = [s.latency_s * 1000 for s in api.samples["intake"] if s.status == 201]
    crew_ms = [s.latency_s * 1000 for s in api.samples["crew_status"] if s.status == 200]
    position_ms = [s.latency_s * 1000 for s in api.samples["crew_position"] if s.status < 400]
    achieved = len(intake_ms) / (end - start) if end > start else 0.0
    lat = distribution(intake_ms)
    targets = check_targets(
        [Target("intake_p99_ms", config.p99_ms),
         *([Target("position_p99_ms", config.crew_p99_ms)] if position_ms else []),
         Target("achieved_share_of_offered", config.min_rate_share, at_most=False),
         Target("invariant_violations", 0), Target("existing_calls_returned", 0),
         Target("assigned_before_sent", 0)],
        {"intake_p99_ms": lat.p99, "position_p99_ms": distribution(position_ms).p99,
         "achieved_share_of_offered": achieved / config.rate,
         "invariant_violations": 0 if back.invariants.ok else 1,
         "existing_calls_returned": outcomes.get("replayed", 0),
         "assigned_before_sent": before_sent})
    per_s = throughput([s.started + s.latency_s for s in api.samples["intake"]], bin_s=1.0,
                       start=start, end=max(end, start + 1.0))
    return {
        "mode": "intake", "run_id": run_id, "config": asdict(config), "hold_s": hold_s,
        "fleet_emergency": fleet,
        "offered_calls_per_s": config.rate, "achieved_calls_per_s": achieved,
        "calls_sent": n, "outcomes": dict(outcomes),
        "intake_latency_ms": lat.to_dict(),
        "request_to_assignment_ms": distribution([v * 1000 for v in to_assignment]).to_dict(),
        "never_assigned": never_assigned, "assigned_before_sent": before_sent,
        "crew_status_latency_ms": distribution(crew_ms).to_dict(),
        "crew_position_latency_ms": distribution(position_ms).to_dict(),
        "positions_sent": len(position_ms),
        "errors": dict(api.errors), "throughput_per_s": per_s,
        "harness_cpu_ms_per_call": round(1000 * harness_cpu_s / max(1, n), 4),
        "verify_cpu_ms_per_call": round(1000 * verify_cpu_s / max(1, n), 4),
        "slow": what_slow_calls_share(timed, above=lat.p95),
        "metered": metered, "held": held,
        "invariants": back.invariants.to_dict(),
        "targets": [t.to_dict() for t in targets], "passed": all(t.passed for t in targets),
        "_samples": {"intake_ms": intake_ms, "crew_ms": crew_ms},
    }


async def _clear_the_rest(*, due: DueQueue[Any], sending: set[asyncio.Task[Any]],
                          clock: Callable[[], float], clear_due: Callable[[], None]) -> None:
    """After the last call is sent, no send is left to carry the clears: a timer for each
    moment one falls due, until every call is answered and every clear sent."""
    while sending or due:
        next_due = due.next_due()
        if next_due is None:
            await asyncio.wait(list(sending), return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(max(0.0, next_due - clock()))
        clear_due()


def count_statements(figures: dict[str, Any]) -> dict[str, Any]:
    """`figures` with a StatementMeter's window (in `metered`) as figures per call."""
    if "source" in figures["metered"]:
        figures["pg_per_call"] = statement_figures(figures.pop("metered"),
                                                   calls=figures["calls_sent"])
    return figures


async def _ping_positions(*, api: Api, city: City, config: IntakeConfig, start: float,
                          tasks: set[asyncio.Task[Any]]) -> None:
    """Crew position pings at a fixed rate alongside the calls (open loop)."""
    if config.positions_per_s <= 0:
        return
    ids = sorted(city.vehicles)
    for j in range(int(config.positions_per_s * config.seconds)):
        meant = start + j / config.positions_per_s
        delay = meant - api.clock()
        if delay > 0:
            await asyncio.sleep(delay)
        v = city.vehicles[ids[j % len(ids)]]
        t = asyncio.create_task(api.request(
            "POST", f"/v1/vehicles/{v.id}/position", label="crew_position",
            token=api.tokens.crew(v.id), meant_at=meant,
            body={"lon": v.lon, "lat": v.lat, "at": datetime.now(UTC).isoformat()}))
        tasks.add(t)
        t.add_done_callback(tasks.discard)


def _times_to_assignment(
    *, calls: dict[str, dict[str, Any]], assigned_at_intake: dict[str, float],
    sent_wall: dict[str, datetime],
) -> tuple[list[float], int, int]:
    """Seconds from request to assignment per call, how many were never assigned, and how
    many timelines put the assignment before the request was sent.

    Only calls this run created (`sent_wall`) are timed. An assignment stamped before the
    request left is not a latency: the call is not the one sent (or the service's clock is
    behind the harness's), so it is counted apart and never enters the distribution.
    """
    out = list(assigned_at_intake.values())
    never = before_sent = 0
    for cid, view in calls.items():
        if cid in assigned_at_intake or cid not in sent_wall:
            continue
        ev = first_event(view, "dispatched")
        if ev is None:
            never += 1
            continue
        seconds = (parse_time(ev["received_at"]) - sent_wall[cid]).total_seconds()
        if seconds < 0:
            before_sent += 1
            continue
        out.append(seconds)
    return out, never, before_sent


async def run_surge(*, api: Api, config: IntakeConfig, factor: float = 1.5,
                    max_steps: int = 12, show_progress: bool = True,
                    meter: StatementMeter | None = None) -> dict[str, Any]:
    """Raise the offered rate step by step until a target breaks; report the last good one.

    `meter`: counts each step's PostgreSQL statements and commits."""
    steps: list[dict[str, Any]] = []
    rate = config.rate
    for i in range(max_steps):
        step = IntakeConfig(**{**asdict(config), "rate": rate,
                               "positions_per_s": config.positions_per_s / config.rate * rate})
        api.samples.clear()
        api.errors.clear()
        figures = count_statements(await run_intake(api=api, config=step,
                                                    show_progress=show_progress, meter=meter))
        figures.pop("_samples")
        steps.append(figures)
        if show_progress:
            lat = figures["intake_latency_ms"]
            print(f"surge step {i}: offered {rate:.0f}/s achieved "
                  f"{figures['achieved_calls_per_s']:.0f}/s p99 {lat['p99'] or 0:.1f} ms "
                  f"{'ok' if figures['passed'] else 'BROKEN'}")
        if not figures["passed"]:
            break
        rate *= factor
    best = highest_sustained([(s["offered_calls_per_s"], s["passed"]) for s in steps])
    return {"mode": "surge", "config": asdict(config), "factor": factor,
            "highest_sustained_calls_per_s": best, "steps": steps,
            "passed": best is not None,
            "_samples": {"intake_ms": [], "crew_ms": []},
            "throughput_per_s": [s["achieved_calls_per_s"] for s in steps]}


def write_outputs(figures: dict[str, Any], *, name: str) -> list[str]:
    """JSON (without the raw samples) and the PNGs; return the paths."""
    samples = figures.pop("_samples")
    paths = [str(write_json(name=name, figures=figures))]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    paths.append(str(histogram_png(
        path=OUT_DIR / f"{name}-latency.png", title="intake latency (open loop)",
        xlabel="ms", series={"POST /v1/calls": samples["intake_ms"],
                             "crew status": samples["crew_ms"]})))
    tp = figures["throughput_per_s"]
    paths.append(str(line_png(path=OUT_DIR / f"{name}-throughput.png",
                              series={"calls answered/s": tp}, x=list(range(len(tp))),
                              title="throughput", xlabel="s", ylabel="calls/s")))
    return paths


def write_surge_outputs(figures: dict[str, Any], *, name: str) -> list[str]:
    """JSON of every step, and offered vs achieved rate and p99 per step."""
    figures.pop("_samples", None)
    paths = [str(write_json(name=name, figures=figures))]
    steps = figures["steps"]
    x = [s["offered_calls_per_s"] for s in steps]
    paths.append(str(line_png(
        path=OUT_DIR / f"{name}-ramp.png", title="surge: achieved rate and intake p99",
        x=x, xlabel="offered calls/s", ylabel="calls/s or ms",
        series={"achieved calls/s": [s["achieved_calls_per_s"] for s in steps],
                "intake p99 ms": [s["intake_latency_ms"]["p99"] for s in steps],
                "position p99 ms": [s["crew_position_latency_ms"]["p99"] for s in steps]})))
    return paths


def surge_rows(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """One row per step, then the verdict."""
    out: list[tuple[str, Any]] = []
    for s in figures["steps"]:
        lat = s["intake_latency_ms"]
        pos = s["crew_position_latency_ms"]
        out.append((f"offered {s['offered_calls_per_s']:.0f}/s",
                    f"achieved {s['achieved_calls_per_s']:.0f}/s, p99 {lat['p99'] or 0:.1f} ms,"
                    f" positions p99 {pos['p99'] or 0:.1f} ms"
                    f" {'ok' if s['passed'] else 'broken'}"))
    out.append(("highest sustained calls/s", figures["highest_sustained_calls_per_s"]))
    return out


def _pg_rows(pg: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Statements and commits per call, when the run counted them."""
    if not pg:
        return []
    return [("PG statements per call (nested)",
             f"{pg['statements_per_call']} ({pg['nested_per_call']})"),
            ("PG commits per call", pg["commits_per_call"])]


def _slow_rows(slow: dict[str, Any]) -> list[tuple[str, Any]]:
    """Pathway and queued calls' shares of the calls above p95, against all calls."""
    return [(f"above p95 ({slow['slow']} calls): {label} share (of all)",
             f"{share:.0%} ({every:.0%})")
            for label, (share, every) in pathway_and_queued_shares(slow).items()]


def rows(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """The summary table's rows."""
    lat = figures["intake_latency_ms"]
    ta = figures["request_to_assignment_ms"]
    return [
        ("offered calls/s", figures["offered_calls_per_s"]),
        ("achieved calls/s", figures["achieved_calls_per_s"]),
        ("calls sent", figures["calls_sent"]),
        ("assigned at intake / queued", f"{figures['outcomes'].get('assigned', 0)} / "
                                        f"{figures['outcomes'].get('queued', 0)}"),
        ("intake p50 / p95 / p99 ms", f"{lat['p50'] or 0:.1f} / {lat['p95'] or 0:.1f} / "
                                      f"{lat['p99'] or 0:.1f}"),
        ("request->assignment p99 ms", ta["p99"]),
        ("crew status p99 ms", figures["crew_status_latency_ms"]["p99"]),
        ("crew hold s", figures["hold_s"]),
        ("harness CPU ms per call", figures["harness_cpu_ms_per_call"]),
        ("read-back CPU ms per call (after the run)", figures["verify_cpu_ms_per_call"]),
        *_slow_rows(figures["slow"]),
        *_pg_rows(figures.get("pg_per_call")),
        ("lost / duplicated / double-assigned",
         f"{figures['invariants']['lost']} / {figures['invariants']['duplicated']} / "
         f"{figures['invariants']['double_assignments']}"),
        ("errors", figures["errors"] or "none"),
    ]


def main(
    url: Annotated[str | None, typer.Option(help="base URL of a running service")] = None,
    rate: Annotated[float, typer.Option(help="calls per second, offered at a fixed rate")] = 200,
    seconds: Annotated[float, typer.Option(help="how long to offer calls")] = 20,
    token: Annotated[str | None, typer.Option(envvar="DISPATCH_TOKEN",
                                              help="dispatcher token (dispatch token)")] = None,
    jwt_secret: Annotated[str | None, typer.Option(
        envvar="DISPATCH_JWT_SECRET", help="mint crew tokens per vehicle (optional)")] = None,
    start_local: Annotated[bool, typer.Option(
        help="start a local service on an isolated schema/prefix with the demo city")] = False,
    private_postgres: Annotated[bool, typer.Option(
        help="with --start-local: on a throw-away PostgreSQL cluster with "
             "pg_stat_statements; report statements and commits per call")] = False,
    instances: Annotated[int, typer.Option(help="local instances (with --start-local)")] = 1,
    hold_s: Annotated[float | None, typer.Option(help="crew hold before clearing, s")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    p99_ms: Annotated[float, typer.Option(help="target: intake p99 latency, ms")] = 25.0,
    positions_per_s: Annotated[float, typer.Option(
        help="crew position pings per second offered alongside the calls")] = 0.0,
    surge: Annotated[bool, typer.Option(
        help="ramp from --rate by x1.5 per step of --seconds until a target breaks")] = False,
    name: Annotated[str | None, typer.Option(help="output file stem in loadtests/out/")] = None,
    schedule: Annotated[str, typer.Option(
        help="uniform (call i at i/rate) or poisson (exponential gaps)")] = "uniform",
    sweep: Annotated[str | None, typer.Option(
        help="with --start-local: comma-separated rates run in turn on one service, one "
             "row each (CPU per call of every part), and the highest that met the "
             "targets")] = None,
    warmup_s: Annotated[float, typer.Option(
        help="with --sweep: offer the first rate this long first, unrecorded")] = 3.0,
) -> None:
    """Offer calls at a fixed rate and report calls/s and latency to assignment."""
    if schedule not in ("uniform", "poisson"):
        raise typer.BadParameter("uniform or poisson", param_hint="--schedule")
    config = IntakeConfig(rate=rate, seconds=seconds, seed=seed, hold_s=hold_s, p99_ms=p99_ms,
                          positions_per_s=positions_per_s,
                          schedule="poisson" if schedule == "poisson" else "uniform")
    stem = name or ("surge" if surge else "sweep" if sweep else "intake")
    if sweep is not None:
        from loadtests import sweep as sweeping  # it imports this module

        if not start_local:
            raise typer.BadParameter("only with --start-local (it reads the service's CPU)",
                                     param_hint="--sweep")
        try:
            rates = sweeping.parse_rates(sweep)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--sweep") from exc
        result = run_loop(sweeping.sweep_local(config=config, rates=rates,
                                               private_postgres=private_postgres,
                                               warmup_s=warmup_s))
        paths = sweeping.write_outputs(result, name=stem)
        print_table(grid_table(title="dispatch intake sweep",
                               rows=sweeping.table_rows(result["rows"])), width=240)
        print(sweeping.verdict(result))
        print("written:", ", ".join(paths))
        sys.exit(0 if result["passed"] else 1)

    async def drive(api: Api, meter: StatementMeter | None = None) -> dict[str, Any]:
        """Run the chosen mode over `api`, then close it."""
        try:
            if surge:
                return await run_surge(api=api, config=config, meter=meter)
            return count_statements(await run_intake(api=api, config=config, meter=meter))
        finally:
            await api.aclose()

    async def local(database: str, meter: StatementMeter | None) -> dict[str, Any]:
        async with local_service(instances=instances, database=database) as svc:
            figures = await drive(Api(urls=svc.urls,
                                      tokens=Tokens.minted(secret=svc.jwt_secret),
                                      max_connections=config.max_connections), meter)
            figures["service"] = {"local": True, "instances": instances}
            return figures

    async def run() -> dict[str, Any]:
        if start_local and private_postgres:
            async with private_cluster(databases=["bench_service"],
                                       copy_from=database_url()) as pg:
                return await local(pg.url("bench_service"),
                                   StatementMeter(admin_url=pg.admin_dsn,
                                                  database="bench_service"))
        if private_postgres:
            raise typer.BadParameter("only with --start-local", param_hint="--private-postgres")
        if start_local:
            return await local(database_url(), None)
        if url is None or token is None:
            raise typer.BadParameter("give --url and --token, or --start-local")
        figures = await drive(Api(urls=(url.rstrip("/"),),
                                  tokens=Tokens(dispatcher=token, jwt_secret=jwt_secret),
                                  max_connections=config.max_connections))
        figures["service"] = {"local": False, "url": url}
        return figures

    figures = run_loop(run())
    if surge:
        paths = write_surge_outputs(figures, name=stem)
        print_table(summary_table(title="dispatch intake surge", rows=surge_rows(figures)))
    else:
        paths = write_outputs(figures, name=stem)
        print_table(summary_table(title="dispatch intake", rows=rows(figures),
                                  targets=_targets(figures)))
    print("written:", ", ".join(paths))
    if not figures["passed"]:
        sys.exit(1)


def _targets(figures: dict[str, Any]) -> list[Any]:
    from loadtests.figures import TargetResult
    return [TargetResult(**t) for t in figures["targets"]]


if __name__ == "__main__":
    typer.run(main)
