"""PostgreSQL with a synchronous streaming standby: the primary is killed under load and
the standby promoted.

The service's DSN lists both hosts with target_session_attrs=read-write. It answers 503
with Retry-After while no host takes writes, then takes calls again on the promoted
standby without a restart. With synchronous_standby_names naming the standby, a commit
returns only once the standby has flushed it: no call answered 201 is missing there.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from dispatch.cli import demo_collection
from tests.fault.checks import assignment_problems, record_problems, report_figures
from tests.fault.ha import Cluster, postgres_cluster, serving
from tests.fault.load import CallLoad
from tests.fault.servers import PrivateRedis
from tests.fault.stack import DB_COMMAND_TIMEOUT_S, Stack, station_points

pytestmark = pytest.mark.fault

RATE_PER_S = 4.0
DURATION_S = 14.0
KILL_AT_S = 3.0
PROMOTE_AFTER_S = 1.0  # an operator's (or a failover manager's) reaction, shortened


async def on_primary_and_standby(scenario: Callable[[Stack, Cluster], Awaitable[None]]) -> None:
    """Run `scenario` on two instances over a primary with its synchronous standby."""
    redis = PrivateRedis()
    try:
        await redis.start()
        async with postgres_cluster() as pg, serving(
                pg=pg.primary, redis=redis, overrides={"DISPATCH_DATABASE_URL": pg.dsn},
                instances=2) as s:
            await scenario(s, pg)
    finally:
        redis.close()


async def test_standby_promoted_after_primary_killed_keeps_every_201() -> None:
    await on_primary_and_standby(run_failover)


async def run_failover(s: Stack, pg: Cluster) -> None:
    load = CallLoad(http=s.http, urls=s.urls, headers=s.auth(),
                    points=station_points(demo_collection()), retry_for_s=40.0,
                    timeout_s=DB_COMMAND_TIMEOUT_S + 8)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sending = asyncio.create_task(load.run(rate_per_s=RATE_PER_S, duration_s=DURATION_S))
    await asyncio.sleep(KILL_AT_S)
    killed_at = loop.time()
    pg.primary.kill9()
    await asyncio.sleep(PROMOTE_AFTER_S)
    promote_from = loop.time()
    await asyncio.to_thread(pg.standby.promote)
    promoted_at = loop.time()
    await sending
    await load.settle()

    answers = load.answers()
    statuses = load.statuses()
    after = [a for a in answers if a.sent_at >= promoted_at]
    firsts = [a.sent_at + a.elapsed_s for a in answers
              if a.sent_at >= promoted_at and a.status == 201]
    conn = await asyncpg.connect(pg.standby.dsn)
    try:
        broken = await record_problems(conn, load.calls)
        broken += await assignment_problems(conn)
        in_recovery = await conn.fetchval("SELECT pg_is_in_recovery()")
    finally:
        await conn.close()
    report_figures("test_standby_promoted_after_primary_killed_keeps_every_201", {
        "calls": len(load.calls), "statuses": dict(statuses),
        "kill_at_s": killed_at - started, "promote_s": promoted_at - promote_from,
        "first_201_after_promotion_s": (min(firsts) - promoted_at) if firsts else None,
        "kill_to_first_201_s": (min(firsts) - killed_at) if firsts else None,
        "answers_after_promotion": dict(Counter(a.status for a in after)),
        "created": sum(c.created for c in load.calls),
    })
    if in_recovery:
        broken.append("the standby is still in recovery after pg_ctl promote")
    if load.unacknowledged():
        broken.append(f"{len(load.unacknowledged())} calls never acknowledged: "
                      f"{[(c.key, c.answers[-1]) for c in load.unacknowledged()][:3]}")
    if not set(statuses) <= {200, 201, 503}:
        broken.append(f"answers other than 200/201/503: {dict(statuses)}")
    if not all(a.retry_after for a in answers if a.status == 503):
        broken.append("a 503 without Retry-After")
    if not firsts:
        broken.append("no call taken (201) after the promotion: "
                      f"{dict(Counter(a.status for a in after))}")
    assert not broken, "\n".join(broken)


STANDBY_DOWN_AT_S = 2.0
ASYNC_AT_S = 7.0  # the operator drops to asynchronous replication
# a commit waiting for the lost standby is cancelled at the command timeout: the answer
# comes within it plus the rest of the request, never a hang
ANSWER_WITHIN_S = DB_COMMAND_TIMEOUT_S + 3.0


async def test_standby_lost_writes_wait_until_replication_is_made_asynchronous() -> None:
    await on_primary_and_standby(run_standby_loss)


async def run_standby_loss(s: Stack, pg: Cluster) -> None:
    load = CallLoad(http=s.http, urls=s.urls, headers=s.auth(),
                    points=station_points(demo_collection()), retry_for_s=40.0,
                    timeout_s=ANSWER_WITHIN_S + 5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sending = asyncio.create_task(load.run(rate_per_s=RATE_PER_S, duration_s=DURATION_S))
    await asyncio.sleep(STANDBY_DOWN_AT_S)
    await asyncio.to_thread(pg.standby.stop, "immediate")
    lost_at = loop.time()  # once it is down (pg_ctl stop -w)
    await asyncio.sleep(max(0.0, started + ASYNC_AT_S - loop.time()))
    conn = await asyncpg.connect(pg.primary.admin_dsn)
    try:
        await conn.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    async_at = loop.time()
    await sending
    await load.settle()

    answers = load.answers()
    statuses = load.statuses()
    during = [a for a in answers if lost_at <= a.sent_at < async_at]
    after = [a for a in answers if a.sent_at >= async_at + 0.5]
    slow = [a for a in answers if a.elapsed_s > ANSWER_WITHIN_S]
    async with s.db() as conn:
        broken = await record_problems(conn, load.calls)
        broken += await assignment_problems(conn)
    report_figures("test_standby_lost_writes_wait_until_replication_is_made_asynchronous", {
        "calls": len(load.calls), "statuses": dict(statuses),
        "standby_lost_at_s": lost_at - started, "async_after_s": async_at - lost_at,
        "answers_while_standby_lost": dict(Counter(a.status for a in during)),
        "slowest_answer_while_lost_s": max((a.elapsed_s for a in during), default=None),
        # a commit waiting for the standby returns once replication is asynchronous
        "201_answered_while_lost": sum(a.status == 201 and a.sent_at + a.elapsed_s < async_at
                                       for a in during),
        "answers_after_async": dict(Counter(a.status for a in after)),
        "replayed_200": sum(a.status == 200 for a in answers),
    })
    if load.unacknowledged():
        broken.append(f"{len(load.unacknowledged())} calls never acknowledged: "
                      f"{[(c.key, c.answers[-1]) for c in load.unacknowledged()][:3]}")
    if not set(statuses) <= {200, 201, 503}:
        broken.append(f"answers other than 200/201/503: {dict(statuses)}")
    if not all(a.retry_after for a in answers if a.status == 503):
        broken.append("a 503 without Retry-After")
    if slow:
        broken.append(f"{len(slow)} answers slower than {ANSWER_WITHIN_S} s (a hang): "
                      f"{[round(a.elapsed_s, 1) for a in slow][:5]}")
    if not any(a.status == 201 for a in after):
        broken.append("no call taken (201) once replication was asynchronous: "
                      f"{dict(Counter(a.status for a in after))}")
    assert not broken, "\n".join(broken)
