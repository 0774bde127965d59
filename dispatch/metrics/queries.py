"""Indicators straight from PostgreSQL: the rules of `intervals.py`, in SQL, in one statement.

The statement reads one row per call: the period's calls joined to `call_clocks`
(migration 0007), the cache of each call's clocks that a trigger on `events` folds as the
timeline is written (earliest source clock and receipt per kind, clocks repaired against
the dispatch order, the counted / first-arriving / transporting vehicle picked), rebuildable
from the events at any time. It turns the clocks into intervals and pass/fail flags for the
configuration asked for, and aggregates per group and in total (GROUPING SETS) with
`percentile_cont`. `compute_indicators_reference` runs the pure Python path over the raw
events; the tests hold the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.domain import Acuity, Pathway, TransportClass
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

# Sorts for percentiles over a million calls stay in memory with this much per statement.
_WORK_MEM = "256MB"


class _Params:
    """Collects query arguments and hands out their $n placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


def _epoch(expr: str) -> str:
    # date_part (float8) rather than extract (numeric, ~15x slower per call on PostgreSQL 15):
    # exact for spans under a day (microseconds / 1e6, one rounding, as timedelta.total_seconds)
    return f"date_part('epoch', {expr})"


def _span(start: str, end: str) -> str:
    """Seconds start -> end; NULL if either is missing or end precedes start (rule 3)."""
    return f"CASE WHEN {end} >= {start} THEN {_epoch(f'{end} - {start}')} END"


def _dimension_sql(*, dimension: str, tz: str) -> str:
    period = {"hour": 'YYYY-MM-DD"T"HH24', "day": "YYYY-MM-DD", "month": "YYYY-MM"}
    if dimension in period:
        return f"to_char(received_at AT TIME ZONE {tz}, '{period[dimension]}')"
    return {
        "district": "district_id",
        "station": "station_id",
        "vehicle": "vehicle_id",
        "acuity": "acuity::text",
        "transport_class": "transport_class",
        "pathway": "pathway",
    }[dimension]


def _per_call_sql(*, p: _Params, start: datetime, end: datetime, config: IndicatorConfig) -> str:
    """SELECT producing one row per call with the columns of `CallMeasures`."""
    flags = ", ".join(
        f"coalesce(k.triage->'flags'->>'{flag}' = 'true', false) AS flag_{flag}"
        for flag, _ in DIRECT_CAPABILITY
    )
    limit = p(config.departure_limit_s, "float8")
    start_expr = (
        "cv_d"
        if config.departure_from == "dispatched"
        else "CASE WHEN cv_d IS NOT NULL THEN answered END"
    )
    needed = " OR ".join(f"flag_{flag}" for flag, _ in DIRECT_CAPABILITY)
    capable = " AND ".join(
        f"(NOT flag_{flag} OR '{cap}' = ANY(dest_caps))" for flag, cap in DIRECT_CAPABILITY
    )
    deadline = f"booked_to + make_interval(secs => {p(config.pickup_grace_s, 'float8')})"
    return f"""
    y AS (
        SELECT k.received_at, k.acuity, k.transport_class, k.pathway, k.district_id,
               k.booked_to, {flags}, coalesce(h.capabilities, '{{}}') AS dest_caps,
               t.received, t.answered, t.cancelled, t.alerted, t.team, t.first_order,
               t.contact, coalesce(t.repairs, 0) AS repairs,
               t.cv_dispatched AS cv_d, t.cv_departed AS cv_dep,
               t.cv_vehicle_id AS vehicle_id, t.cv_station_id AS station_id,
               t.fa_on_scene AS on_scene, t.fa_departed AS fa_dep,
               t.tv_on_scene AS tv_on, t.tv_left_scene AS tv_left,
               t.tv_at_destination AS arrival,
               coalesce(t.tv_handover, t.call_handover) AS handover
        FROM calls k
        LEFT JOIN hospitals h ON h.id = k.destination_id
        LEFT JOIN call_clocks t ON t.call_id = k.id
        WHERE k.received_at >= {p(start, "timestamptz")} AND k.received_at < {p(end, "timestamptz")}
    ),
    z AS (
        SELECT y.*, {start_expr} AS dep_start,
               transport_class = ANY({p([str(t) for t in config.departure_classes], "text[]")})
                   AS dep_class
        FROM y
    ),
    x AS (
        SELECT received_at, acuity, transport_class, pathway, district_id, station_id,
               vehicle_id, cancelled, repairs,
               {_span("received", "answered")} AS call_response_s,
               {_span("answered", "first_order")} AS processing_s,
               {_span("cv_d", "cv_dep")} AS turnout_s,
               CASE WHEN dep_class THEN {_span("dep_start", "cv_dep")} END AS departure_s,
               {_span("answered", "on_scene")} AS response_s,
               {_span("fa_dep", "on_scene")} AS travel_s,
               {_span("tv_on", "tv_left")} AS on_scene_s,
               {_span("tv_left", "arrival")} AS transport_s,
               {_span("arrival", "handover")} AS offload_s,
               CASE WHEN pathway IS NOT NULL AND alerted < arrival
                    THEN {_span("alerted", "arrival")} END AS prealert_lead_s,
               CASE WHEN pathway IS NOT NULL THEN {_epoch("arrival - team")} END AS team_lead_s,
               CASE WHEN pathway IS NOT NULL THEN {_span("contact", "arrival")} END
                   AS fmc_to_destination_s,
               {_span("received", "answered")} <= {p(config.answer_limit_s, "float8")}
                   AS answered_in_time,
               CASE WHEN NOT dep_class OR dep_start IS NULL THEN NULL
                    WHEN cv_dep IS NOT NULL THEN {_span("dep_start", "cv_dep")} <= {limit}
                    WHEN cancelled IS NOT NULL AND {_epoch("cancelled - dep_start")} <= {limit}
                        THEN NULL
                    ELSE false END AS departed_in_time,
               CASE WHEN pathway IS NOT NULL AND arrival IS NOT NULL
                    THEN coalesce(alerted < arrival, false) END AS prealerted,
               CASE WHEN arrival IS NOT NULL AND ({needed}) THEN {capable} END
                   AS direct_to_capable,
               CASE WHEN transport_class = '{TransportClass.NON_EMERGENCY}'
                         AND booked_to IS NOT NULL THEN
                    CASE WHEN on_scene IS NOT NULL THEN on_scene <= {deadline}
                         WHEN cancelled IS NOT NULL AND cancelled <= {deadline} THEN NULL
                         ELSE false END
               END AS pickup_on_time
        -- OFFSET 0 keeps x a subquery: each measure is computed once per call, not once per
        -- aggregate that reads it (the planner would otherwise inline them into every one)
        FROM z OFFSET 0
    )"""


