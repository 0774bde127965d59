"""kill -9 of an instance under load: clients retry on the other, nothing lost or doubled."""

from __future__ import annotations

import asyncio

import pytest

from dispatch.cli import demo_collection
from tests.fault.checks import (
    assignment_problems,
    calls_assigned_more_than_once,
    record_problems,
    report_figures,
)
from tests.fault.load import CallLoad
from tests.fault.stack import Stack, station_points

pytestmark = pytest.mark.fault

RATE_PER_S = 12.0
DURATION_S = 8.0
KILL_AT_S = 3.0
BURST = 8


async def test_kill_9_of_an_instance_loses_and_doubles_nothing(two_instances: Stack) -> None:
    s = two_instances
    load = CallLoad(http=s.http, urls=s.urls, headers=s.auth(),
                    points=station_points(demo_collection()), retry_for_s=30.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sending = asyncio.create_task(load.run(rate_per_s=RATE_PER_S, duration_s=DURATION_S))
    await asyncio.sleep(KILL_AT_S)
    # a burst on the instance about to die: some intakes are cut mid-way (before or
    # after their commit), and their retries must neither lose nor double them
    for _ in range(BURST):
        load.start(load.new_call(), 1)
    await asyncio.sleep(0.04)
    s.kill9(1)
    killed_at = loop.time()
    await sending
    await load.settle()
    # the killed instance is replaced; the new process serves the calls already taken
    t0 = loop.time()
    await s.replace(1)
    replaced_s = loop.time() - t0
    answered = [c for c in load.calls if c.acknowledged]
    r = await s.http.get(f"{s.urls[1]}/v1/calls/{answered[-1].call_id}", headers=s.auth())
    assert r.status_code == 200, r.text

    async with s.db() as conn:
        records = await record_problems(conn, load.calls)
        doubles = await assignment_problems(conn)
        twice = await calls_assigned_more_than_once(conn)
        assigned = await conn.fetchval("SELECT count(DISTINCT call_id) FROM assignments")

    retried = [c for c in load.calls if c.retried]
    after_kill = [c for c in retried if c.first_sent >= killed_at - 1.0 and c.acked_at]
    statuses = load.statuses()
    report_figures("test_kill_9_of_an_instance_loses_and_doubles_nothing", {
        "calls": len(load.calls), "acknowledged": len(answered),
        "created_201": sum(c.created for c in load.calls), "retried": len(retried),
        "statuses": dict(statuses), "assigned_calls": assigned,
        "max_retry_to_ack_s": max((c.acked_at - c.first_sent for c in after_kill
                                   if c.acked_at), default=0.0),
        "kill_at_s": killed_at - started, "replacement_ready_s": replaced_s,
        "cut_mid_request": sum(1 for a in load.answers()
                               if a.status is None and a.sent_at < killed_at),
        "acknowledged_200_on_retry": sum(1 for c in load.calls if not c.created),
    })
    assert not load.unacknowledged(), [
        (c.key, c.answers) for c in load.unacknowledged()][:5]
    assert not load.inconsistent(), [(c.key, c.ids_seen) for c in load.inconsistent()]
    assert not records, records
    assert not doubles, doubles
    assert not twice, twice
    # the kill was felt (the test tests something) and only the killed instance failed
    assert retried, "no call was retried: the kill happened outside the load"
    assert all(a.instance == 1 for a in load.answers() if a.status is None)
    assert set(statuses) <= {200, 201, 503, None}, statuses
