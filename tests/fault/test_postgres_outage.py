"""PostgreSQL restarted (a crash) and frozen (SIGSTOP) under load: clients get 503s with
Retry-After, quickly, never a 500; the instances recover by themselves; nothing that was
acknowledged is lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from dispatch.cli import demo_collection
from tests.fault.checks import assignment_problems, record_problems, report_figures
from tests.fault.load import Answer, CallLoad
from tests.fault.stack import DB_ACQUIRE_TIMEOUT_S, DB_COMMAND_TIMEOUT_S, Stack, station_points

pytestmark = pytest.mark.fault

RATE_PER_S = 8.0
DURATION_S = 18.0
RESTART_AT_S = 3.0
RESTART_DOWN_S = 1.0
FREEZE_AT_S = 8.0
FREEZE_FOR_S = 7.0  # longer than ANSWER_WITHIN_S: a hang shows
# A frozen PostgreSQL is answered with a 503 within the acquire and command timeouts; an
# intake runs a few statements, so allow a little beyond them, and nothing near a hang.
ANSWER_WITHIN_S = DB_COMMAND_TIMEOUT_S + DB_ACQUIRE_TIMEOUT_S + 2.0
RECOVER_WITHIN_S = 15.0


@dataclass
class Probe:
    """GET /readyz on every instance every 0.25 s: what an orchestrator's probe sees."""

    s: Stack
    answers: list[Answer] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            for i, url in enumerate(self.s.urls):
                t0 = loop.time()
                try:
                    r = await self.s.http.get(f"{url}/readyz", timeout=ANSWER_WITHIN_S + 5)
                    self.answers.append(Answer(i, r.status_code, "", t0, loop.time() - t0,
                                               r.headers.get("retry-after")))
                except httpx.HTTPError as exc:
                    self.answers.append(Answer(i, None, type(exc).__name__, t0,
                                               loop.time() - t0))
            await asyncio.sleep(0.25)


async def recovered(s: Stack, load: CallLoad, since: float) -> float | None:
    """Seconds from `since` until every instance takes a new call again (201), or None
    when one still does not after RECOVER_WITHIN_S (the instances are never restarted)."""
    loop = asyncio.get_running_loop()
    for i in range(len(s.urls)):
        while True:
            call = load.new_call()
            await load.send(call, i)
            if call.created and call.answers[-1].instance == i:
                break
            if loop.time() - since > RECOVER_WITHIN_S:
                return None
            await asyncio.sleep(0.1)
    return loop.time() - since


async def test_postgres_restart_and_freeze_give_503s_and_lose_nothing(two_instances: Stack) -> None:
    s = two_instances
    # one attempt per send() in the recovery probe; the load itself retries
    load = CallLoad(http=s.http, urls=s.urls, headers=s.auth(),
                    points=station_points(demo_collection()), retry_for_s=40.0,
                    timeout_s=ANSWER_WITHIN_S + 5)
    probe = Probe(s)
    stop = asyncio.Event()
    probing = asyncio.create_task(probe.run(stop))
    loop = asyncio.get_running_loop()
    started = loop.time()
    sending = asyncio.create_task(load.run(rate_per_s=RATE_PER_S, duration_s=DURATION_S))

    await asyncio.sleep(RESTART_AT_S)
    restart_at = loop.time()
    await asyncio.to_thread(s.pg.stop, "immediate")  # a crash: no shutdown checkpoint
    await asyncio.sleep(RESTART_DOWN_S)
    await asyncio.to_thread(s.pg.start)
    back_at = loop.time()
    checker = CallLoad(http=s.http, urls=s.urls, headers=s.auth(), points=load.points,
                       retry_for_s=0.0, seed=15)
    after_restart_s = await recovered(s, checker, back_at)

    await asyncio.sleep(max(0.0, started + FREEZE_AT_S - loop.time()))
    freeze_at = loop.time()
    s.pg.freeze()
    await asyncio.sleep(FREEZE_FOR_S)
    s.pg.thaw()
    thaw_at = loop.time()
    after_thaw_s = await recovered(s, checker, thaw_at)

    await sending
    await load.settle()
    stop.set()
    await probing

    async with s.db() as conn:
        records = await record_problems(conn, load.calls + checker.calls)
        doubles = await assignment_problems(conn)

    answers = load.answers() + checker.answers()
    statuses = Counter(a.status for a in answers)
    in_freeze = [a for a in answers if freeze_at <= a.sent_at < thaw_at]
    slow = [a for a in answers + probe.answers if a.elapsed_s > ANSWER_WITHIN_S]
    report_figures("test_postgres_restart_and_freeze_give_503s_and_lose_nothing", {
        "calls": len(load.calls), "acknowledged": sum(c.acknowledged for c in load.calls),
        "statuses": dict(statuses),
        "readyz": dict(Counter(a.status for a in probe.answers)),
        "restart_at_s": restart_at - started, "pg_down_s": back_at - restart_at,
        "recovered_after_restart_s": after_restart_s,
        "freeze_s": thaw_at - freeze_at, "recovered_after_thaw_s": after_thaw_s,
        "max_answer_in_freeze_s": max((a.elapsed_s for a in in_freeze), default=None),
        "answers_in_freeze": dict(Counter(a.status for a in in_freeze)),
        "answers_over_bound": len(slow),
    })
    broken: list[str] = []
    if load.unacknowledged():
        broken.append(f"{len(load.unacknowledged())} calls never acknowledged: "
                      f"{[(c.key, c.answers[-1]) for c in load.unacknowledged()][:3]}")
    broken += records + doubles
    others = {k: v for k, v in statuses.items() if k not in (200, 201, 503)}
    if others:
        sample = [a for a in answers if a.status not in (200, 201, 503)][:3]
        broken.append(f"answers other than 200/201/503 on /v1/calls: {others} {sample}")
    dropped = [a for a in answers if a.status is None]
    if dropped:
        broken.append(f"{len(dropped)} requests got no HTTP answer: "
                      f"{dict(Counter(a.error for a in dropped))}")
    if not all(a.retry_after for a in answers if a.status == 503):
        broken.append("a 503 on /v1/calls without Retry-After")
    bad_ready = Counter(a.status for a in probe.answers if a.status not in (200, 503))
    if bad_ready:
        broken.append(f"/readyz answered {dict(bad_ready)} (only 200 or 503 allowed)")
    if slow:
        broken.append(f"{len(slow)} answers took over {ANSWER_WITHIN_S:.0f} s (command "
                      f"timeout {DB_COMMAND_TIMEOUT_S:.0f} s), e.g. {slow[:3]}")
    for what, took in (("restart", after_restart_s), ("freeze", after_thaw_s)):
        if took is None:
            broken.append(f"an instance took no call {RECOVER_WITHIN_S:.0f} s after the "
                          f"{what} ended")
    assert not broken, "\n".join(broken)
