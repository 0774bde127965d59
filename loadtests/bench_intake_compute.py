"""Benchmark: the service's own CPU per intake in its pure steps, in-process, no I/O.

    python -m loadtests.bench_intake_compute [--calls N] [--rounds R] [--seed S]
    python -m loadtests.bench_intake_compute --compare /path/to/other/tree [--rounds R]
    python -m loadtests.bench_intake_compute --compare /path/to/other/tree --check

A mix of demo-city calls (loadtests.presentations' default shares, callers placed by
district population, cell + AML or map-pin fixes as loadtests.fixes draws them) goes
through what dispatch.flows.intake computes between its round trips: body parsing, caller
number, triage (and the stored call's triage dict), fixes, fusion, district lookups, the
pathway's destination, the candidates' ranking (the live index's widening search is
simulated over the demo fleet: the search itself is Redis's), claim options, the
timeline, the call view and the answer's JSON, the fan-out payloads. Each step's CPU
(thread time) is summed over the calls and printed per call, in microseconds.

Every round is a fresh process. `--compare TREE` alternates rounds between this tree and
TREE (the same script, the other tree's `dispatch` imported: PYTHONPATH and cwd) and
prints both medians and the ratio. Writes loadtests/out/bench_intake_compute.json.

`--check` (with `--compare TREE`) hashes what the steps made instead, for `--calls` calls
with numbered call ids: the answer's JSON, the claim options, the timeline and the
fan-out payloads; it fails when the two trees' hashes differ (a decision changed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar
from uuid import UUID, uuid4

STEPS = ("parse", "caller", "triage", "fixes", "fuse", "district", "destination",
         "candidates", "options", "timeline", "view", "answer", "fanout")
OUT = Path(__file__).resolve().parent / "out" / "bench_intake_compute.json"
NOW = datetime(2025, 6, 2, 1, 30, tzinfo=UTC)  # 09:30 in Nanjing
T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """A coroutine that never suspends (pure ranking), run without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine suspended")  # pragma: no cover


def _world(seed: int) -> dict[str, Any]:
    """The demo city as the service holds it, a runtime stand-in and the calls."""
    from dispatch.cli import demo_collection
    from dispatch.config import Settings
    from dispatch.domain import VehicleKind
    from dispatch.geo.districts import DistrictIndex
    from dispatch.geo.eta import EtaModel
    from dispatch.geo.places import Hospital, Places, Station
    from dispatch.routing.travel import travel_times
    from loadtests.calls import SimCall, call_body
    from loadtests.city import build_city
    from loadtests.fixes import FixProfile, fix_sequence
    from loadtests.presentations import Mix

    features: list[dict[str, Any]] = demo_collection()["features"]  # type: ignore[assignment]
    of = {t: [f for f in features if f["properties"]["type"] == t]
          for t in ("district", "station", "hospital", "vehicle")}
    point = {f["properties"]["id"]: f["geometry"]["coordinates"] for f in features
             if f["geometry"]["type"] == "Point"}
    places = Places(
        districts=DistrictIndex.from_geojson(of["district"]),
        stations={f["properties"]["id"]: Station(
            f["properties"]["id"], f["properties"]["name"], f["properties"]["district_id"],
            *point[f["properties"]["id"]]) for f in of["station"]},
        hospitals={p["id"]: Hospital(
            id=p["id"], name=p["name"], district_id=p["district_id"],
            lon=point[p["id"]][0], lat=point[p["id"]][1],
            capabilities=frozenset(p["capabilities"]), trauma_level=p.get("trauma_level"),
            diversion=frozenset()) for p in (f["properties"] for f in of["hospital"])})
    city = build_city(
        districts={"features": of["district"]},
        stations=[{"id": f["properties"]["id"], "lon": point[f["properties"]["id"]][0],
                   "lat": point[f["properties"]["id"]][1]} for f in of["station"]],
        hospitals=[], vehicles=[])
    rng = random.Random(seed)
    station_district = {f["properties"]["id"]: f["properties"]["district_id"]
                        for f in of["station"]}
    fleet = []
    for f in of["vehicle"]:
        p = f["properties"]
        lon, lat = point[p["station_id"]]
        if rng.random() < 0.3:  # returning from a job: somewhere near its station
            lon, lat = lon + rng.uniform(-0.03, 0.03), lat + rng.uniform(-0.03, 0.03)
        fleet.append({
            "id": p["id"], "kind": p["kind"], "lon": lon, "lat": lat,
            "capabilities": p["capabilities"], "crew_count": p.get("crew_count", 2),
            "station_district_id": station_district[p["station_id"]],
            "status": "available" if rng.random() < 0.75 else "assigned",
            "position_at": NOW - timedelta(seconds=rng.choice([1, 5, 30, 90, 200, 600])),
        })
    settings = Settings()
    rt = SimpleNamespace(settings=settings, eta=SimpleNamespace(model=EtaModel.default()),
                         travel=travel_times(settings), places=_PlacesCache(places))
    mix, profile = Mix(), FixProfile()
    calls = []
    for i in range(4096):
        presentation = mix.draw(rng)
        district, lon, lat = city.draw_location(rng)
        fixes = tuple(fix_sequence(lon=lon, lat=lat, profile=profile, rng=rng))
        sim = SimCall(run_id="00000000", index=i, at_s=float(i), answer_delay_s=5.0,
                      presentation=presentation, district_id=district.id, lon=lon, lat=lat,
                      fixes=fixes)
        body = call_body(call=sim, received_at=NOW - timedelta(seconds=5), answered_at=NOW,
                         fixes=fixes)
        calls.append(json.dumps(body).encode())
    kinds = {k.value: k for k in VehicleKind}
    return {"places": places, "rt": rt, "fleet": fleet, "calls": calls, "kinds": kinds}


