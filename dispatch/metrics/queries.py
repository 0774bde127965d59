"""Indicators straight from PostgreSQL: the rules of `intervals.py`, in SQL.

One statement per grouping reads one row per call from `call_clocks` (migrations 0007,
0008, 0024): the call's attributes, copied from `calls`, and the cache of its clocks folded
from its events (earliest source clock and receipt per kind, clocks repaired against the
dispatch order, the counted / first-arriving / transporting vehicle picked), with the
configuration-free intervals as generated columns. The fold runs after the writes; what is
still pending is folded before the read, in the reader's snapshot (`_folded_snapshot`).
It applies the configuration (departure start and classes, limits, grace), counts and rates
per group, and returns each group's values of each interval as one binary array; the
percentiles and shares within target are then selected in `order_stats` (linear time)
rather than sorted in SQL. The total is the union of the groups. Everything is rebuildable
from the events and calls at any time. `compute_indicators_reference` runs the pure Python
path over the raw events; the tests hold the two to the same answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np

from dispatch.domain import Acuity, Pathway, TransportClass
from dispatch.metrics import order_stats
from dispatch.metrics.clock_folder import LOCK_FOLDS, fold_pending
from dispatch.metrics.indicators import (
    PERCENTILES,
    RATES,
    IndicatorReport,
    IndicatorRow,
    IntervalStats,
    Rate,
    aggregate,
    group_sort_key,
    validate_by,
)
from dispatch.metrics.intervals import (
    DIRECT_CAPABILITY,
    INTERVALS,
    CallRow,
    IndicatorConfig,
    TimelineEvent,
    measure_call,
)
from dispatch.metrics.report import PeriodReport

# array_agg holds a group's values of every interval in memory (~100 MB per million calls).
_WORK_MEM = "256MB"


class _Params:
    """Collects query arguments and hands out their $n placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


def _dimension_sql(*, dimension: str, tz: str) -> str:
    period = {"hour": 'YYYY-MM-DD"T"HH24', "day": "YYYY-MM-DD", "month": "YYYY-MM"}
    if dimension in period:
        return f"to_char(c.received_at AT TIME ZONE {tz}, '{period[dimension]}')"
    return {
        "district": "c.district_id",
        "station": "c.cv_station_id",
        "vehicle": "c.cv_vehicle_id",
        "acuity": "c.acuity::text",
        "transport_class": "c.transport_class",
        "pathway": "c.pathway",
    }[dimension]


