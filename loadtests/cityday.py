"""A compressed day of the city against the live API, under one or several dispatch policies.

    python -m loadtests.cityday --start-local --calls 3000 --compress 60 --seed 1 --policy eta
    python -m loadtests.cityday --start-local --calls 3000 --policy straight,eta,coverage
    python -m loadtests.cityday --url URL --token T --calls 3000

Calls ring as a time-varying Poisson process over the day (loadtests.arrivals), at points
drawn by district population (loadtests.city), with a configurable presentation mix
(loadtests.presentations). Each call is taken with a cell fix; AML or a dispatcher's GCJ-02
map pin follows during the call (loadtests.fixes). Every vehicle has a crew task: it learns
its mission from the intake answer, from the vehicle read after it clears (a queued call is
handed to the first suitable vehicle to clear) or from a 1 s fleet sweep; it turns out after a
drawn delay, drives at the service's own ETA-model speed sending positions, works the scene,
transports, hands over and clears, then drives back to its station.

Time: simulated time runs `compress` times faster than the wall clock. The service stamps
what it stamps with its own clock; the harness turns those wall times into simulated time
(sim = start + (wall - wall0) x compress) and computes every indicator in simulated seconds.
Devices send at their real rate (positions 1 Hz of wall time, each step covering `compress`
simulated seconds), so the message load is that of a real fleet, not 60x it.

The websocket channels (crews streaming vitals, ED screens subscribed) are driven once
dispatch/handover/ws.py exists; until then crews report over HTTP only and the JSON says
`"handover_ws": "not available"` and the undelivered-message invariant is not measured.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dispatch.geo.eta import CHINA_STANDARD_TIME, EtaModel
from loadtests.arrivals import DAY_S, DailyCurve, arrival_times
from loadtests.calls import SimCall, call_body
from loadtests.city import City
from loadtests.client import Api, Tokens
from loadtests.crews import CrewTimes, nearest, path_points
from loadtests.figures import (
    DEPARTURE_LIMIT_S,
    Target,
    check_targets,
    distribution,
    group_by,
    rate_by_bin,
    share_within,
    throughput,
)
from loadtests.fixes import FixProfile, fix_sequence
from loadtests.local import local_service
from loadtests.presentations import Mix, parse_mix
from loadtests.report import (
    OUT_DIR,
    boxplot_png,
    histogram_png,
    line_png,
    print_table,
    summary_table,
    write_json,
)
from loadtests.verify import first_event, parse_time, read_back

POLICIES = ("straight", "eta", "coverage")


@dataclass(frozen=True, slots=True)
class DayConfig:
    calls: int = 3000
    compress: float = 60.0
    seed: int = 1
    start_hour: float = 0.0
    hours: float = 24.0
    mix: dict[str, float] = field(default_factory=lambda: dict(Mix().shares))
    aml_share: float = 0.8
    position_every_wall_s: float = 1.0
    drain_wall_s: float = 60.0  # after the last call, how long crews may finish their work
    intake_p99_ms: float = 25.0
    crew_p99_ms: float = 100.0
    departure_rate_min: float = 0.95  # China's 2025 target for the 3-minute departure rate


@dataclass
class CallRecord:
    """What happened to one simulated call, in simulated seconds."""

    call: SimCall
    call_id: str | None = None
    answered_s: float | None = None
    dispatched_s: float | None = None
    departed_s: float | None = None
    on_scene_s: float | None = None
    vehicle_id: str | None = None
    learned_s: float | None = None  # when the crew tablet had the mission


class SimClock:
    """Simulated seconds from local midnight, running `compress` x the wall clock."""

    def __init__(self, *, start_s: float, compress: float, loop_time: float) -> None:
        self.start_s = start_s
        self.compress = compress
        self.loop0 = loop_time
        self.wall0 = datetime.now(UTC)
        self.day0 = datetime(2025, 6, 2, tzinfo=CHINA_STANDARD_TIME)  # a Monday

    def now(self) -> float:
        """The simulated time now."""
        return self.start_s + (asyncio.get_running_loop().time() - self.loop0) * self.compress

    def of_wall(self, wall: datetime) -> float:
        """The simulated time of a wall-clock instant (a service timestamp)."""
        return self.start_s + (wall - self.wall0).total_seconds() * self.compress

    def local(self, sim_s: float) -> datetime:
        """The simulated local datetime (for the ETA model's hour of day)."""
        return self.day0 + timedelta(seconds=sim_s)

    async def until(self, sim_s: float) -> None:
        """Sleep until a simulated time."""
        delay = (sim_s - self.now()) / self.compress
        if delay > 0:
            await asyncio.sleep(delay)

    async def wait(self, sim_dur_s: float) -> None:
        """Sleep a simulated duration."""
        await asyncio.sleep(max(0.0, sim_dur_s) / self.compress)


def plan_day(*, city: City, config: DayConfig) -> list[SimCall]:
    """The day's calls, deterministic for a seed (same calls under every policy)."""
    rng = random.Random(config.seed)
    start = config.start_hour * 3600.0
    end = min(DAY_S, start + config.hours * 3600.0)
    times = arrival_times(calls=config.calls, curve=DailyCurve(), rng=rng, start_s=start,
                          end_s=end)
    mix = Mix(config.mix)
    profile = FixProfile(aml_share=config.aml_share)
    out = []
    for i, t in enumerate(times):
        p = mix.draw(rng)
        district, lon, lat = city.draw_location(rng)
        fixes = tuple(fix_sequence(lon=lon, lat=lat, profile=profile, rng=rng))
        out.append(SimCall(index=i, at_s=t, answer_delay_s=min(30.0, rng.expovariate(1 / 5.0)),
                           presentation=p, district_id=district.id, lon=lon, lat=lat,
                           fixes=fixes))
    return out


class Day:
    """One run of the day against one service."""

    def __init__(self, *, api: Api, city: City, config: DayConfig, run_tag: str) -> None:
        self.api = api
        self.city = city
        self.config = config
        self.run_tag = run_tag
        self.rng = random.Random(config.seed + 1)
        self.times = CrewTimes()
        self.eta = EtaModel.default()
        self.records: dict[int, CallRecord] = {}
        self.by_call_id: dict[str, CallRecord] = {}
        self.acknowledged: dict[str, list[str]] = defaultdict(list)
        self.inbox: dict[str, asyncio.Queue[str]] = {v: asyncio.Queue() for v in city.vehicles}
        self.known: dict[str, str | None] = dict.fromkeys(city.vehicles)  # vehicle -> call told
        self.position: dict[str, tuple[float, float]] = {
            v.id: (v.lon, v.lat) for v in city.vehicles.values()}
        self.hospitals = {h.id: (h.lon, h.lat) for h in city.hospitals.values()}
        self.missions_done = 0
        self.clock: SimClock | None = None

    # ------------------------------------------------------------------ calls

    async def take_call(self, call: SimCall) -> None:
        clock = self._clock()
        await clock.until(call.at_s + call.answer_delay_s)
        answered_s = clock.now()
        rec = CallRecord(call=call, answered_s=answered_s)
        self.records[call.index] = rec
        answered = datetime.now(UTC)
        received = answered - timedelta(seconds=call.answer_delay_s / clock.compress)
        body = call_body(call=call, received_at=received, answered_at=answered,
                         fixes=call.fixes[:1])
        key = f"{self.run_tag}-{call.key}"
        r = await self.api.request("POST", "/v1/calls", label="intake", body=body,
                                   headers={"Idempotency-Key": key})
        if r is None or r.status_code not in (200, 201):
            return
        view = r.json()
        rec.call_id = view["id"]
        self.by_call_id[view["id"]] = rec
        self.acknowledged[key].append(view["id"])
        self._told(view)
        for fix in call.fixes[1:]:
            await clock.until(answered_s + fix.after_answer_s)
            r = await self.api.request(
                "POST", f"/v1/calls/{view['id']}/fixes", label="fixes",
                body={"fixes": [fix.body(observed_at_iso=datetime.now(UTC).isoformat())]})
            if r is not None and r.status_code == 200:
                self._told(r.json())

    def _told(self, view: dict[str, Any]) -> None:
        """Hand every assignment in a call view to its crew (once)."""
        for a in view.get("assignments", []):
            self._deliver(a["vehicle_id"], view["id"])

    def _deliver(self, vehicle_id: str, call_id: str) -> None:
        if vehicle_id in self.inbox and self.known.get(vehicle_id) != call_id:
            self.known[vehicle_id] = call_id
            self.inbox[vehicle_id].put_nowait(call_id)

    async def sweep(self, stop: asyncio.Event) -> None:
        """The console's view of the fleet, once a second: catches any assignment missed."""
        while not stop.is_set():
            r = await self.api.request("GET", "/v1/vehicles", label="fleet_sweep")
            if r is not None and r.status_code == 200:
                for v in r.json()["vehicles"]:
                    if v["call_id"] is not None:
                        self._deliver(v["id"], str(v["call_id"]))
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ crews

    async def crew(self, vehicle_id: str) -> None:
        """A crew tablet: missions one after another, returning to station in between."""
        token = self.api.tokens.crew(vehicle_id)
        while True:
            next_call: str | None = await self.inbox[vehicle_id].get()
            while next_call is not None:
                next_call = await self._mission(vehicle_id, next_call, token)
            await self._return_to_station(vehicle_id, token)

    async def _mission(self, vehicle_id: str, call_id: str, token: str) -> str | None:
        clock = self._clock()
        rec = self.by_call_id.get(call_id)
        for _ in range(50):  # the intake answer may still be on its way to take_call
            if rec is not None:
                break
            await asyncio.sleep(0.02)
            rec = self.by_call_id.get(call_id)
        view_r = await self.api.request("GET", f"/v1/calls/{call_id}", label="crew_read",
                                        token=token)
        if rec is None or view_r is None or view_r.status_code != 200:
            return await self._clear(vehicle_id, token)
        view = view_r.json()
        ev = next((e for e in view["timeline"] if e["kind"] == "dispatched"
                   and e["vehicle_id"] == vehicle_id), None)
        if ev is not None and rec.dispatched_s is None:
            rec.dispatched_s = clock.of_wall(parse_time(ev["received_at"]))
            rec.vehicle_id = vehicle_id
            rec.learned_s = clock.now()
        await clock.wait(self.times.turnout.draw(self.rng))
        if not await self._status(vehicle_id, token, "en_route"):
            return await self._clear(vehicle_id, token)
        if rec.vehicle_id == vehicle_id:
            rec.departed_s = clock.now()
        call = rec.call
        district = self.city.district(call.district_id)
        await self._drive(vehicle_id, token, call.lon, call.lat,
                          district.area_type if district else "urban")
        await self._status(vehicle_id, token, "on_scene")
        if rec.vehicle_id == vehicle_id:
            rec.on_scene_s = clock.now()
        await clock.wait(self.times.patient_contact.draw(self.rng))
        await self._milestone(vehicle_id, token, "patient_contact")
        await clock.wait(self.times.scene.draw(self.rng))
        if self.rng.random() < call.presentation.transport_share:
            dest = view.get("destination_id") or nearest(lon=call.lon, lat=call.lat,
                                                         points=self.hospitals)
            if dest is not None:
                await self._status(vehicle_id, token, "transporting")
                h_lon, h_lat = self.hospitals[dest]
                area = self.city.district_at(h_lon, h_lat)
                await self._drive(vehicle_id, token, h_lon, h_lat,
                                  area.area_type if area else "urban")
                await self._status(vehicle_id, token, "at_hospital")
                await clock.wait(self.times.offload.draw(self.rng))
                await self._milestone(vehicle_id, token, "handover")
        self.missions_done += 1
        return await self._clear(vehicle_id, token)

    async def _clear(self, vehicle_id: str, token: str) -> str | None:
        """Report available; a queued call may be handed to this vehicle at once."""
        self.known[vehicle_id] = None
        await self._status(vehicle_id, token, "available")
        r = await self.api.request("GET", f"/v1/vehicles/{vehicle_id}", label="crew_read",
                                   token=token)
        if r is not None and r.status_code == 200 and r.json()["call_id"] is not None:
            call_id = str(r.json()["call_id"])
            self.known[vehicle_id] = call_id
            return call_id
        return None

    async def _return_to_station(self, vehicle_id: str, token: str) -> None:
        vehicle = self.city.vehicles[vehicle_id]
        station = self.city.stations.get(vehicle.station_id or "")
        if station is None:
            return
        lon, lat = self.position[vehicle_id]
        clock = self._clock()
        area = self.city.district_at(station.lon, station.lat)
        travel = self.eta.eta_s(from_lon=lon, from_lat=lat, to_lon=station.lon,
                                to_lat=station.lat, area_type=area.area_type if area else "urban",
                                at=clock.local(clock.now()))
        step = self.config.position_every_wall_s * clock.compress
        for _t, p_lon, p_lat in path_points(from_lon=lon, from_lat=lat, to_lon=station.lon,
                                            to_lat=station.lat, travel_s=travel, every_s=step):
            if not self.inbox[vehicle_id].empty():
                return  # a new mission: the loop in crew() takes it from here
            await clock.wait(step)
            await self._position(vehicle_id, token, p_lon, p_lat)

    async def _drive(self, vehicle_id: str, token: str, to_lon: float, to_lat: float,
                     area_type: str) -> None:
        clock = self._clock()
        lon, lat = self.position[vehicle_id]
        travel = self.eta.eta_s(from_lon=lon, from_lat=lat, to_lon=to_lon, to_lat=to_lat,
                                area_type=area_type, at=clock.local(clock.now()))
        step = self.config.position_every_wall_s * clock.compress
        last = 0.0
        for t, p_lon, p_lat in path_points(from_lon=lon, from_lat=lat, to_lon=to_lon,
                                           to_lat=to_lat, travel_s=travel, every_s=step):
            await clock.wait(t - last)
            last = t
            await self._position(vehicle_id, token, p_lon, p_lat)

    async def _position(self, vehicle_id: str, token: str, lon: float, lat: float) -> None:
        self.position[vehicle_id] = (lon, lat)
        await self.api.request("POST", f"/v1/vehicles/{vehicle_id}/position",
                               label="crew_position", token=token,
                               body={"lon": lon, "lat": lat,
                                     "at": datetime.now(UTC).isoformat()})

    async def _status(self, vehicle_id: str, token: str, status: str) -> bool:
        r = await self.api.request("POST", f"/v1/vehicles/{vehicle_id}/status",
                                   label="crew_status", token=token, body={"status": status})
        return r is not None and r.status_code == 200

    async def _milestone(self, vehicle_id: str, token: str, kind: str) -> None:
        await self.api.request("POST", f"/v1/vehicles/{vehicle_id}/milestones",
                               label="crew_status", token=token, body={"kind": kind})

    def _clock(self) -> SimClock:
        assert self.clock is not None, "run() starts the clock"
        return self.clock

    # -------------------------------------------------------------------- run

    async def run(self, *, calls: list[SimCall], show_progress: bool) -> dict[str, Any]:
        """Play the day, stop by itself, read every call back and compute the figures."""
        cfg = self.config
        start_s = cfg.start_hour * 3600.0
        self.clock = SimClock(start_s=start_s, compress=cfg.compress,
                              loop_time=asyncio.get_running_loop().time())
        stop = asyncio.Event()
        crews = [asyncio.create_task(self.crew(v)) for v in self.city.vehicles]
        sweeper = asyncio.create_task(self.sweep(stop))
        intake = [asyncio.create_task(self.take_call(c)) for c in calls]
        day_wall_s = cfg.hours * 3600.0 / cfg.compress
        progress = Progress(TextColumn("city day {task.fields[clock]}"), BarColumn(),
                            TextColumn("{task.fields[done]} calls"), TimeElapsedColumn(),
                            disable=not show_progress, transient=True)
        with progress:
            bar = progress.add_task("day", total=day_wall_s, clock="", done=0)
            while not all(t.done() for t in intake):
                await asyncio.sleep(0.5)
                now = self.clock.now()
                progress.update(bar, completed=min(day_wall_s, (now - start_s) / cfg.compress),
                                clock=f"{int(now // 3600):02d}:{int(now % 3600 // 60):02d}",
                                done=len(self.records))
            # Let crews finish the missions under way, bounded in wall time.
            deadline = asyncio.get_running_loop().time() + cfg.drain_wall_s
            while asyncio.get_running_loop().time() < deadline and self._busy():
                await asyncio.sleep(0.5)
        stop.set()
        for t in crews:
            t.cancel()
        await asyncio.gather(*crews, sweeper, return_exceptions=True)
        back = await read_back(api=self.api, acknowledged=self.acknowledged)
        return self._figures(back)

    def _busy(self) -> bool:
        return any(v is not None for v in self.known.values())

    def _figures(self, back: Any) -> dict[str, Any]:
        cfg = self.config
        clock = self._clock()
        recs = [r for r in self.records.values() if r.call_id is not None]
        # Calls assigned by the service but never seen by a crew here (the run ended first):
        for r in recs:
            view = back.calls.get(r.call_id)
            if view is not None and r.dispatched_s is None:
                ev = first_event(view, "dispatched")
                if ev is not None:
                    r.dispatched_s = clock.of_wall(parse_time(ev["received_at"]))
        response = [(r.call.district_id, r.on_scene_s - r.answered_s) for r in recs
                    if r.on_scene_s is not None and r.answered_s is not None
                    and r.call.presentation.transport_class.value == "emergency"]
        turnout = [(r.dispatched_s, r.departed_s - r.dispatched_s) for r in recs
                   if r.departed_s is not None and r.dispatched_s is not None]
        by_district = group_by(response)
        names = {d.id: d.name for d in self.city.districts}
        by_acuity = group_by((f"{int(r.call.presentation.acuity)}",
                              r.on_scene_s - r.answered_s) for r in recs
                             if r.on_scene_s is not None and r.answered_s is not None)
        departure_ok = [(t, d <= DEPARTURE_LIMIT_S) for t, d in turnout]
        dep_rate = share_within([d for _, d in turnout], DEPARTURE_LIMIT_S)
        by_hour = rate_by_bin(departure_ok, bin_s=3600.0, bins=24)
        intake_ms = [s.latency_s * 1000 for s in self.api.samples["intake"]
                     if s.status in (200, 201)]
        crew_ms = [s.latency_s * 1000 for label in ("crew_status", "crew_position")
                   for s in self.api.samples[label] if s.status < 400]
        all_done = [s.started + s.latency_s for lab in self.api.samples.values() for s in lab]
        end = max(all_done, default=1.0)
        inv = back.invariants
        resp_all = [v for _, v in response]
        targets = check_targets(
            [Target("intake_p99_ms", cfg.intake_p99_ms),
             Target("crew_message_p99_ms", cfg.crew_p99_ms),
             Target("departure_rate_3min", cfg.departure_rate_min, at_most=False),
             Target("lost_calls", 0), Target("duplicated_calls", 0),
             Target("double_assignments", 0)],
            {"intake_p99_ms": distribution(intake_ms).p99,
             "crew_message_p99_ms": distribution(crew_ms).p99,
             "departure_rate_3min": dep_rate, "lost_calls": len(inv.lost),
             "duplicated_calls": len(inv.duplicated),
             "double_assignments": len(inv.double_assignments)})
        return {
            "mode": "cityday", "config": asdict(cfg),
            "calls_planned": len(self.records), "calls_acknowledged": len(recs),
            "calls_dispatched": sum(1 for r in recs if r.dispatched_s is not None),
            "calls_reached": len(response), "missions_completed": self.missions_done,
            "response_time_s": distribution(resp_all).to_dict(),
            "response_within_12min": share_within(resp_all, 720.0),
            "response_time_by_district_s": {
                f"{k} {names.get(k, '')}".strip(): distribution(v).to_dict()
                for k, v in by_district.items()},
            "response_time_by_acuity_s": {k: distribution(v).to_dict()
                                          for k, v in by_acuity.items()},
            "turnout_s": distribution([d for _, d in turnout]).to_dict(),
            # dispatched -> the crew tablet has the mission: part of turnout, and multiplied
            # by `compress` in simulated time, so read it before the departure rate.
            "mission_notice_s": distribution([r.learned_s - r.dispatched_s for r in recs
                                              if r.learned_s is not None
                                              and r.dispatched_s is not None]).to_dict(),
            "departure_rate_3min": dep_rate,
            "departure_rate_3min_by_hour": by_hour,
            "intake_latency_ms": distribution(intake_ms).to_dict(),
            "crew_message_latency_ms": distribution(crew_ms).to_dict(),
            "requests": {k: len(v) for k, v in self.api.samples.items()},
            "errors": dict(self.api.errors),
            "throughput_per_s": throughput(all_done, bin_s=1.0, start=0.0, end=end + 1.0),
            "invariants": inv.to_dict(),
            "handover_ws": "not available: crews report over HTTP only, vitals not streamed",
            "targets": [t.to_dict() for t in targets], "passed": all(t.passed for t in targets),
            "_samples": {"intake_ms": intake_ms, "crew_ms": crew_ms,
                         "response_by_district": by_district},
        }


async def run_day(*, api: Api, config: DayConfig, run_tag: str,
                  show_progress: bool = True) -> dict[str, Any]:
    """Read the city from the service, plan the day and play it."""
    city = await api.city()
    calls = plan_day(city=city, config=config)
    day = Day(api=api, city=city, config=config, run_tag=run_tag)
    return await day.run(calls=calls, show_progress=show_progress)


def write_outputs(results: dict[str, dict[str, Any]], *, name: str) -> list[str]:
    """One JSON with every policy's figures, and the PNGs comparing them."""
    samples = {p: f.pop("_samples") for p, f in results.items()}
    paths = [str(write_json(name=name, figures={"policies": results}))]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    paths.append(str(histogram_png(
        path=OUT_DIR / f"{name}-latency.png", title="intake and crew message latency",
        xlabel="ms", series={f"{p} {k}": v for p, s in samples.items()
                             for k, v in (("intake", s["intake_ms"]), ("crew", s["crew_ms"]))})))
    paths.append(str(boxplot_png(
        path=OUT_DIR / f"{name}-response-by-district.png",
        title="response time (answered -> on scene) by district", ylabel="simulated s",
        groups={p: s["response_by_district"] for p, s in samples.items()})))
    paths.append(str(line_png(
        path=OUT_DIR / f"{name}-departure-by-hour.png", title="3-minute departure rate by hour",
        x=list(range(24)), xlabel="local hour", ylabel="share departed within 180 s",
        series={p: f["departure_rate_3min_by_hour"] for p, f in results.items()})))
    longest = max(len(f["throughput_per_s"]) for f in results.values())
    paths.append(str(line_png(
        path=OUT_DIR / f"{name}-throughput.png", title="requests answered per second",
        x=list(range(longest)), xlabel="wall s", ylabel="requests/s",
        series={p: f["throughput_per_s"] for p, f in results.items()})))
    return paths


def rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, Any]]:
    """Side-by-side rows of the summary table."""
    out: list[tuple[str, Any]] = []
    for policy, f in results.items():
        r, inv = f["response_time_s"], f["invariants"]
        out += [
            (f"{policy}: calls acknowledged / dispatched / reached",
             f"{f['calls_acknowledged']} / {f['calls_dispatched']} / {f['calls_reached']}"),
            (f"{policy}: response p50 / p90 / p95 s",
             f"{r['p50'] or 0:.0f} / {r['p90'] or 0:.0f} / {r['p95'] or 0:.0f}"),
            (f"{policy}: 3-minute departure rate", f["departure_rate_3min"]),
            (f"{policy}: intake p99 ms", f["intake_latency_ms"]["p99"]),
            (f"{policy}: crew message p99 ms", f["crew_message_latency_ms"]["p99"]),
            (f"{policy}: lost / duplicated / double-assigned",
             f"{inv['lost']} / {inv['duplicated']} / {inv['double_assignments']}"),
        ]
    return out


