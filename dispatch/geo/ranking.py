"""Which unit gets there first: filter the candidates, rank them by ETA, and say why.

The service feeds this the vehicles Redis GEOSEARCH returned (see `search_radii_m` for the
expanding radius) and an ETA function (the calibrated `EtaModel`, or OSRM durations for the
top few). Ranking is pure: `now` is passed in.

Ordering rule, in full:
1. Only the requested kinds, with every required capability and at least `min_crew` crew.
2. A stale position (older than `max_position_age_s`, or unknown) adds `stale_penalty_s` to
   the ETA used for ordering; the unit stays on the list, flagged, with the real ETA shown.
3. Kind preference: each step down the preference list costs `kind_margin_s`. So with
   kinds=(ALS, BLS) and a 120 s margin, a BLS unit is proposed before an ALS unit only if it
   arrives more than 120 s sooner. At exactly the margin the preferred kind wins.
4. Ties: preferred kind, then lower ETA, then shorter distance, then vehicle id (stable).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatch.domain import VehicleKind
from dispatch.errors import GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.reasons import Because, localised

# Resgrid-style staleness limit: crews report at 1 Hz, so two minutes of silence means a dead
# tablet, a tunnel or a unit that is not where the map shows it.
DEFAULT_MAX_POSITION_AGE_S = 120.0
# Confirming a stale unit's whereabouts by radio takes the dispatcher about a minute or two;
# the penalty charges that cost so a fresh unit with a similar ETA goes first.
DEFAULT_STALE_PENALTY_S = 120.0
# How much sooner a less-preferred kind must arrive to be proposed first. For the sickest
# (level I) patients early basic care and defibrillation matter most: in OPALS (Stiell et al.
# 2004, NEJM 351:647) adding ALS to a rapid-defibrillation system did not raise cardiac arrest
# survival, so an ALS unit should not be waited for long when a BLS unit is much closer.
# Two minutes is the project's operational default; the medical director can change it.
DEFAULT_KIND_MARGIN_S = 120.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A vehicle the live index returned, with what ranking needs to know about it."""

    vehicle_id: str
    kind: VehicleKind
    lon: float
    lat: float
    capabilities: frozenset[str]
    position_at: datetime | None
    crew_count: int


@dataclass(frozen=True, slots=True)
class Ranked:
    """A proposed unit, its straight-line distance, its ETA and why it was proposed."""

    vehicle_id: str
    kind: VehicleKind
    distance_m: float
    eta_s: float
    reasons: tuple[str, ...]
    stale: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "vehicle_id": self.vehicle_id,
            "kind": self.kind.value,
            "distance_m": round(self.distance_m, 1),
            "eta_s": round(self.eta_s, 1),
            "reasons": list(self.reasons),
            # the same reasons with their codes, in zh-CN and English, for the screens
            "why": [localised(r) for r in self.reasons],
            "stale": self.stale,
        }


def search_radii_m(*, start_m: float, max_m: float) -> list[float]:
    """The expanding GEOSEARCH radius schedule: start, doubling, capped at (and ending on) max."""
    if not (math.isfinite(start_m) and math.isfinite(max_m)) or start_m <= 0:
        raise GeoError("radii must be finite and start_m > 0", field="start_m")
    if max_m < start_m:
        raise GeoError("max_m must be >= start_m", field="max_m")
    radii: list[float] = []
    r = start_m
    while r < max_m:
        radii.append(r)
        r *= 2
    radii.append(max_m)
    return radii


def _age_s(position_at: datetime | None, now: datetime) -> float | None:
    """Seconds since the position was reported; a future stamp (clock skew) counts as fresh."""
    if position_at is None:
        return None
    if position_at.tzinfo is None:
        raise GeoError("position_at must carry a timezone", field="position_at")
    return max(0.0, (now - position_at).total_seconds())


def rank(
    *,
    candidates: Sequence[Candidate],
    lon: float,
    lat: float,
    kinds: Sequence[VehicleKind],
    required_capabilities: frozenset[str],
    eta: Callable[[Candidate], float],
    now: datetime,
    max_position_age_s: float = DEFAULT_MAX_POSITION_AGE_S,
    min_crew: int = 2,
    top: int = 5,
    stale_penalty_s: float = DEFAULT_STALE_PENALTY_S,
    kind_margin_s: float = DEFAULT_KIND_MARGIN_S,
) -> list[Ranked]:
    """The best `top` units for a call at (lon, lat), by the ordering rule in the module doc."""
    if now.tzinfo is None:
        raise GeoError("now must carry a timezone", field="now")
    if not kinds:
        raise GeoError("at least one vehicle kind is needed", field="kinds")
    if top < 1:
        return []
    preference = {k: i for i, k in reversed(list(enumerate(kinds)))}
    scored: list[tuple[float, int, float, float, str, Candidate, float | None, float]] = []
    for c in candidates:
        pref = preference.get(c.kind)
        if pref is None or c.crew_count < min_crew:
            continue
        if not required_capabilities <= c.capabilities:
            continue
        eta_s = eta(c)
        age = _age_s(c.position_at, now)
        stale = _is_stale(age, max_position_age_s)
        effective = eta_s + (stale_penalty_s if stale else 0.0)
        score = effective + pref * kind_margin_s
        dist = haversine_m(c.lon, c.lat, lon, lat)
        scored.append((score, pref, effective, dist, c.vehicle_id, c, age, eta_s))
    best = heapq.nsmallest(top, scored, key=lambda s: s[:5])
    ctx = _RankContext(max_position_age_s, stale_penalty_s, kind_margin_s, min_crew)
    return [
        _ranked(
            cand=s[5],
            pref=s[1],
            distance_m=s[3],
            eta_s=s[7],
            age_s=s[6],
            position=i + 1,
            kinds=kinds,
            ctx=ctx,
            required=required_capabilities,
        )
        for i, s in enumerate(best)
    ]


def _is_stale(age_s: float | None, max_age_s: float) -> bool:
    """A position is stale when unknown or older than the limit."""
    return age_s is None or age_s > max_age_s


@dataclass(frozen=True, slots=True)
class _RankContext:
    max_position_age_s: float
    stale_penalty_s: float
    kind_margin_s: float
    min_crew: int


def _ranked(
    *,
    cand: Candidate,
    pref: int,
    distance_m: float,
    eta_s: float,
    age_s: float | None,
    position: int,
    kinds: Sequence[VehicleKind],
    ctx: _RankContext,
    required: frozenset[str],
) -> Ranked:
    """Build a Ranked with the reasons a dispatcher reads next to the unit."""
    stale = _is_stale(age_s, ctx.max_position_age_s)
    reasons = [
        Because("by_eta", position=position, eta_s=eta_s, km=distance_m / 1000),
        Because("kind_margin" if pref else "kind", kind=cand.kind.value, preference=pref + 1,
                of=len(kinds), later_s=pref * ctx.kind_margin_s),
        Because("crew", crew=cand.crew_count, min_crew=ctx.min_crew),
    ]
    if required:
        reasons.append(Because("has", capabilities=", ".join(sorted(required))))
    if age_s is None:
        reasons.append(Because("position_unknown", penalty_s=ctx.stale_penalty_s))
    elif stale:
        reasons.append(Because("position_stale", age_s=age_s,
                               max_age_s=ctx.max_position_age_s,
                               penalty_s=ctx.stale_penalty_s))
    else:
        reasons.append(Because("position_age", age_s=age_s))
    return Ranked(cand.vehicle_id, cand.kind, distance_m, eta_s, tuple(reasons), stale)