def _found(fleet: list[dict[str, Any]], kinds: list[Any], lon: float, lat: float,
           radii: list[float], count: int) -> list[dict[str, Any]]:
    """What the live index's widening search returns: per kind the `count` nearest
    available within the first radius where the kinds together offer `count`."""
    from dispatch.geo.distance import haversine_m

    by_kind = []
    for k in kinds:
        near = sorted((haversine_m(lon, lat, v["lon"], v["lat"]), v["id"]) for v in fleet
                      if v["kind"] == k.value and v["status"] == "available")
        by_kind.append(near)
    stop = radii[-1]
    for r in radii:
        if sum(min(count, sum(1 for d, _ in rows if d <= r)) for rows in by_kind) >= count:
            stop = r
            break
    found = sorted((d, vid) for rows in by_kind for d, vid in rows[:count] if d <= stop)
    by_id = {v["id"]: v for v in fleet}
    return [by_id[vid] for _, vid in found]


class _Found:
    """The live index's answer, found before the clock starts."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._found = [SimpleNamespace(vehicle_id=r["id"]) for r in rows]

    async def nearest_widening(self, **_: Any) -> list[Any]:
        return self._found


class _Stored:
    """PostgreSQL's answers: the units' rows, available units per district."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    async def fetch(self, sql: str, *_: Any) -> list[dict[str, Any]]:
        if "ANY($1" in sql:
            return self._rows
        return [{"district_id": r["station_district_id"], "n": 2} for r in self._rows]


class _PlacesCache:
    def __init__(self, places: Any) -> None:
        self._places = places

    async def get(self) -> Any:
        return self._places


