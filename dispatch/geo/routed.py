"""Re-rank the shortlist by routed travel times from an OSRM-compatible `table` service.

Resgrid practice: rank the whole candidate set by straight line / the ETA model first, then
ask the routing engine only about the top few, one table request of `shortlist` sources to
one destination. The shortlist is re-ordered by the same rule as `dispatch.geo.ranking.rank`
(stale penalty, kind preference margin) with the routed durations as ETAs; the rest of the
list keeps its model order after it. Any OsrmError (down, slow, nonsense) falls back to the
model ranking unchanged, with the reason recorded; a pair OSRM cannot route keeps its model
ETA, flagged.

Pure: dispatch.routing.routed asks the service and calls these with its answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from dispatch.domain import VehicleKind
from dispatch.errors import GeoError
from dispatch.geo.ranking import (
    DEFAULT_KIND_MARGIN_S,
    DEFAULT_MAX_POSITION_AGE_S,
    DEFAULT_STALE_PENALTY_S,
    Candidate,
    Ranked,
    rank,
)
from dispatch.geo.reasons import Because

DEFAULT_SHORTLIST = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Shortlist:
    """The head of a ranking to route, its candidates in order, and the tail left as is."""

    head: list[Ranked]
    candidates: list[Candidate]
    tail: list[Ranked]


def shortlist_of(
    *, ranked: Sequence[Ranked], candidates: Sequence[Candidate], shortlist: int
) -> Shortlist:
    """The first `shortlist` entries of a ranking, with the candidates they came from."""
    if shortlist < 1:
        raise GeoError("shortlist must be >= 1", field="shortlist")
    head, tail = list(ranked[:shortlist]), list(ranked[shortlist:])
    by_id = {c.vehicle_id: c for c in candidates}
    missing = [r.vehicle_id for r in head if r.vehicle_id not in by_id]
    if missing:
        raise GeoError(f"ranked vehicles without a candidate: {missing}", field="candidates")
    return Shortlist(head=head, candidates=[by_id[r.vehicle_id] for r in head], tail=tail)


def model_stands(short: Shortlist, *, failure: str) -> list[Ranked]:
    """The model ranking unchanged, the shortlist told why routing did not count."""
    note = Because("routing_unavailable", error=failure)
    return [dataclasses.replace(r, reasons=(*r.reasons, note)) for r in short.head] + short.tail


def reorder_by_routes(
    short: Shortlist,
    *,
    routed_s: Sequence[float | None],
    lon: float,
    lat: float,
    kinds: Sequence[VehicleKind],
    now: datetime,
    max_position_age_s: float = DEFAULT_MAX_POSITION_AGE_S,
    min_crew: int = 2,
    stale_penalty_s: float = DEFAULT_STALE_PENALTY_S,
    kind_margin_s: float = DEFAULT_KIND_MARGIN_S,
    uncertainty_s: Mapping[str, float] | None = None,
) -> list[Ranked]:
    """The shortlist re-ordered by routed ETA (`routed_s`, one per shortlisted candidate,
    None where unroutable), the tail after it.

    Routes go to the centre of the caller's confidence circle; `uncertainty_s` (vehicle id
    -> expected minus centre model ETA, dispatch.geo.uncertainty) adds what the doubt
    about the caller's position costs on top of the routed time.
    """
    model_eta = {r.vehicle_id: r.eta_s for r in short.head}
    routed = {c.vehicle_id: s for c, s in zip(short.candidates, routed_s, strict=True)}
    extra = uncertainty_s or {}

    def eta(c: Candidate) -> float:
        seconds = routed[c.vehicle_id]
        if seconds is None:
            return model_eta[c.vehicle_id]
        return seconds + extra.get(c.vehicle_id, 0.0)

    reordered = rank(
        candidates=short.candidates, lon=lon, lat=lat, kinds=kinds,
        required_capabilities=frozenset(),  # already filtered by the first ranking
        eta=eta, now=now, max_position_age_s=max_position_age_s, min_crew=min_crew,
        top=len(short.candidates), stale_penalty_s=stale_penalty_s,
        kind_margin_s=kind_margin_s,
    )
    out = []
    for r in reordered:
        seconds = routed[r.vehicle_id]
        note = (Because("no_route", eta_s=r.eta_s) if seconds is None else
                Because("routed", routed_s=seconds, model_s=model_eta[r.vehicle_id]))
        out.append(dataclasses.replace(r, reasons=(*r.reasons, note)))
    return out + short.tail
