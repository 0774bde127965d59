"""Redis restarts empty under load: nothing acknowledged is lost, queued calls are
assigned once Redis is back, and a console resumes without a gap or is told to resync.

Two consoles: one lost its network just before Redis restarted (the events it missed
were in the stream Redis then lost) and comes back after, with its last event id; the
other stays connected through the restart, then reconnects the same way.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from dispatch.cli import demo_collection
from dispatch.domain import Role
from tests.fault.checks import (
    assignment_problems,
    record_problems,
    report_figures,
    unassigned,
)
from tests.fault.load import CallLoad
from tests.fault.screens import Screen
from tests.fault.stack import INDEX_CHECK_S, QUEUE_SWEEP_S, Stack, station_points

pytestmark = pytest.mark.fault

RATE_PER_S = 8.0
DURATION_S = 10.0  # 80 calls: fewer than the demo's 100 emergency units, all can be served
DOWN_AT_S = 3.0
DOWN_FOR_S = 2.0
SCREEN_LOST_AT_S = 1.5  # one console drops off before the restart, one stays on
# once Redis is back: the index check rebuilds the GEO sets, the next sweep assigns
ASSIGN_WITHIN_S = INDEX_CHECK_S + QUEUE_SWEEP_S + 3.0


async def test_redis_restart_loses_no_call_and_leaves_none_waiting(two_instances: Stack) -> None:
    s = two_instances
    screen = Screen(s.urls[1])  # drops off before the restart
    stays = Screen(s.urls[0])  # connected through it
    for console in (screen, stays):
        await console.open(token=s.token())
        await console.wait_for("snapshot")
    load = CallLoad(http=s.http, urls=s.urls, headers=s.auth(),
                    points=station_points(demo_collection()), retry_for_s=30.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sending = asyncio.create_task(load.run(rate_per_s=RATE_PER_S, duration_s=DURATION_S))
    await asyncio.sleep(SCREEN_LOST_AT_S)
    await screen.close()
    await asyncio.sleep(DOWN_AT_S - SCREEN_LOST_AT_S)
    down_at = loop.time()
    await s.redis.restart(down_s=DOWN_FOR_S)
    back_at, back_wall = loop.time(), datetime.now(UTC)
    await sending
    await load.settle()

    # every acknowledged call gets a vehicle within the sweep interval of Redis coming
    # back (or of its intake, for the calls taken after)
    acked = {c.call_id: c for c in load.calls if c.call_id}
    deadline = max(back_at, max(c.acked_at or 0.0 for c in load.calls)) + ASSIGN_WITHIN_S
    async with s.db() as conn:
        waiting = await unassigned(conn, acked)
        while waiting and loop.time() < deadline:
            await asyncio.sleep(0.2)
            waiting = await unassigned(conn, acked)
        records = await record_problems(conn, load.calls)
        doubles = await assignment_problems(conn)
        waits = await conn.fetch(
            """SELECT c.id::text AS id,
                      extract(epoch FROM min(a.assigned_at) - greatest(c.created_at, $2))
                          AS wait_s
                 FROM calls c JOIN assignments a ON a.call_id = c.id
                WHERE c.id = ANY($1::uuid[]) GROUP BY c.id, c.created_at""",
            [i for i, c in acked.items() if c.status == "queued"], back_wall)
        free = await conn.fetchval(
            "SELECT count(*) FROM vehicles WHERE status = 'available' AND kind <> 'net'")
        live = {r["id"] for r in await conn.fetch(
            """SELECT id::text FROM calls
                WHERE status IN ('queued', 'assigned', 'active')""")}

    # the consoles come back from the last event they had, as screens do
    await stays.close()
    created = {c.call_id for c in load.calls if c.created and c.call_id}
    screens: dict[str, Any] = {}
    broken: list[str] = []
    for name, before, url in (("dropped", screen, s.urls[0]), ("stayed", stays, s.urls[1])):
        again = Screen(url)
        await again.open(token=s.token(Role.DISPATCHER), last_event_id=before.last_id)
        await again.quiet(for_s=2.0, at_most_s=10.0)
        await again.close()
        problems, screens[name] = resume_gaps(before, again, created, live)
        broken += [f"console that {name}: {p}" for p in problems]

    statuses = load.statuses()
    answers = load.answers()
    during = [a for a in answers if down_at <= a.sent_at < back_at]
    firsts = [a.sent_at + a.elapsed_s for a in answers
              if a.sent_at >= back_at and a.status == 201]
    report_figures("test_redis_restart_loses_no_call_and_leaves_none_waiting", {
        "calls": len(load.calls), "acknowledged": len(acked), "statuses": dict(statuses),
        "answers_during_outage": dict(Counter(a.status for a in during)),
        "down_at_s": down_at - started, "outage_s": back_at - down_at,
        "first_201_after_back_s": (min(firsts) - back_at) if firsts else None,
        "unassigned_at_deadline": len(waiting),
        "queued_at_intake": sum(c.status == "queued" for c in acked.values()),
        "max_wait_for_vehicle_after_back_s": max(
            (float(r["wait_s"]) for r in waits), default=None),
        "consoles": screens,
    })
    # every promise is checked, so a failure lists all that are broken
    if load.unacknowledged():
        broken.append(f"{len(load.unacknowledged())} calls never acknowledged: "
                      f"{[(c.key, c.answers[-1]) for c in load.unacknowledged()][:3]}")
    broken += records + doubles
    # a Redis outage is a 503 with Retry-After, never a 500 or a dropped connection
    if not set(statuses) <= {200, 201, 503}:
        broken.append(f"answers other than 200/201/503: {dict(statuses)}")
    if not all(a.retry_after for a in answers if a.status == 503):
        broken.append("a 503 without Retry-After")
    if waiting:
        broken.append(
            f"{len(waiting)} of {len(acked)} acknowledged calls still without a vehicle "
            f"{ASSIGN_WITHIN_S:.0f} s after Redis came back (or after their intake), "
            f"while {free} emergency units are available: {sorted(waiting)[:3]}")
    assert not broken, "\n".join(broken)


def resume_gaps(
    before: Screen, after: Screen, created: set[str], live: set[str]
) -> tuple[list[str], dict[str, Any]]:
    """A console's two connections: gap-free (a call_created for every call taken) or
    told so (a snapshot holding every live call, or a resync) — and what it got."""
    resynced = [f for f in before.frames[1:] + after.frames
                if f.get("type") in ("snapshot", "resync")]
    missed = created - before.created() - after.created()
    seen = {"frames_before": len(before.frames), "frames_after": len(after.frames),
            "resynced": [f["type"] for f in resynced] or "no",
            "missed_call_created": len(missed)}
    if not resynced:
        if missed:
            return [f"resumed from {before.last_id} without a snapshot or resync and never "
                    f"got call_created for {len(missed)} of {len(created)} calls: "
                    f"{sorted(missed)[:3]}"], seen
        return [], seen
    problems = []
    # a snapshot replaces the events the screen missed: it must hold every live call
    for snap in (f for f in resynced if f["type"] == "snapshot"):
        shown = {str(c["id"]) for c in snap["calls"][0]["queue"]}
        if not live <= shown:
            problems.append(f"the snapshot lacks live calls {sorted(live - shown)[:3]}")
    return problems, seen