def _one_call(world: dict[str, Any], raw: bytes, clock: Callable[[], int],
              spent: dict[str, int], call_id: UUID | None = None) -> bytes:
    """One intake's pure steps, each step's CPU added to `spent` (ns); what they made,
    as JSON (the same in two trees when their decisions are)."""
    from dispatch.db import calls as call_db
    from dispatch.domain import CallStatus
    from dispatch.flows import aml, destination
    from dispatch.flows.candidates import candidates
    from dispatch.flows.claim import claim_options, options_of
    from dispatch.flows.intake import _timeline
    from dispatch.geo.fusion import fuse
    from dispatch.geo.ranking import search_radii_m
    from dispatch.geo.uncertainty import search_start_m, shortlist_size
    from dispatch.jsoncodec import dumps
    from dispatch.schemas import CallIn
    from dispatch.triage import triage_call
    from dispatch.views import fusion_fix, stored_fix, view_of_row

    rt, places, now = world["rt"], world["places"], NOW
    settings = rt.settings.dispatch
    t0 = clock()
    body = CallIn.model_validate_json(raw)
    t1 = clock()
    spent["parse"] += t1 - t0
    caller = aml.caller_number(rt=rt, number=body.caller_number)
    t0 = clock()
    spent["caller"] += t0 - t1
    result = triage_call(body.answers, complaint=body.complaint, now=now, card=body.card,
                         card_answers=body.card_answers)
    call = call_db.NewCall(
        id=call_id or uuid4(), idempotency_key=None, caller_number=caller, complaint=body.complaint,
        answers=body.answers.model_dump(mode="json", exclude_none=True),
        acuity=int(result.acuity), transport_class=result.transport_class.value,
        pathway=result.pathway.value if result.pathway else None, triage=result.to_dict(),
        required_kinds=[k.value for k in result.vehicle_kinds],
        received_at=body.received_at, answered_at=body.answered_at,
        booked_from=body.booking.window_start if body.booking else None,
        booked_to=body.booking.window_end if body.booking else None,
        request_fingerprint=None)
    t1 = clock()
    spent["triage"] += t1 - t0
    given = [stored_fix(f) for f in body.fixes]
    fused_in = [fusion_fix(i + 1, f) for i, f in enumerate(given)]
    t0 = clock()
    spent["fixes"] += t0 - t1
    location = fuse(fused_in, now=now)
    t1 = clock()
    spent["fuse"] += t1 - t0
    assert location is not None
    district_id = places.district_id_at(location.lon, location.lat)
    places.district_id_at(location.lon, location.lat)  # the timeline's and the alert's
    places.district_id_at(location.lon, location.lat)
    t0 = clock()
    spent["district"] += t0 - t1
    choice = destination.decide(rt=rt, result=result, location=location, places=places,
                                now=now)
    t1 = clock()
    spent["destination"] += t1 - t0
    # the live index's search: Redis's work, not timed
    kinds = [world["kinds"][k] for k in call.required_kinds]
    start = search_start_m(location.radius_m, base_m=settings.search_start_m)
    wanted = shortlist_size(location.radius_m, base=settings.search_candidates,
                            base_search_m=settings.search_start_m)
    radii = search_radii_m(start_m=min(start, settings.search_max_m),
                           max_m=settings.search_max_m)
    rows = _found(world["fleet"], kinds, location.lon, location.lat, radii, wanted)
    conn = _Stored(rows)
    rt.index = _Found(rows)
    t0 = clock()
    ranked = _run(candidates(rt=rt, conn=conn, now=now, call={
        "id": call.id, "status": CallStatus.QUEUED.value, "lon": location.lon,
        "lat": location.lat, "radius_m": location.radius_m,
        "required_kinds": call.required_kinds, "acuity": call.acuity,
        "transport_class": call.transport_class}))
    t1 = clock()
    spent["candidates"] += t1 - t0
    options = claim_options(options_of(ranked))
    t0 = clock()
    spent["options"] += t0 - t1
    events = _timeline(call, result, location, choice, places, now)
    t1 = clock()
    spent["timeline"] += t1 - t0
    claimed = ranked[0] if ranked else None
    row = {
        "id": call.id, "status": "assigned" if claimed else CallStatus.QUEUED.value,
        "caller_number": caller, "complaint": call.complaint, "answers": call.answers,
        "acuity": call.acuity, "transport_class": call.transport_class,
        "pathway": call.pathway, "triage": call.triage, "lon": location.lon,
        "lat": location.lat, "radius_m": location.radius_m, "location": location.to_dict(),
        "district_id": district_id, "destination_id": choice.hospital_id if choice else None,
        "booked_from": call.booked_from, "booked_to": call.booked_to,
        "received_at": call.received_at, "answered_at": call.answered_at,
        "queue_position": None if claimed else 1, "trip": None,
        "fixes": [{"id": i + 1, "lon": f.lon, "lat": f.lat} for i, f in enumerate(given)],
        "live_assignments": [{"vehicle_id": claimed.vehicle_id, "kind": claimed.kind.value,
                              "status": "assigned", "assigned_at": now,
                              "eta_s": claimed.eta_s, "reasons": list(claimed.reasons)}]
        if claimed else [],
    }
    t0 = clock()
    view = view_of_row(row, events=None)
    t1 = clock()
    spent["view"] += t1 - t0
    answer = dict(view)
    answer["recommendations"] = [r.to_dict() for r in ranked]
    answer["warnings"] = []
    answered = dumps(answer)
    t0 = clock()
    spent["answer"] += t0 - t1
    payloads: list[dict[str, Any]] = [{"kind": "call_created", "call_id": str(call.id),
                                       "acuity": call.acuity,
                                       "transport_class": call.transport_class}]
    if claimed is not None:
        payloads += [{"kind": "vehicle_assigned", "call_id": str(call.id),
                      "vehicle_id": claimed.vehicle_id},
                     {"kind": "mission", "call_id": str(call.id), "mission": view}]
    published = [dumps(p) for p in payloads]
    spent["fanout"] += clock() - t0
    return b"\n".join([answered, dumps(options), dumps(events), *published])