def _per_call_sql(
    *, p: _Params, start: datetime, end: datetime, dims: Sequence[str], config: IndicatorConfig
) -> str:
    """SELECT producing one row per call: its dimensions (dim_i), the columns of
    `CallMeasures` for this configuration. One scan of call_clocks (migrations 0007-0008),
    whose generated columns hold the intervals that do not depend on the configuration."""
    # an unused placeholder would have no type, so the zone is only passed when a period is
    tz = p(config.time_zone, "text") if {"hour", "day", "month"} & set(dims) else ""
    dim_cols = "".join(
        f"{_dimension_sql(dimension=d, tz=tz)} AS dim_{i}, " for i, d in enumerate(dims)
    )
    limit = p(config.departure_limit_s, "float8")
    if config.departure_from == "dispatched":
        dep_start, dep_span = "c.cv_dispatched", "c.turnout_s"
    else:
        dep_start = "CASE WHEN c.cv_dispatched IS NOT NULL THEN c.answered END"
        dep_span = "c.answer_to_departure_s"
    dep_class = (
        f"c.transport_class = ANY({p([str(t) for t in config.departure_classes], 'text[]')})"
    )
    needed = " OR ".join(f"'{flag}' = ANY(c.flags)" for flag, _ in DIRECT_CAPABILITY)
    capable = " AND ".join(
        f"(NOT '{flag}' = ANY(c.flags) OR '{cap}' = ANY(coalesce(h.capabilities, '{{}}')))"
        for flag, cap in DIRECT_CAPABILITY
    )
    deadline = f"c.booked_to + make_interval(secs => {p(config.pickup_grace_s, 'float8')})"
    # rules 5 and 6: not judged while it can still be on time at the report's as_of
    as_of = p(config.as_of, "timestamptz")
    on_pathway = "c.pathway IS NOT NULL"
    return f"""
        SELECT {dim_cols}c.cancelled, c.repairs,
               c.call_response_s, c.processing_s, c.turnout_s,
               CASE WHEN {dep_class} THEN {dep_span} END AS departure_s,
               c.response_s, c.travel_s, c.on_scene_s, c.transport_s, c.offload_s,
               CASE WHEN {on_pathway} THEN c.alert_lead_s END AS prealert_lead_s,
               CASE WHEN {on_pathway} THEN c.team_to_arrival_s END AS team_lead_s,
               CASE WHEN {on_pathway} THEN c.contact_to_arrival_s END AS fmc_to_destination_s,
               c.call_response_s <= {p(config.answer_limit_s, "float8")} AS answered_in_time,
               CASE WHEN NOT {dep_class} OR {dep_start} IS NULL THEN NULL
                    WHEN c.cv_departed IS NOT NULL THEN {dep_span} <= {limit}
                    WHEN c.cancelled IS NOT NULL
                         AND date_part('epoch', c.cancelled - {dep_start}) <= {limit}
                        THEN NULL
                    WHEN date_part('epoch', {as_of} - {dep_start}) <= {limit} THEN NULL
                    ELSE false END AS departed_in_time,
               CASE WHEN {on_pathway} AND c.tv_at_destination IS NOT NULL
                    THEN coalesce(c.dest_alerted < c.tv_at_destination, false)
               END AS prealerted,
               CASE WHEN c.tv_at_destination IS NOT NULL AND ({needed}) THEN {capable} END
                   AS direct_to_capable,
               CASE WHEN c.transport_class = '{TransportClass.NON_EMERGENCY}'
                         AND c.booked_to IS NOT NULL THEN
                    CASE WHEN c.fa_on_scene IS NOT NULL THEN c.fa_on_scene <= {deadline}
                         WHEN c.cancelled IS NOT NULL AND c.cancelled <= {deadline} THEN NULL
                         WHEN {as_of} <= {deadline} THEN NULL
                         ELSE false END
               END AS pickup_on_time
        FROM call_clocks c
        LEFT JOIN hospitals h ON h.id = c.destination_id
        WHERE c.received_at >= {p(start, "timestamptz")} AND c.received_at < {p(end, "timestamptz")}
    """


def _group_sql(
    *, p: _Params, start: datetime, end: datetime, dims: Sequence[str], config: IndicatorConfig
) -> str:
    """One row per group of `dims` (one row in all if there are none): counts, each rate's
    numerator and denominator, and each interval's values as one binary float8 array."""
    per_call = _per_call_sql(p=p, start=start, end=end, dims=dims, config=config)
    keys = [f"dim_{i}" for i in range(len(dims))]
    cols = [
        *keys,
        "count(*) AS calls",
        "count(cancelled) AS cancelled",
        "coalesce(sum(repairs), 0)::int AS clock_repairs",
    ]
    for r in RATES:
        cols += [f"count(*) FILTER (WHERE {r}) AS {r}_num", f"count({r}) AS {r}_den"]
    cols += [
        f"array_send(coalesce(array_agg({name}) FILTER (WHERE {name} IS NOT NULL),"
        f" '{{}}')) AS {name}"
        for name in INTERVALS
    ]
    group = f"GROUP BY {', '.join(keys)}" if keys else ""
    return f"SELECT {', '.join(cols)} FROM ({per_call}) x {group}"


@dataclass(frozen=True, slots=True)
class _Group:
    """One group as the statement returns it, before the order statistics are taken."""

    key: tuple[tuple[str, str | None], ...]
    calls: int
    cancelled: int
    clock_repairs: int
    rates: dict[str, Rate]
    values: dict[str, order_stats.Values]


