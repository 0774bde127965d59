"""Re-rank the shortlist by routed travel times from an OSRM-compatible `table` service.

Resgrid practice: rank the whole candidate set by straight line / the ETA model first, then
ask the routing engine only about the top few, one table request of `shortlist` sources to
one destination. The shortlist is re-ordered by the same rule as `dispatch.geo.ranking.rank`
(stale penalty, kind preference margin) with the routed durations as ETAs; the rest of the
list keeps its model order after it. Any OsrmError (down, slow, nonsense) falls back to the
model ranking unchanged, with the reason recorded; a pair OSRM cannot route keeps its model
ETA, flagged.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import httpx

from dispatch.domain import VehicleKind
from dispatch.errors import GeoError
from dispatch.geo.osrm import DEFAULT_TIMEOUT_S, OsrmError, table_durations
from dispatch.geo.ranking import (
    DEFAULT_KIND_MARGIN_S,
    DEFAULT_MAX_POSITION_AGE_S,
    DEFAULT_STALE_PENALTY_S,
    Candidate,
    Ranked,
    rank,
)
from dispatch.geo.reasons import Because

log = logging.getLogger(__name__)

DEFAULT_SHORTLIST = 3


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
    """`ranked` with its first `shortlist` entries re-ordered by routed ETA (model on failure).

    Routes go to the centre of the caller's confidence circle; `uncertainty_s` (vehicle id
    -> expected minus centre model ETA, dispatch.geo.uncertainty) adds what the doubt
    about the caller's position costs on top of the routed time.
    """
    if shortlist < 1:
        raise GeoError("shortlist must be >= 1", field="shortlist")
    head, tail = list(ranked[:shortlist]), list(ranked[shortlist:])
    if not head:
        return []
    by_id = {c.vehicle_id: c for c in candidates}
    missing = [r.vehicle_id for r in head if r.vehicle_id not in by_id]
    if missing:
        raise GeoError(f"ranked vehicles without a candidate: {missing}", field="candidates")
    shortlisted = [by_id[r.vehicle_id] for r in head]
    try:
        matrix = await table_durations(
            client=client, base_url=base_url, sources=[(c.lon, c.lat) for c in shortlisted],
            destinations=[(lon, lat)], timeout_s=timeout_s)
    except OsrmError as exc:
        log.warning("routing unavailable, model ETAs stand: %s", exc.message)
        note = Because("routing_unavailable", error=exc.message)
        return [dataclasses.replace(r, reasons=(*r.reasons, note)) for r in head] + tail
    model_eta = {r.vehicle_id: r.eta_s for r in head}
    routed = {c.vehicle_id: row[0] for c, row in zip(shortlisted, matrix, strict=True)}

    extra = uncertainty_s or {}

    def eta(c: Candidate) -> float:
        seconds = routed[c.vehicle_id]
        if seconds is None:
            return model_eta[c.vehicle_id]
        return seconds + extra.get(c.vehicle_id, 0.0)

    reordered = rank(
        candidates=shortlisted, lon=lon, lat=lat, kinds=kinds,
        required_capabilities=frozenset(),  # already filtered by the first ranking
        eta=eta, now=now, max_position_age_s=max_position_age_s, min_crew=min_crew,
        top=len(shortlisted), stale_penalty_s=stale_penalty_s, kind_margin_s=kind_margin_s,
    )
    out = []
    for r in reordered:
        seconds = routed[r.vehicle_id]
        note = (Because("no_route", eta_s=r.eta_s) if seconds is None else
                Because("routed", routed_s=seconds, model_s=model_eta[r.vehicle_id]))
        out.append(dataclasses.replace(r, reasons=(*r.reasons, note)))
    return out + tail

