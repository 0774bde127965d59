"""A compressed day of the city against the live API, under one or several dispatch policies.

    python -m loadtests.cityday --start-local --calls 3000 --compress 60 --seed 1 --policy eta
    python -m loadtests.cityday --start-local --calls 3000 --policy straight,eta,coverage
    python -m loadtests.cityday --url URL --token T --jwt-secret S --calls 3000

Calls ring as a time-varying Poisson process over the day (loadtests.arrivals), at points
drawn by district population (loadtests.city), with a configurable presentation mix
(loadtests.presentations). Each call is taken with a cell fix; AML or a dispatcher's GCJ-02
map pin follows during the call (loadtests.fixes).

Real-time layer (loadtests.wslinks): every vehicle's crew tablet holds a /v1/ws/crew link and
every hospital's ED screen a /v1/ws/hospital link (tokens minted with the JWT secret; links
spread round-robin over the instances, resuming with ?last_event_id= after a drop). A crew
learns its mission from the `mission` event on its link (a queued call reaches the first
suitable crew to clear the same way), turns out after a drawn delay, and sends its status
and a 1 Hz position as websocket frames, plus 1 Hz vitals (loadtests.vitals) while
transporting. The destination centre's screen acknowledges the pre-alert, and once the crew
reports `at_hospital` declares `handover_complete` after a drawn offload; the crew clears
when the `handover` event reaches it. HTTP stays only where the websocket API has no
equivalent: positions between missions (a position frame belongs to a call), the
patient-contact milestone, and the handover milestone of patients no screen follows (no
specialist pathway, so no destination centre).

Time: simulated time runs `compress` times faster than the wall clock. The service stamps
what it stamps with its own clock; the harness turns those wall times into simulated time
(sim = start + (wall - wall0) x compress) and computes every indicator in simulated seconds.
Devices send at their real rate (positions and vitals 1 Hz of wall time, each step covering
`compress` simulated seconds), so the message load is that of a real fleet, not 60x it. Any
latency (notice of the mission, event-loop lag) is multiplied by `compress` in simulated
time: the JSON gives `mission_notice_s` and the 3-minute rate with the notice at its wall
length next to the raw one.

Checked at the end: every acknowledged call is in GET /v1/calls?from=&to= exactly once (no
lost or duplicated calls), no vehicle was on two calls at once (timelines), and every vitals
frame acknowledged to a crew (the ack carries its event id) reached its destination's screen.
A day only plays its own calls: its run id is in every Idempotency-Key and caller number, and
a mission for a call it did not make is left to that call's crew.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dispatch.geo.eta import CHINA_STANDARD_TIME, EtaModel
from loadtests.arrivals import DAY_S, DailyCurve, arrival_times
from loadtests.calls import SimCall, call_body, new_run_id
from loadtests.city import City
from loadtests.client import Api, Tokens, run_loop
from loadtests.crews import CrewTimes, nearest, path_points
from loadtests.figures import (
    DEPARTURE_LIMIT_S,
    AckedFrame,
    Target,
    check_targets,
    distribution,
    group_by,
    rate_by_bin,
    share_within,
    throughput,
    undelivered,
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
from loadtests.verify import parse_time, read_back
from loadtests.vitals import vitals_frame
from loadtests.wslinks import Link, ws_url

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


def plan_day(*, city: City, config: DayConfig, run_id: str) -> list[SimCall]:
    """The day's calls, deterministic for a seed (same calls under every policy); their keys
    and caller numbers carry `run_id`."""
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
        out.append(SimCall(run_id=run_id, index=i, at_s=t,
                           answer_delay_s=min(30.0, rng.expovariate(1 / 5.0)), presentation=p,
                           district_id=district.id, lon=lon, lat=lat, fixes=fixes))
    return out


class Day:
    """One run of the day against one service."""

    def __init__(self, *, api: Api, city: City, config: DayConfig, run_tag: str) -> None:
        self.api = api
        self.city = city
        self.config = config
        self.run_tag = run_tag
        self.rng = random.Random(config.seed + 1)
        self.screen_rng = random.Random(config.seed + 2)
        self.vitals_rng = random.Random(config.seed + 3)
        self.times = CrewTimes()
        self.eta = EtaModel.default()
        self.records: dict[int, CallRecord] = {}
        self.by_call_id: dict[str, CallRecord] = {}
        self.acknowledged: dict[str, list[str]] = defaultdict(list)
        self.number_of: dict[str, str] = {}
        self.inbox: dict[str, asyncio.Queue[str]] = {v: asyncio.Queue() for v in city.vehicles}
        self.known: dict[str, str | None] = dict.fromkeys(city.vehicles)  # vehicle -> call told
        self.delivered: set[tuple[str, str]] = set()  # (vehicle, call) missions handed to crews
        self.position: dict[str, tuple[float, float]] = {
            v.id: (v.lon, v.lat) for v in city.vehicles.values()}
        self.hospitals = {h.id: (h.lon, h.lat) for h in city.hospitals.values()}
        self.missions_done = 0
        self.clock: SimClock | None = None
        # The real-time layer: a crew link per vehicle, a screen per hospital.
        self.links: dict[str, Link] = {}
        self.screens: dict[str, Link] = {}
        self.destination: dict[str, str | None] = {}  # call -> centre, as the crew knows it
        self.handed: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.seen: dict[str, set[str]] = defaultdict(set)  # hospital -> vitals event ids shown
        self.acked_vitals: list[AckedFrame] = []
        self.counts: dict[str, int] = defaultdict(int)
        self.screen_tasks: set[asyncio.Task[None]] = set()
        self.early: dict[str, tuple[str, float]] = {}  # missions seen before the intake answer

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
        self.number_of[key] = call.caller_number
        r = await self.api.request("POST", "/v1/calls", label="intake", body=body,
                                   headers={"Idempotency-Key": key})
        if r is None or r.status_code != 201:
            if r is not None and r.status_code == 200:
                # A fresh key answered with an existing call: not this run's, not played.
                self.api.errors["intake:200_existing_call"] += 1
                self.counts["existing_calls_returned"] += 1
            return
        view = r.json()
        rec.call_id = view["id"]
        self.by_call_id[view["id"]] = rec
        self.acknowledged[key].append(view["id"])
        if view["id"] in self.early:
            rec.vehicle_id, rec.learned_s = self.early.pop(view["id"])
        # The crew learns its mission from its own channel, not from this answer.
        for fix in call.fixes[1:]:
            await clock.until(answered_s + fix.after_answer_s)
            await self.api.request(
                "POST", f"/v1/calls/{view['id']}/fixes", label="fixes",
                body={"fixes": [fix.body(observed_at_iso=datetime.now(UTC).isoformat())]})

    # ------------------------------------------------------------ real-time links

    async def connect(self) -> None:
        """One crew link per vehicle and one ED screen per hospital, over every instance."""
        urls = itertools.cycle(self.api.urls)
        for vehicle_id in self.city.vehicles:
            self.links[vehicle_id] = Link(
                api=self.api, url=ws_url(next(urls), "crew"), name=f"crew-{vehicle_id}",
                token=self.api.tokens.crew(vehicle_id),
                on_event=functools.partial(self._crew_event, vehicle_id),
                on_snapshot=functools.partial(self._crew_snapshot, vehicle_id))
        for hospital_id in self.city.hospitals:
            self.screens[hospital_id] = Link(
                api=self.api, url=ws_url(next(urls), "hospital"), name=f"screen-{hospital_id}",
                token=self.api.tokens.hospital(hospital_id),
                on_event=functools.partial(self._screen_event, hospital_id))
        sem = asyncio.Semaphore(16)

        async def start(link: Link) -> None:
            async with sem:
                await link.start()

        await asyncio.gather(*(start(x) for x in [*self.links.values(),
                                                  *self.screens.values()]))

    async def disconnect(self) -> None:
        """Close every link and stop the screens' pending actions."""
        for t in self.screen_tasks:
            t.cancel()
        await asyncio.gather(*self.screen_tasks, return_exceptions=True)
        await asyncio.gather(*(x.close() for x in [*self.links.values(),
                                                   *self.screens.values()]))

    def _crew_event(self, vehicle_id: str, frame: dict[str, Any]) -> None:
        kind, call_id, data = frame.get("kind"), frame.get("call_id"), frame.get("data", {})
        if kind == "mission" and call_id:
            self.destination.setdefault(call_id, data.get("mission", {}).get("destination_id"))
            self._deliver(vehicle_id, call_id)
        elif kind == "destination_changed" and call_id:
            self.destination[call_id] = data.get("hospital_id")
        elif kind == "handover" and call_id:
            self.handed[call_id].set()

    def _crew_snapshot(self, vehicle_id: str, frame: dict[str, Any]) -> None:
        # After a reconnect without resume: the mission in hand, if any.
        for item in frame.get("calls", []):
            mission = item.get("mission") or {}
            if mission.get("id"):
                self.destination.setdefault(mission["id"], mission.get("destination_id"))
                self._deliver(vehicle_id, mission["id"])

    def _deliver(self, vehicle_id: str, call_id: str) -> None:
        if vehicle_id not in self.inbox or (vehicle_id, call_id) in self.delivered:
            return
        if self.clock is None:
            return  # a mission from before this run (a shared service): not ours
        self.delivered.add((vehicle_id, call_id))
        self.known[vehicle_id] = call_id
        rec = self.by_call_id.get(call_id)
        learned = self.clock.now()
        if rec is not None and rec.vehicle_id is None:
            rec.vehicle_id, rec.learned_s = vehicle_id, learned
        elif rec is None:
            self.early[call_id] = (vehicle_id, learned)  # before the intake answer came back
        self.inbox[vehicle_id].put_nowait(call_id)

    def _screen_event(self, hospital_id: str, frame: dict[str, Any]) -> None:
        kind, call_id, data = frame.get("kind"), frame.get("call_id"), frame.get("data", {})
        if kind == "vitals" and data.get("event_id") is not None:
            self.seen[hospital_id].add(str(data["event_id"]))
        elif kind == "pre_alert" and call_id:
            self._screen_task(self._screen_ack(hospital_id, call_id))
        elif kind == "crew_status" and call_id and data.get("status") == "at_hospital":
            self._screen_task(self._screen_handover(hospital_id, call_id))

    def _screen_task(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self.screen_tasks.add(t)
        t.add_done_callback(self.screen_tasks.discard)

    async def _screen_ack(self, hospital_id: str, call_id: str) -> None:
        """The ED nurse acknowledges the pre-arrival alert."""
        link = self.screens[hospital_id]
        reply = await link.send({"type": "ack", "msg_id": link.new_msg_id(), "call_id": call_id},
                                label="screen_action")
        self.counts["prealerts_acknowledged" if reply and reply["type"] == "ack"
                    else "prealert_ack_refused"] += 1

    async def _screen_handover(self, hospital_id: str, call_id: str) -> None:
        """After the offload, the ED declares the handover complete."""
        await self._clock().wait(self.times.offload.draw(self.screen_rng))
        link = self.screens[hospital_id]
        reply = await link.send({"type": "handover_complete", "msg_id": link.new_msg_id(),
                                 "call_id": call_id}, label="screen_action")
        self.counts["handovers_declared_by_screen" if reply and reply["type"] == "ack"
                    else "handover_complete_refused"] += 1

    # ------------------------------------------------------------------ crews

    async def crew(self, vehicle_id: str) -> None:
        """A crew tablet: missions one after another, returning to station in between."""
        while True:
            call_id = await self.inbox[vehicle_id].get()
            if await self._mission(vehicle_id, call_id) and self.inbox[vehicle_id].empty():
                await self._return_to_station(vehicle_id)

    async def _mission(self, vehicle_id: str, call_id: str) -> bool:
        """Play the crew's mission; False (nothing sent) when the call is not this run's."""
        clock = self._clock()
        rec = self.by_call_id.get(call_id)
        for _ in range(100):  # the mission can arrive before the intake answer
            if rec is not None:
                break
            await asyncio.sleep(0.05)
            rec = self.by_call_id.get(call_id)
        if rec is None:
            # Not a call of this run (a live service takes other calls): its crew is not
            # ours to play, so the harness leaves the mission alone and the vehicle to it.
            self.counts["missions_of_unknown_calls"] += 1
            self.known[vehicle_id] = None
            return False
        await clock.wait(self.times.turnout.draw(self.rng))
        if not await self._status(vehicle_id, call_id, "en_route"):
            await self._clear(vehicle_id, call_id)
            return True
        first = rec.vehicle_id == vehicle_id
        if first:
            rec.departed_s = clock.now()
        call = rec.call
        district = self.city.district(call.district_id)
        await self._drive(vehicle_id, call_id, call.lon, call.lat,
                          district.area_type if district else "urban")
        await self._status(vehicle_id, call_id, "on_scene")
        if first:
            rec.on_scene_s = clock.now()
        await clock.wait(self.times.patient_contact.draw(self.rng))
        # No websocket frame stamps patient contact: the HTTP milestone is the only way.
        await self._milestone(vehicle_id, "patient_contact")
        await clock.wait(self.times.scene.draw(self.rng))
        if self.rng.random() < call.presentation.transport_share:
            await self._transport(vehicle_id, call_id, rec)
        self.missions_done += 1
        await self._clear(vehicle_id, call_id)
        return True

    async def _transport(self, vehicle_id: str, call_id: str, rec: CallRecord) -> None:
        """To the chosen centre (vitals streaming to its screen), or the nearest hospital."""
        clock = self._clock()
        dest = self.destination.get(call_id)
        target = dest if dest in self.hospitals else nearest(
            lon=rec.call.lon, lat=rec.call.lat, points=self.hospitals)
        if target is None:
            return
        await self._status(vehicle_id, call_id, "transporting")
        h_lon, h_lat = self.hospitals[target]
        area = self.city.district_at(h_lon, h_lat)
        await self._drive(vehicle_id, call_id, h_lon, h_lat,
                          area.area_type if area else "urban", vitals_of=rec)
        await self._status(vehicle_id, call_id, "at_hospital")
        if dest is not None and dest in self.screens:
            # The centre's screen declares the handover after its offload; wait for it.
            limit_wall_s = 4 * self.times.offload.p90_s / clock.compress + 15.0
            try:
                await asyncio.wait_for(self.handed[call_id].wait(), timeout=limit_wall_s)
                self.counts["handovers_seen_by_crew"] += 1
                return
            except TimeoutError:
                self.counts["handover_not_declared"] += 1
        else:
            await clock.wait(self.times.offload.draw(self.rng))
        # No screen follows this patient (no specialist pathway): the crew records it.
        self.counts["handovers_by_crew_http"] += 1
        await self._milestone(vehicle_id, "handover")

    async def _clear(self, vehicle_id: str, call_id: str) -> None:
        """Report available; a queued call comes to the crew as a new mission event."""
        self.known[vehicle_id] = None
        await self._status(vehicle_id, call_id, "available")

    async def _return_to_station(self, vehicle_id: str) -> None:
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
            await self._position(vehicle_id, None, p_lon, p_lat)

    async def _drive(self, vehicle_id: str, call_id: str, to_lon: float, to_lat: float,
                     area_type: str, vitals_of: CallRecord | None = None) -> None:
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
            if vitals_of is None:
                await self._position(vehicle_id, call_id, p_lon, p_lat)
            else:  # the monitor and the GNSS send side by side, once a second each
                await asyncio.gather(self._position(vehicle_id, call_id, p_lon, p_lat),
                                     self._vitals(vehicle_id, call_id, vitals_of))

    async def _position(self, vehicle_id: str, call_id: str | None, lon: float,
                        lat: float) -> None:
        self.position[vehicle_id] = (lon, lat)
        at = datetime.now(UTC).isoformat()
        if call_id is None:
            # Position frames belong to a mission; between missions only HTTP takes them.
            await self.api.request("POST", f"/v1/vehicles/{vehicle_id}/position",
                                   label="crew_position_http",
                                   token=self.api.tokens.crew(vehicle_id),
                                   body={"lon": lon, "lat": lat, "at": at})
            return
        link = self.links[vehicle_id]
        await link.send({"type": "position", "msg_id": link.new_msg_id(), "call_id": call_id,
                         "lon": lon, "lat": lat, "at": at}, label="crew_position")

    async def _vitals(self, vehicle_id: str, call_id: str, rec: CallRecord) -> None:
        link = self.links[vehicle_id]
        frame = vitals_frame(acuity=rec.call.presentation.acuity, rng=self.vitals_rng,
                             call_id=call_id, msg_id=link.new_msg_id(),
                             at_iso=datetime.now(UTC).isoformat())
        dest = self.destination.get(call_id)
        reply = await link.send(frame, label="crew_vitals")
        if reply is None or reply["type"] != "ack":
            self.counts["vitals_refused"] += 1
        elif dest is None:
            self.counts["vitals_without_destination"] += 1
        else:
            self.acked_vitals.append(AckedFrame(event_id=str(reply["event_id"]),
                                                call_id=call_id, hospital_id=dest))

    async def _status(self, vehicle_id: str, call_id: str, status: str) -> bool:
        link = self.links[vehicle_id]
        reply = await link.send({"type": "status", "msg_id": link.new_msg_id(),
                                 "call_id": call_id, "status": status,
                                 "at": datetime.now(UTC).isoformat()}, label="crew_status")
        return reply is not None and reply["type"] == "ack"

    async def _milestone(self, vehicle_id: str, kind: str) -> None:
        await self.api.request("POST", f"/v1/vehicles/{vehicle_id}/milestones",
                               label="crew_milestone_http",
                               token=self.api.tokens.crew(vehicle_id), body={"kind": kind})

    def _clock(self) -> SimClock:
        assert self.clock is not None, "run() starts the clock"
        return self.clock

    # -------------------------------------------------------------------- run

    async def run(self, *, calls: list[SimCall], show_progress: bool) -> dict[str, Any]:
        """Play the day, stop by itself, read every call back and compute the figures."""
        cfg = self.config
        start_s = cfg.start_hour * 3600.0
        await self.connect()
        wall_start = datetime.now(UTC)
        self.clock = SimClock(start_s=start_s, compress=cfg.compress,
                              loop_time=asyncio.get_running_loop().time())
        crews = [asyncio.create_task(self.crew(v)) for v in self.city.vehicles]
        intake = [asyncio.create_task(self.take_call(c)) for c in calls]
        day_wall_s = cfg.hours * 3600.0 / cfg.compress
        progress = Progress(TextColumn("city day {task.fields[clock]}"), BarColumn(),
                            TextColumn("{task.fields[done]} calls"), TimeElapsedColumn(),
                            disable=not show_progress, transient=True)
        try:
            with progress:
                bar = progress.add_task("day", total=day_wall_s, clock="", done=0)
                while not all(t.done() for t in intake):
                    await asyncio.sleep(0.5)
                    now = self.clock.now()
                    progress.update(bar,
                                    completed=min(day_wall_s, (now - start_s) / cfg.compress),
                                    clock=f"{int(now // 3600):02d}:{int(now % 3600 // 60):02d}",
                                    done=len(self.records))
                # Let crews finish the missions under way, bounded in wall time.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + cfg.drain_wall_s
                while loop.time() < deadline and self._busy():
                    await asyncio.sleep(0.5)
                self.counts["crews_busy_at_end"] = sum(1 for v in self.known.values()
                                                       if v is not None)
            for t in crews:
                t.cancel()
            await asyncio.gather(*crews, return_exceptions=True)
            # Frames acknowledged in the last moments are still on their way to the screens.
            settle = asyncio.get_running_loop().time() + 10.0
            while asyncio.get_running_loop().time() < settle and undelivered(
                    acked=self.acked_vitals, seen=self.seen):
                await asyncio.sleep(0.2)
        finally:
            await self.disconnect()
        back = await read_back(api=self.api, acknowledged=self.acknowledged,
                               number_of=self.number_of,
                               window=(wall_start, datetime.now(UTC)))
        routed = {cid: {str(e["data"]["hospital_id"]) for e in view.get("timeline", [])
                        if e["kind"] == "destination_chosen"
                        and (e.get("data") or {}).get("hospital_id")}
                  for cid, view in back.calls.items()}
        lost_frames = undelivered(acked=self.acked_vitals, seen=self.seen, routed=routed)
        back = replace(back, invariants=replace(back.invariants, undelivered=lost_frames))
        shown_at = {e for ids in self.seen.values() for e in ids}
        self.counts["undelivered_shown_at_another_screen"] = sum(
            1 for x in lost_frames if x.split(" ", 1)[0] in shown_at)
        return self._figures(back)

    def _busy(self) -> bool:
        """Whether any crew still has a mission in hand."""
        return any(v is not None for v in self.known.values())

    def _figures(self, back: Any) -> dict[str, Any]:
        cfg = self.config
        clock = self._clock()
        recs = [r for r in self.records.values() if r.call_id is not None]
        # Dispatch times from the service's own timeline (the crew's vehicle, else the first).
        for r in recs:
            view = back.calls.get(r.call_id)
            if view is None:
                continue
            dispatched = sorted((e for e in view.get("timeline", [])
                                 if e["kind"] == "dispatched"), key=lambda e: int(e["id"]))
            mine = [e for e in dispatched if e.get("vehicle_id") == r.vehicle_id] or dispatched
            if mine:
                r.dispatched_s = clock.of_wall(parse_time(mine[0]["received_at"]))
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
        # The notice (dispatched -> the tablet has the mission) is real latency, but the
        # compression multiplies it: the same turnout with the notice at its wall length.
        real_notice = [
            r.departed_s - r.dispatched_s - (r.learned_s - r.dispatched_s)
            * (1.0 - 1.0 / cfg.compress) for r in recs
            if r.departed_s is not None and r.dispatched_s is not None
            and r.learned_s is not None]
        departure_ok = [(t, d <= DEPARTURE_LIMIT_S) for t, d in turnout]
        dep_rate = share_within([d for _, d in turnout], DEPARTURE_LIMIT_S)
        by_hour = rate_by_bin(departure_ok, bin_s=3600.0, bins=24)
        intake_ms = [s.latency_s * 1000 for s in self.api.samples["intake"]
                     if s.status == 201]
        crew_ms = [s.latency_s * 1000 for label in ("crew_status", "crew_position", "crew_vitals")
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
             Target("double_assignments", 0), Target("undelivered_handover_messages", 0),
             Target("existing_calls_returned", 0)],
            {"intake_p99_ms": distribution(intake_ms).p99,
             "crew_message_p99_ms": distribution(crew_ms).p99,
             "departure_rate_3min": dep_rate, "lost_calls": len(inv.lost),
             "duplicated_calls": len(inv.duplicated),
             "double_assignments": len(inv.double_assignments),
             "undelivered_handover_messages": len(inv.undelivered),
             "existing_calls_returned": self.counts.get("existing_calls_returned", 0)})
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
            "departure_rate_3min_notice_at_wall_length": share_within(real_notice,
                                                                      DEPARTURE_LIMIT_S),
            "departure_rate_3min_by_hour": by_hour,
            "intake_latency_ms": distribution(intake_ms).to_dict(),
            "crew_message_latency_ms": distribution(crew_ms).to_dict(),
            "requests": {k: len(v) for k, v in self.api.samples.items()},
            "errors": dict(self.api.errors),
            "throughput_per_s": throughput(all_done, bin_s=1.0, start=0.0, end=end + 1.0),
            "invariants": inv.to_dict(),
            "read_back": {"listed": back.listed, "pages": back.pages,
                          "timelines_read": len(back.calls)},
            "handover_ws": {
                "crew_links": len(self.links), "screens": len(self.screens),
                "vitals_acked_for_a_screen": len(self.acked_vitals),
                "vitals_shown": sum(len(v) for v in self.seen.values()),
                "undelivered": len(inv.undelivered),
                "reconnects": sum(x.reconnects for x in [*self.links.values(),
                                                         *self.screens.values()]),
                "resyncs": sum(x.resyncs for x in [*self.links.values(),
                                                   *self.screens.values()]),
                **dict(sorted(self.counts.items()))},
            "vitals_latency_ms": distribution([s.latency_s * 1000 for s in
                                               self.api.samples["crew_vitals"]
                                               if s.status < 400]).to_dict(),
            "targets": [t.to_dict() for t in targets], "passed": all(t.passed for t in targets),
            "_samples": {"intake_ms": intake_ms, "crew_ms": crew_ms,
                         "response_by_district": by_district},
        }


async def run_day(*, api: Api, config: DayConfig, run_tag: str,
                  show_progress: bool = True) -> dict[str, Any]:
    """Read the city from the service, plan the day and play it."""
    city = await api.city()
    calls = plan_day(city=city, config=config, run_id=new_run_id())
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
        # Runs end at different moments: pad the shorter series (a gap, not a zero).
        series={p: f["throughput_per_s"] + [None] * (longest - len(f["throughput_per_s"]))
                for p, f in results.items()})))
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
        envvar="DISPATCH_JWT_SECRET", help="mint crew and ED screen tokens")] = None,
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
    results = run_loop(run_policies(config=config, policies=policies, url=url, token=token,
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
            if jwt_secret is None:
                raise typer.BadParameter("crew tablets and ED screens need their own tokens: "
                                         "give --jwt-secret (DISPATCH_JWT_SECRET)")
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


if __name__ == "__main__":
    typer.run(main)
