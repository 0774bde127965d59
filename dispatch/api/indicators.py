"""`GET /v1/indicators` (JSON or CSV) and `/metrics` (Prometheus)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from dispatch.api.deps import Now, PrincipalDep, RuntimeDep
from dispatch.api.json import JSON
from dispatch.domain import Role
from dispatch.errors import InvalidInput
from dispatch.fields import Instant
from dispatch.lang import parse_lang
from dispatch.metrics.indicators import row_to_dict
from dispatch.metrics.intervals import IndicatorConfig
from dispatch.metrics.labels import PlaceNames
from dispatch.metrics.names import fetch_place_names
from dispatch.metrics.queries import compute_indicators
from dispatch.metrics.table import director_csv

router = APIRouter(tags=["indicators"])


@router.get("/v1/indicators", summary="Response times and the 3-minute departure rate")
async def indicators(
    rt: RuntimeDep, principal: PrincipalDep, now: Now,
    start: Annotated[Instant, Query(alias="from")],
    end: Annotated[Instant, Query(alias="to")],
    by: Annotated[list[str] | None, Query(description="hour, day, month, district, station, "
                                          "vehicle, acuity, transport_class, pathway")] = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002
    departure_from: Literal["dispatched", "answered"] = "dispatched",
    departure_limit_s: Annotated[float, Query(gt=0, le=3600)] = 180.0,
    answer_limit_s: Annotated[float, Query(gt=0, le=600)] = 10.0,
    # the bounds on each item: on the list itself FastAPI compared the list (a 500)
    response_target_s: Annotated[list[Annotated[float, Field(gt=0, le=7200)]] | None,
                                 Query()] = None,
    tz: Annotated[str | None, Query(max_length=64,
                                    description="default: the centre's (DISPATCH_DISPLAY_TIMEZONE)")
                  ] = None,
    lang: Annotated[str | None, Query(max_length=16, description="CSV: zh-CN (default) | en")
                    ] = None,
) -> Response:
    principal.require(Role.DISPATCHER)
    tz = tz or rt.settings.display.display_timezone
    language = parse_lang(lang)
    if end <= start:
        raise InvalidInput("'to' must be after 'from'", field="to")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {tz!r}", field="tz") from exc
    config = IndicatorConfig(
        departure_from=departure_from, departure_limit_s=departure_limit_s,
        answer_limit_s=answer_limit_s,
        response_targets_s=tuple(response_target_s or (480.0, 720.0)), time_zone=tz,
        as_of=now)
    dims = [d.strip() for item in (by or []) for d in item.split(",") if d.strip()]
    async with contextlib.AsyncExitStack() as stack:
        pool = rt.pool
        conn = await stack.enter_async_context(pool.acquire())
        helpers = []
        # helpers only if the pool has them to spare: requests waiting on each other's
        # second connection would stall the pool; with none the one connection does it all
        with contextlib.suppress(TimeoutError):
            for _ in range(rt.settings.database.indicator_connections - 1):
                helpers.append(await stack.enter_async_context(pool.acquire(timeout=0.05)))
        report = await compute_indicators(conn=conn, start=start, end=end, by=dims,
                                          config=config, helpers=helpers)
        names = await fetch_place_names(conn=conn) if format == "csv" else PlaceNames()
    if format == "csv":
        return Response(director_csv(rows=report.rows if dims else [], total=report.total,
                                     by=report.by, config=config, lang=language, names=names),
                        media_type="text/csv; charset=utf-8")
    return JSON({
        "from": report.start, "to": report.end, "by": list(report.by),
        "config": _config_dict(config),
        "total": row_to_dict(row=report.total),
        "rows": [row_to_dict(row=r) for r in report.rows] if dims else [],
    })


def _config_dict(config: IndicatorConfig) -> dict[str, object]:
    return {"departure_from": config.departure_from,
            "departure_limit_s": config.departure_limit_s,
            "answer_limit_s": config.answer_limit_s,
            "response_targets_s": list(config.response_targets_s),
            "time_zone": config.time_zone,
            "as_of": config.as_of}


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    state = request.state
    subscribers = state.hub.subscriber_counts()
    lag = await state.hub.stream_lag_s()
    async with state.pool.acquire() as conn:
        body = await state.metrics.scrape(conn=conn, subscribers=subscribers, stream_lag_s=lag)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

