"""Ask the routing service about a ranking's shortlist and re-order it (dispatch.geo.routed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import httpx

from dispatch.domain import VehicleKind
from dispatch.geo.osrm import DEFAULT_TIMEOUT_S, OsrmError
from dispatch.geo.ranking import (
    DEFAULT_KIND_MARGIN_S,
    DEFAULT_MAX_POSITION_AGE_S,
    DEFAULT_STALE_PENALTY_S,
    Candidate,
    Ranked,
)
from dispatch.geo.routed import DEFAULT_SHORTLIST, model_stands, reorder_by_routes, shortlist_of
from dispatch.routing.osrm import table_durations

log = logging.getLogger(__name__)


async def rerank_by_routes(
    *,
    ranked: Sequence[Ranked],
    candidates: Sequence[Candidate],
    lon: float,
    lat: float,
    kinds: Sequence[VehicleKind],
    now: datetime,
    client: httpx.AsyncClient,
    base_url: str,
    shortlist: int = DEFAULT_SHORTLIST,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_position_age_s: float = DEFAULT_MAX_POSITION_AGE_S,
    min_crew: int = 2,
    stale_penalty_s: float = DEFAULT_STALE_PENALTY_S,
    kind_margin_s: float = DEFAULT_KIND_MARGIN_S,
    uncertainty_s: Mapping[str, float] | None = None,
) -> list[Ranked]:
    """`ranked` with its first `shortlist` entries re-ordered by routed ETA (model on failure)."""
    short = shortlist_of(ranked=ranked, candidates=candidates, shortlist=shortlist)
    if not short.head:
        return []
    try:
        matrix = await table_durations(
            client=client, base_url=base_url, sources=[(c.lon, c.lat) for c in short.candidates],
            destinations=[(lon, lat)], timeout_s=timeout_s)
    except OsrmError as exc:
        log.warning("routing unavailable, model ETAs stand: %s", exc.message)
        return model_stands(short, failure=exc.message)
    return reorder_by_routes(
        short, routed_s=[row[0] for row in matrix], lon=lon, lat=lat, kinds=kinds, now=now,
        max_position_age_s=max_position_age_s, min_crew=min_crew,
        stale_penalty_s=stale_penalty_s, kind_margin_s=kind_margin_s,
        uncertainty_s=uncertainty_s)
