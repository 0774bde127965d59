"""Dispatch policies over a ranked shortlist: pure re-ordering and filtering.

- `keep_reserve`: a level IV emergency never takes the last available emergency vehicle
  of a district while a level I-II call may come there (mission R4: "the most critical
  first"). The call waits instead; the queue serves it when a second vehicle is free.
- `prefer_coverage`: among units within `slack_s` of the fastest, send the one whose home
  district keeps the most available units (a preparedness rule in the spirit of
  Andersson & Värbrand 2007, "Decision support tools for ambulance dispatch and
  relocation": a few seconds for this patient against minutes for the next).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum

from dispatch.geo.ranking import Ranked
from dispatch.geo.reasons import Because

# Acuity levels that must leave the last vehicle of a district alone.
RESERVE_LEVELS: frozenset[int] = frozenset({4})


class RankingPolicy(StrEnum):
    ETA = "eta"  # ETA-ranked nearest (the default)
    STRAIGHT = "straight"  # straight-line nearest, for comparison
    COVERAGE = "coverage"  # ETA-ranked, then coverage-aware within a slack


def keep_reserve(
    ranked: Sequence[Ranked],
    *,
    acuity: int,
    district_of: Mapping[str, str | None],
    available_by_district: Mapping[str, int],
    reserve_levels: frozenset[int] = RESERVE_LEVELS,
) -> list[Ranked]:
    """Drop units that are their district's last available one, for reserve-bound levels."""
    if acuity not in reserve_levels:
        return list(ranked)
    kept = []
    for r in ranked:
        district = district_of.get(r.vehicle_id)
        if district is not None and available_by_district.get(district, 0) <= 1:
            continue
        kept.append(r)
    return kept


def prefer_coverage(
    ranked: Sequence[Ranked],
    *,
    district_of: Mapping[str, str | None],
    available_by_district: Mapping[str, int],
    slack_s: float,
) -> list[Ranked]:
    """Re-order units within `slack_s` of the fastest by what their district keeps."""
    if not ranked:
        return []
    best = min(r.eta_s for r in ranked)

    def left_behind(r: Ranked) -> int:
        district = district_of.get(r.vehicle_id)
        return available_by_district.get(district, 0) - 1 if district else 0

    near = [r for r in ranked if r.eta_s <= best + slack_s]
    far = [r for r in ranked if r.eta_s > best + slack_s]
    order = sorted(near, key=lambda r: (-left_behind(r), r.eta_s, r.vehicle_id))
    moved = [
        replace(r, reasons=(*r.reasons, Because("coverage", left=left_behind(r),
                                                 slack_s=slack_s)))
        if i == 0 and r is not near[0] else r
        for i, r in enumerate(order)
    ]
    return moved + far
