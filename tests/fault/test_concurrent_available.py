"""Two vehicles report "available" on both instances at the same moment while calls
wait, round after round: never a 500, never a vehicle both available and on a call, never
a waiting call beside a free vehicle, and no call closed that its vehicle had not cleared."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest

from tests.fault.checks import assignment_problems, record_problems, report_figures
from tests.fault.load import CallLoad
from tests.fault.stack import QUEUE_SWEEP_S, Stack, stack
from tests.service.city import CENTRE, city

pytestmark = pytest.mark.fault

VEHICLES = 4
QUEUED = 4  # calls kept waiting before each round
ROUNDS = 100  # two vehicles a round: 200 concurrent "available" pairs
TIME_BUDGET_S = 60.0  # on a slow machine: as many rounds as fit, but at least MIN_ROUNDS
MIN_ROUNDS = 25
# a freed vehicle takes a waiting call in the same request, or at the latest on the sweep
SETTLE_S = QUEUE_SWEEP_S + 2.0


async def _state(s: Stack) -> tuple[dict[str, str | None], set[str], dict[str, str]]:
    """Vehicles and the call each holds, the waiting calls, and every call's status."""
    async with s.db() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        vehicles = {r["id"]: (str(r["call_id"]) if r["call_id"] else None)
                    for r in await conn.fetch("SELECT id, call_id FROM vehicles")}
        calls = {str(r["id"]): r["status"] for r in await conn.fetch(
            "SELECT id, status FROM calls")}
    return vehicles, {c for c, st in calls.items() if st == "queued"}, calls


async def _free_while_waiting(s: Stack) -> tuple[list[str], list[str]]:
    async with s.db() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        free = [r["id"] for r in await conn.fetch(
            "SELECT id FROM vehicles WHERE status = 'available' ORDER BY id")]
        waiting = [str(r["id"]) for r in await conn.fetch(
            "SELECT id FROM calls WHERE status = 'queued'")]
    return free, waiting


async def test_concurrent_available_on_two_instances() -> None:
    fleet = city(n_vehicles=VEHICLES, seed=5)
    async with stack(collection=fleet) as s:
        load = CallLoad(http=s.http, urls=s.urls, headers=s.auth(), points=[CENTRE],
                        retry_for_s=0.0, seed=16)

        async def take_calls(n: int) -> None:
            calls = [load.new_call() for _ in range(n)]
            await asyncio.gather(*[load.send(c, i % 2) for i, c in enumerate(calls)])
            refused = [c.answers[-1] for c in calls if not c.created]
            if refused:
                raise AssertionError(f"{len(refused)} of {n} new calls not taken: "
                                     f"{[(a.status, a.body[:80]) for a in refused]}")

        await take_calls(VEHICLES)
        await take_calls(QUEUED)
        rng = random.Random(14)
        statuses: Counter[int] = Counter()
        settle_waits: list[float] = []
        # each kind of breakage: how many rounds showed it, and the first of them
        broken: dict[str, list[str]] = {}

        def breaks(kind: str, detail: str) -> None:
            broken.setdefault(kind, []).append(f"round {rounds}: {detail}")

        started = time.monotonic()
        rounds = 0
        while rounds < ROUNDS and time.monotonic() - started < TIME_BUDGET_S:
            vehicles, waiting_before, _ = await _state(s)
            busy = sorted(v for v, c in vehicles.items() if c is not None)
            if len(busy) < 2:
                breaks("fleet", f"only {busy} on calls before the round")
                break
            pair = rng.sample(busy, 2)
            held = {vehicles[v] for v in pair}
            # each vehicle's "available" reaches both instances at the same moment
            answers = await asyncio.gather(*[
                s.http.post(f"{url}/v1/vehicles/{v}/status", json={"status": "available"},
                            headers=s.auth())
                for v in pair for url in s.urls])
            statuses.update(r.status_code for r in answers)
            bad = [(r.status_code, r.text[:200]) for r in answers if r.status_code != 200]
            if bad:
                breaks("status answer not 200", f"{bad}")
            t0 = time.monotonic()
            free, waiting = await _free_while_waiting(s)
            while free and waiting and time.monotonic() - t0 < SETTLE_S:
                await asyncio.sleep(0.1)
                free, waiting = await _free_while_waiting(s)
            settle_waits.append(time.monotonic() - t0)
            if free and waiting:
                breaks("free vehicle beside a waiting call",
                       f"{free} available while {len(waiting)} calls wait, {SETTLE_S:.0f} s "
                       "after the status")
            _, _, calls = await _state(s)
            closed_wrongly = sorted(c for c in waiting_before
                                    if calls.get(c) not in ("queued", "assigned", "active"))
            if closed_wrongly:
                breaks("waiting call closed by a repeated status",
                       f"waiting calls {closed_wrongly} became "
                       f"{[calls.get(c) for c in closed_wrongly]} though no vehicle had "
                       f"cleared them (the vehicles cleared {sorted(c for c in held if c)})")
            async with s.db() as conn:
                for problem in await assignment_problems(conn):
                    breaks("one vehicle, one call", problem)
            rounds += 1
            # keep calls waiting for the next round; a stuck vehicle would 500 these
            try:
                await take_calls(len(pair))
            except AssertionError as exc:
                breaks("intake after the round", str(exc)[:300])
                break  # calls are refused: the state is broken from here on

        async with s.db() as conn:
            for problem in await record_problems(conn, load.calls):
                breaks("record", problem)
        # what Redis indexes as free must be free in PostgreSQL (no vehicle left in the
        # GEO index with a live assignment)
        r = await s.http.get(f"{s.urls[0]}/v1/vehicles/nearest/search", headers=s.auth(),
                             params={"lon": CENTRE[0], "lat": CENTRE[1], "radius_m": 100_000,
                                     "count": 100, "kind": "als"})
        indexed = {v["vehicle_id"] for v in r.json()["vehicles"]}
        vehicles, _, _ = await _state(s)
        on_calls = sorted(v for v in indexed if vehicles.get(v) is not None)
        if on_calls:
            breaks("live index", f"the live index offers {on_calls}, which are on calls")
        report_figures("test_concurrent_available_on_two_instances", {
            "rounds": rounds, "concurrent_available_pairs": 2 * rounds,
            "status_answers": dict(statuses), "calls": len(load.calls),
            "seconds": time.monotonic() - started,
            "max_settle_s": max(settle_waits, default=None),
            "broken": {k: len(v) for k, v in broken.items()},
        })
        assert not broken, "\n".join(f"{kind}: {len(seen)} times, first {seen[0]}"
                                      for kind, seen in broken.items())
        assert rounds >= MIN_ROUNDS, f"only {rounds} rounds fit in {TIME_BUDGET_S:.0f} s"