def _group_from_record(*, record: asyncpg.Record, dims: Sequence[str]) -> _Group:
    return _Group(
        key=tuple((d, record[f"dim_{i}"]) for i, d in enumerate(dims)),
        calls=record["calls"],
        cancelled=record["cancelled"],
        clock_repairs=record["clock_repairs"],
        rates={
            r: Rate(numerator=record[f"{r}_num"], denominator=record[f"{r}_den"]) for r in RATES
        },
        values={n: order_stats.decode_float8_array(record[n]) for n in INTERVALS},
    )


def _merge(groups: Sequence[_Group], *, key: tuple[tuple[str, str | None], ...]) -> _Group:
    """Groups of disjoint calls as one: a grouping's total, or one group's time slices."""
    return _Group(
        key=key,
        calls=sum(g.calls for g in groups),
        cancelled=sum(g.cancelled for g in groups),
        clock_repairs=sum(g.clock_repairs for g in groups),
        rates={
            r: Rate(
                numerator=sum(g.rates[r].numerator for g in groups),
                denominator=sum(g.rates[r].denominator for g in groups),
            )
            for r in RATES
        },
        values={
            n: np.concatenate([g.values[n] for g in groups])
            if groups
            else np.empty(0, dtype=np.float64)
            for n in INTERVALS
        },
    )


def _interval_stats(
    *, name: str, values: order_stats.Values, config: IndicatorConfig
) -> IntervalStats:
    """One interval's percentiles and shares within target over one group's values."""
    p50, p90, p95 = order_stats.percentiles(values, PERCENTILES)
    within = tuple(
        (target, order_stats.count_within(values, target)) for target in config.targets_of(name)
    )
    return IntervalStats(n=len(values), p50=p50, p90=p90, p95=p95, within=within)


async def _indicator_rows(
    *, groups: Sequence[_Group], config: IndicatorConfig
) -> list[IndicatorRow]:
    """Every group's row. Each (group, interval) is selected on a worker thread: numpy
    releases the GIL while it partitions, so the selections use every core (at a million
    calls they were ~0.45 s on one)."""
    stats = await asyncio.gather(*(
        asyncio.to_thread(_interval_stats, name=name, values=values, config=config)
        for g in groups for name, values in g.values.items()
    ))
    selected = iter(stats)  # in the order they were asked for
    return [
        IndicatorRow(
            key=g.key,
            calls=g.calls,
            cancelled=g.cancelled,
            clock_repairs=g.clock_repairs,
            rates=g.rates,
            intervals={name: next(selected) for name in g.values},
        )
        for g in groups
    ]