def digest(calls: int, seed: int) -> dict[str, Any]:
    """A hash of everything the steps made for `calls` calls (call ids numbered)."""
    world = _world(seed)
    sink = dict.fromkeys(STEPS, 0)
    h = hashlib.sha256()
    for i, raw in enumerate(world["calls"][:calls]):
        h.update(_one_call(world, raw, time.thread_time_ns, sink, UUID(int=i + 1)))
    return {"calls": calls, "sha256": h.hexdigest()}


def worker(calls: int, seed: int, warmup: int) -> dict[str, float]:
    """One round: per step, CPU microseconds per call."""
    world = _world(seed)
    clock = time.thread_time_ns
    sink = dict.fromkeys(STEPS, 0)
    for raw in world["calls"][:warmup]:
        _one_call(world, raw, clock, sink)
    spent = dict.fromkeys(STEPS, 0)
    pool = world["calls"]
    for i in range(calls):
        _one_call(world, pool[(warmup + i) % len(pool)], clock, spent)
    per_call = {k: v / calls / 1000 for k, v in spent.items()}
    per_call["total"] = sum(per_call.values())
    return per_call


def _round(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    """One round in a fresh process importing `tree`'s dispatch."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c",
         f"import runpy, sys; sys.argv = ['bench'] + sys.argv[1:]; "
         f"runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')",
         "--worker", "--calls", str(args.calls), "--seed", str(args.seed),
         "--warmup", str(args.warmup), *(["--check"] if args.check else [])],
        cwd=tree, env=env, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in rounds), 1) for k in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20251202)
    parser.add_argument("--compare", type=Path, help="another tree, rounds alternated")
    parser.add_argument("--check", action="store_true",
                        help="compare what the steps make (a hash), not their CPU")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(digest(args.calls, args.seed) if args.check
                         else worker(args.calls, args.seed, args.warmup)))
        return
    here = Path(__file__).resolve().parent.parent
    trees = {"this": here} | ({"other": args.compare.resolve()} if args.compare else {})
    if args.check:
        made = {name: _round(tree, args) for name, tree in trees.items()}
        print(json.dumps(made, indent=2))
        if len({m["sha256"] for m in made.values()}) > 1:
            raise SystemExit("the trees made different answers, options, events or payloads")
        return
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            rounds[name].append(_round(tree, args))
    report: dict[str, Any] = {"calls": args.calls, "rounds": args.rounds, "seed": args.seed,
                              "trees": {k: str(v) for k, v in trees.items()},
                              "median_us_per_call": {k: _medians(v) for k, v in rounds.items()},
                              "rounds_us_per_call": rounds}
    med = report["median_us_per_call"]
    header = f"{'step':<12}" + "".join(f"{name:>12}" for name in trees)
    print(header + ("       ratio" if args.compare else ""))
    for step in (*STEPS, "total"):
        line = f"{step:<12}" + "".join(f"{med[name][step]:>12.1f}" for name in trees)
        if args.compare and med["other"][step]:
            line += f"{med['this'][step] / med['other'][step]:>12.2f}"
        print(line)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"(us of CPU per call, medians of {args.rounds} rounds of {args.calls} calls; "
          f"{OUT})")


if __name__ == "__main__":
    main()