def _all_dims(sets: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """Every dimension used by any grouping set, in first-seen order (the dim_i columns)."""
    return tuple(dict.fromkeys(d for dims in sets for d in dims))


def _grouping_mask(*, dims: tuple[str, ...], all_dims: tuple[str, ...]) -> int:
    """GROUPING(dim_0, ..., dim_n) of the rows of one set: a 1 bit per dimension not in it."""
    n = len(all_dims)
    return sum(1 << (n - 1 - i) for i, d in enumerate(all_dims) if d not in dims)


def _aggregate_sql(
    *, p: _Params, sets: Sequence[tuple[str, ...]], config: IndicatorConfig
) -> str:
    """SELECT over `x` giving one row per group of every set plus the total (GROUPING SETS)."""
    dims = _all_dims(sets)
    # an unused placeholder would have no type, so the zone is only passed when a period is
    tz = p(config.time_zone, "text") if {"hour", "day", "month"} & set(dims) else ""
    dim_exprs = [f"{_dimension_sql(dimension=d, tz=tz)} AS dim_{i}" for i, d in enumerate(dims)]
    fractions = p(list(PERCENTILES), "float8[]")
    cols = [
        *(f"dim_{i}" for i in range(len(dims))),
        f"GROUPING({', '.join(f'dim_{i}' for i in range(len(dims)))}) AS grp"
        if dims
        else "0 AS grp",
        "count(*) AS calls",
        "count(cancelled) AS cancelled",
        "coalesce(sum(repairs), 0)::int AS clock_repairs",
    ]
    for r in RATES:
        cols += [f"count(*) FILTER (WHERE {r}) AS {r}_num", f"count({r}) AS {r}_den"]
    targets = config.targets()
    for name in INTERVALS:
        cols += [
            f"count({name}) AS {name}_n",
            f"percentile_cont({fractions}) WITHIN GROUP (ORDER BY {name}) AS {name}_pct",
        ]
        for j, (interval, target) in enumerate(targets):
            if interval == name:
                cols.append(
                    f"count(*) FILTER (WHERE {name} <= {p(target, 'float8')}) AS {name}_w{j}"
                )
    grouping = ", ".join(
        "(" + ", ".join(f"dim_{dims.index(d)}" for d in s) + ")" for s in sets if s
    )
    group = f"GROUP BY GROUPING SETS ({grouping}, ())" if dims else ""
    # dimensions are computed in a subquery: GROUPING SETS cannot name output aliases
    source = f"(SELECT x.*, {', '.join(dim_exprs)} FROM x) g" if dims else "x"
    return f"SELECT {', '.join(cols)} FROM {source} {group}"


def _row_from_record(
    *,
    record: asyncpg.Record,
    dims: Sequence[str],
    all_dims: Sequence[str],
    config: IndicatorConfig,
) -> IndicatorRow:
    key = tuple((d, record[f"dim_{all_dims.index(d)}"]) for d in dims)
    targets = config.targets()
    intervals = {}
    for name in INTERVALS:
        pct = record[f"{name}_pct"] or [None] * len(PERCENTILES)
        p50, p90, p95 = pct
        within = tuple(
            (target, record[f"{name}_w{j}"])
            for j, (interval, target) in enumerate(targets)
            if interval == name
        )
        intervals[name] = IntervalStats(
            n=record[f"{name}_n"], p50=p50, p90=p90, p95=p95, within=within
        )
    return IndicatorRow(
        key=key,
        calls=record["calls"],
        cancelled=record["cancelled"],
        clock_repairs=record["clock_repairs"],
        rates={
            r: Rate(numerator=record[f"{r}_num"], denominator=record[f"{r}_den"]) for r in RATES
        },
        intervals=intervals,
    )


def indicators_sql(
    *,
    start: datetime,
    end: datetime,
    sets: Sequence[Sequence[str]],
    config: IndicatorConfig,
) -> tuple[str, list[Any]]:
    """One statement computing the indicators of every grouping set (and the total) in one
    pass, and its arguments (also for EXPLAIN and the benchmark)."""
    checked = [validate_by(by=by) for by in sets]
    p = _Params()
    per_call = _per_call_sql(p=p, start=start, end=end, config=config)
    return f"WITH {per_call}\n{_aggregate_sql(p=p, sets=checked, config=config)}", p.values


async def _compute_sets(
    *,
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    sets: Sequence[Sequence[str]],
    config: IndicatorConfig,
) -> list[IndicatorReport]:
    """One report per grouping set, all from one statement."""
    checked = [validate_by(by=by) for by in sets]
    all_dims = _all_dims(checked)
    sql, args = indicators_sql(start=start, end=end, sets=checked, config=config)
    async with conn.transaction(readonly=True):
        await conn.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
        # JIT compilation took ~6% of a 50k-call run (EXPLAIN ANALYZE) and bought nothing back
        await conn.execute("SET LOCAL jit = off")
        records = await conn.fetch(sql, *args)
    total_mask = _grouping_mask(dims=(), all_dims=all_dims)
    # the () set is the total, which SQL returns even when the period is empty
    (total,) = (
        _row_from_record(record=r, dims=(), all_dims=all_dims, config=config)
        for r in records
        if r["grp"] == total_mask
    )
    reports = []
    for dims in checked:
        if not dims:
            rows = [total]  # with no dimensions the one group is the total
        else:
            mask = _grouping_mask(dims=dims, all_dims=all_dims)
            rows = sorted(
                (
                    _row_from_record(record=r, dims=dims, all_dims=all_dims, config=config)
                    for r in records
                    if r["grp"] == mask
                ),
                key=lambda r: group_sort_key(r.key),
            )
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
) -> IndicatorReport:
    """Indicators for calls received in [start, end), grouped by `by`, computed in SQL."""
    (report,) = await _compute_sets(conn=conn, start=start, end=end, sets=[by], config=config)
    return report