def _time_slices(*, start: datetime, end: datetime, n: int) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into n consecutive slices of equal length."""
    cuts = [start + (end - start) * i / n for i in range(n)] + [end]
    return list(itertools.pairwise(cuts))


# Whether a call received in [$1, $2) (by its calls row, or by its call_clocks row should
# the two disagree) waits to be folded, in the statement's snapshot.
_PENDING_BETWEEN = """
    SELECT EXISTS (
        SELECT 1 FROM call_clocks_pending p
        WHERE EXISTS (SELECT 1 FROM calls k WHERE k.id = p.call_id
                        AND k.received_at >= $1 AND k.received_at < $2)
           OR EXISTS (SELECT 1 FROM call_clocks c WHERE c.call_id = p.call_id
                        AND c.received_at >= $1 AND c.received_at < $2))"""


@asynccontextmanager
async def _folded_snapshot(
    conn: asyncpg.Connection, *, start: datetime, end: datetime
) -> AsyncIterator[bool]:
    """A REPEATABLE READ transaction on `conn` whose call_clocks rows of calls received in
    [start, end) hold every event its snapshot sees (the fold is deferred, migration 0024);
    yields whether other connections may share its snapshot.

    A snapshot in which no call of the period is pending is exact as it is, and read-only
    (a period in the past; a quiet moment). Failing that, what is pending is folded in a
    transaction of its own and a new snapshot tried. Failing again (events keep coming),
    the transaction takes the folds' lock before its snapshot and folds in it: exact, but
    its own writes are invisible to a snapshot exported to helpers, so it reads alone, and
    only such readers wait for each other and hold off the background fold."""
    for drain in (True, False):
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if not await conn.fetchval(_PENDING_BETWEEN, start, end):
                yield True
                return
        if drain:
            await fold_pending(conn, wait=False)
    async with conn.transaction(isolation="repeatable_read"):
        await conn.execute(LOCK_FOLDS)
        await fold_pending(conn)
        yield False


@asynccontextmanager
async def _one_snapshot(
    conn: asyncpg.Connection, helpers: Sequence[asyncpg.Connection], *,
    start: datetime, end: datetime,
) -> AsyncIterator[list[asyncpg.Connection]]:
    """Transactions on `conn` and the helpers it can share with, all seeing the same
    snapshot (pg_export_snapshot), so slices computed on different connections add up;
    every event of the period committed before it is folded into call_clocks."""
    async with contextlib.AsyncExitStack() as stack:
        if not await stack.enter_async_context(_folded_snapshot(conn, start=start, end=end)):
            helpers = ()
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()") if helpers else None
        for helper in helpers:
            await stack.enter_async_context(
                helper.transaction(isolation="repeatable_read", readonly=True)
            )
            await helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        for c in (conn, *helpers):
            # array_agg holds a slice's values of every interval in memory
            await c.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
            # JIT compilation took ~6% of a 50k-call run and bought nothing back
            await c.execute("SET LOCAL jit = off")
        yield [conn, *helpers]


async def _fetch_groups(
    *,
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    dims: Sequence[str],
    config: IndicatorConfig,
) -> list[_Group]:
    p = _Params()
    sql = _group_sql(p=p, start=start, end=end, dims=dims, config=config)
    return [_group_from_record(record=r, dims=dims) for r in await conn.fetch(sql, *p.values)]


async def _compute_sets(
    *,
    conn: asyncpg.Connection,
    helpers: Sequence[asyncpg.Connection],
    start: datetime,
    end: datetime,
    sets: Sequence[Sequence[str]],
    config: IndicatorConfig,
) -> list[IndicatorReport]:
    """One report per grouping, all read in one snapshot; the total from the first.

    With helper connections the period is cut into as many time slices as connections,
    computed at the same time (PostgreSQL runs array_agg in one process per statement), and
    each group's slices are merged."""
    checked = [validate_by(by=by) for by in sets]
    groupings: list[list[_Group]] = []
    async with _one_snapshot(conn, helpers, start=start, end=end) as conns:
        slices = _time_slices(start=start, end=end, n=len(conns))
        for dims in checked:
            parts = await asyncio.gather(
                *(
                    _fetch_groups(conn=c, start=s, end=e, dims=dims, config=config)
                    for c, (s, e) in zip(conns, slices, strict=True)
                )
            )
            by_key: dict[tuple[tuple[str, str | None], ...], list[_Group]] = {}
            for g in itertools.chain.from_iterable(parts):
                by_key.setdefault(g.key, []).append(g)
            groupings.append([_merge(gs, key=k) for k, gs in by_key.items()])
    # The total first, then every grouping's groups, all selected at once.
    grouped = [g for dims, groups in zip(checked, groupings, strict=True) if dims
               for g in groups]
    total, *rest = await _indicator_rows(
        groups=[_merge(groupings[0], key=()), *grouped], config=config)
    remaining = iter(rest)
    reports = []
    for dims, groups in zip(checked, groupings, strict=True):
        if dims:
            rows = sorted(itertools.islice(remaining, len(groups)),
                          key=lambda r: group_sort_key(r.key))
        else:
            rows = [total]  # with no dimensions the one group is the total
        reports.append(
            IndicatorReport(
                start=start, end=end, by=dims, config=config, rows=tuple(rows), total=total
            )
        )
    return reports