def main(
    url: Annotated[str | None, typer.Option(help="base URL of a running service")] = None,
    token: Annotated[str | None, typer.Option(envvar="DISPATCH_TOKEN",
                                              help="dispatcher token")] = None,
    jwt_secret: Annotated[str | None, typer.Option(
        envvar="DISPATCH_JWT_SECRET", help="mint crew tokens per vehicle (optional)")] = None,
    start_local: Annotated[bool, typer.Option(help="start local instances per policy")] = False,
    instances: Annotated[int, typer.Option(help="local instances")] = 1,
    calls: Annotated[int, typer.Option(help="calls in the day")] = 3000,
    compress: Annotated[float, typer.Option(help="simulated s per wall s")] = 60.0,
    seed: Annotated[int, typer.Option(help="random seed (same day under every policy)")] = 1,
    policy: Annotated[str, typer.Option(
        help="comma-separated: straight, eta, coverage (local runs pass it to the service)")]
        = "eta",
    start_hour: Annotated[float, typer.Option(help="first hour of the day to play")] = 0.0,
    hours: Annotated[float, typer.Option(help="hours of the day to play")] = 24.0,
    mix: Annotated[str, typer.Option(help="presentation shares, name=share,...")] = "",
    drain_wall_s: Annotated[float, typer.Option(help="wall s for crews to finish")] = 60.0,
    name: Annotated[str, typer.Option(help="output file stem in loadtests/out/")] = "cityday",
) -> None:
    """Replay a compressed city day and report response times and the 3-minute rate."""
    policies = [p.strip() for p in policy.split(",") if p.strip()]
    bad = [p for p in policies if p not in POLICIES]
    if bad or not policies:
        raise typer.BadParameter(f"policies are {', '.join(POLICIES)}; got {policy!r}")
    if len(policies) > 1 and not start_local:
        raise typer.BadParameter("comparing policies needs --start-local (one service each)")
    config = DayConfig(calls=calls, compress=compress, seed=seed, start_hour=start_hour,
                       hours=hours, mix=dict(parse_mix(mix).shares), drain_wall_s=drain_wall_s)
    results = _run_loop(run_policies(config=config, policies=policies, url=url, token=token,
                                     jwt_secret=jwt_secret, start_local=start_local,
                                     instances=instances))
    paths = write_outputs(results, name=name)
    targets = [t for f in results.values() for t in f["targets"]]
    from loadtests.figures import TargetResult
    print_table(summary_table(title=f"dispatch city day ({calls} calls, x{compress:g})",
                              rows=rows(results),
                              targets=[TargetResult(**t) for t in targets]))
    print("written:", ", ".join(paths))
    if not all(f["passed"] for f in results.values()):
        sys.exit(1)