async def fetch_timelines(
    *, conn: asyncpg.Connection, start: datetime, end: datetime
) -> list[tuple[CallRow, list[TimelineEvent]]]:
    """Every call received in [start, end) with its events, for the pure reference path."""
    calls = await conn.fetch(
        """SELECT k.id::text AS id, k.received_at, k.acuity, k.transport_class, k.pathway,
                  k.district_id, k.booked_from, k.booked_to,
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
                  e.received_at, e.data->>'station_id' AS station_id
           FROM events e JOIN calls k ON k.id = e.call_id
           WHERE k.received_at >= $1 AND k.received_at < $2
           ORDER BY e.id""",
        start,
        end,
    )
    by_call: dict[str, list[TimelineEvent]] = {}
    for e in events:
        data = {"station_id": e["station_id"]} if e["station_id"] is not None else {}
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
    *, conn: asyncpg.Connection, start: datetime, end: datetime, config: IndicatorConfig
) -> PeriodReport:
    """The four views `report.write_report` draws, computed in one SQL pass (GROUPING SETS)."""
    by_hour, by_station, by_district, by_pathway = await _compute_sets(
        conn=conn,
        start=start,
        end=end,
        sets=[("hour",), ("station",), ("district",), ("pathway",)],
        config=config,
    )
    return PeriodReport(
        by_hour=by_hour, by_station=by_station, by_district=by_district, by_pathway=by_pathway
    )