async def compute_indicators(
    *,
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    by: Sequence[str],
    config: IndicatorConfig,
    helpers: Sequence[asyncpg.Connection] = (),
) -> IndicatorReport:
    """Indicators for calls received in [start, end), grouped by `by`, computed in SQL;
    `helpers` (other connections to the same database) share the work."""
    (report,) = await _compute_sets(
        conn=conn, helpers=helpers, start=start, end=end, sets=[by], config=config
    )
    return report


async def fetch_timelines(
    *, conn: asyncpg.Connection, start: datetime, end: datetime
) -> list[tuple[CallRow, list[TimelineEvent]]]:
    """Every call received in [start, end) with its events, for the pure reference path."""
    calls = await conn.fetch(
        """SELECT k.id::text AS id, k.received_at, k.acuity, k.transport_class, k.pathway,
                  k.district_id, k.booked_from, k.booked_to, k.destination_id,
                  CASE WHEN jsonb_typeof(k.triage->'flags') = 'object' THEN
                       ARRAY(SELECT key FROM jsonb_each(k.triage->'flags')
                             WHERE value = 'true'::jsonb)
                  ELSE '{}'::text[] END AS flags,
                  coalesce(h.capabilities, '{}') AS dest_caps
           FROM calls k LEFT JOIN hospitals h ON h.id = k.destination_id
           WHERE k.received_at >= $1 AND k.received_at < $2
           ORDER BY k.received_at, k.id""",
        start,
        end,
    )
    events = await conn.fetch(
        """SELECT e.call_id::text AS call_id, e.vehicle_id, e.kind, e.occurred_at,
                  e.received_at, e.data->>'station_id' AS station_id,
                  e.data->>'hospital_id' AS hospital_id
           FROM events e JOIN calls k ON k.id = e.call_id
           WHERE k.received_at >= $1 AND k.received_at < $2
           ORDER BY e.id""",
        start,
        end,
    )
    by_call: dict[str, list[TimelineEvent]] = {}
    for e in events:
        data = {k: e[k] for k in ("station_id", "hospital_id") if e[k] is not None}
        by_call.setdefault(e["call_id"], []).append(
            TimelineEvent(
                kind=e["kind"],
                occurred_at=e["occurred_at"],
                received_at=e["received_at"],
                vehicle_id=e["vehicle_id"],
                data=data,
            )
        )
    return [
        (
            CallRow(
                call_id=c["id"],
                received_at=c["received_at"],
                acuity=Acuity(c["acuity"]),
                transport_class=TransportClass(c["transport_class"]),
                pathway=Pathway(c["pathway"]) if c["pathway"] else None,
                district_id=c["district_id"],
                booked_from=c["booked_from"],
                booked_to=c["booked_to"],
                flags=frozenset(c["flags"]),
                destination_capabilities=frozenset(c["dest_caps"]),
                destination_id=c["destination_id"],
            ),
            by_call.get(c["id"], []),
        )
        for c in calls
    ]


async def compute_indicators_reference(
    *,
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    by: Sequence[str],
    config: IndicatorConfig,
) -> IndicatorReport:
    """The same report through the pure Python path (small periods, and the tests' oracle)."""
    timelines = await fetch_timelines(conn=conn, start=start, end=end)
    measures = [measure_call(call=c, events=ev, config=config) for c, ev in timelines]
    return aggregate(measures=measures, by=by, config=config, start=start, end=end)


async def compute_period_report(
    *,
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    config: IndicatorConfig,
    helpers: Sequence[asyncpg.Connection] = (),
) -> PeriodReport:
    """The four views `report.write_report` draws, read in one snapshot."""
    by_hour, by_station, by_district, by_pathway = await _compute_sets(
        conn=conn,
        helpers=helpers,
        start=start,
        end=end,
        sets=[("hour",), ("station",), ("district",), ("pathway",)],
        config=config,
    )
    return PeriodReport(
        by_hour=by_hour, by_station=by_station, by_district=by_district, by_pathway=by_pathway
    )