async def run_policies(*, config: DayConfig, policies: list[str], url: str | None,
                       token: str | None, jwt_secret: str | None, start_local: bool,
                       instances: int, show_progress: bool = True) -> dict[str, dict[str, Any]]:
    """The same day under each policy, each on a fresh service."""
    results: dict[str, dict[str, Any]] = {}
    for policy in policies:
        if start_local:
            async with local_service(instances=instances, policy=policy) as svc:
                api = Api(urls=svc.urls, tokens=Tokens.minted(secret=svc.jwt_secret))
                try:
                    results[policy] = await run_day(api=api, config=config, run_tag=policy,
                                                    show_progress=show_progress)
                finally:
                    await api.aclose()
            results[policy]["service"] = {"local": True, "instances": instances,
                                          "DISPATCH_RANKING_POLICY": policy}
        else:
            if url is None or token is None:
                raise typer.BadParameter("give --url and --token, or --start-local")
            api = Api(urls=(url.rstrip("/"),), tokens=Tokens(dispatcher=token,
                                                             jwt_secret=jwt_secret))
            tag = f"{policy}-{datetime.now(UTC):%Y%m%d%H%M%S}"
            try:
                results[policy] = await run_day(api=api, config=config, run_tag=tag,
                                                show_progress=show_progress)
            finally:
                await api.aclose()
            results[policy]["service"] = {"local": False, "url": url}
    return results


def _run_loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    typer.run(main)
