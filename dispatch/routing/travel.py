"""How a call's candidates are timed and ordered: one protocol, one class per engine.

- `StraightLineTimes`: distance at a notional speed (the `straight` ranking policy, kept
  for comparison: only its order matters).
- `EtaModelTimes`: the ETA model in force (dispatch.geo.eta, recalibrated from the
  centre's own trips), as the expected ETA over the caller's confidence circle.
- `RoutedTimes`: the model's ranking, then its shortlist re-ordered by an OSRM-compatible
  table service (the model's order stands when the service fails).

`travel_times(settings)` picks one. The ETA model itself is not held here: a flow passes
`where` (dispatch.geo.uncertainty.UncertainEta over the model in force for this call).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import httpx

from dispatch.config import Settings
from dispatch.domain import VehicleKind
from dispatch.geo.distance import haversine_m
from dispatch.geo.policy import RankingPolicy
from dispatch.geo.ranking import Candidate, Ranked, rank
from dispatch.geo.uncertainty import UncertainEta
from dispatch.routing.routed import rerank_by_routes

__all__ = [
    "EtaModelTimes", "RoutedTimes", "StraightLineTimes", "TravelTimes", "ranks_by_prefix",
    "travel_times",
]

# The straight-line policy's notional speed (only its order matters: it ranks by distance).
STRAIGHT_LINE_SPEED_MPS = 30 / 3.6


class TravelTimes(Protocol):
    """Ranks available candidates for a call by travel time."""

    async def rank(
        self, *, candidates: Sequence[Candidate], where: UncertainEta,
        kinds: Sequence[VehicleKind], now: datetime, top: int,
    ) -> list[Ranked]:
        """The best `top` candidates for a call at `where`, best first, with reasons."""
        ...

    async def aclose(self) -> None:
        """Release what the engine holds (connections)."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class _PointTimes:
    """Ranks by a travel time per candidate, computed here (no I/O)."""

    max_position_age_s: float

    def eta_s(self, candidate: Candidate, where: UncertainEta) -> float:
        raise NotImplementedError

    def note(self, where: UncertainEta) -> str | None:
        """A reason added to every ranked unit, if any."""
        return None

    async def rank(
        self, *, candidates: Sequence[Candidate], where: UncertainEta,
        kinds: Sequence[VehicleKind], now: datetime, top: int,
    ) -> list[Ranked]:
        ranked = rank(candidates=candidates, lon=where.lon, lat=where.lat, kinds=kinds,
                      required_capabilities=frozenset(),
                      eta=lambda c: self.eta_s(c, where), now=now,
                      max_position_age_s=self.max_position_age_s, top=top)
        if note := self.note(where):
            ranked = [dataclasses.replace(r, reasons=(*r.reasons, note)) for r in ranked]
        return ranked

    async def aclose(self) -> None:
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class StraightLineTimes(_PointTimes):
    """Nearest by great-circle distance from the centre of the caller's circle."""

    def eta_s(self, candidate: Candidate, where: UncertainEta) -> float:
        return (haversine_m(candidate.lon, candidate.lat, where.lon, where.lat)
                / STRAIGHT_LINE_SPEED_MPS)


@dataclasses.dataclass(frozen=True, slots=True)
class EtaModelTimes(_PointTimes):
    """The ETA model's expected time over the caller's confidence circle."""

    def eta_s(self, candidate: Candidate, where: UncertainEta) -> float:
        return where.expected_s(candidate.lon, candidate.lat)

    def note(self, where: UncertainEta) -> str | None:
        return where.reason()


@dataclasses.dataclass(frozen=True, slots=True)
class RoutedTimes:
    """The model's ranking, its first `shortlist` re-ordered by routed durations."""

    model: EtaModelTimes
    client: httpx.AsyncClient
    base_url: str
    shortlist: int
    timeout_s: float

    async def rank(
        self, *, candidates: Sequence[Candidate], where: UncertainEta,
        kinds: Sequence[VehicleKind], now: datetime, top: int,
    ) -> list[Ranked]:
        ranked = await self.model.rank(candidates=candidates, where=where, kinds=kinds,
                                       now=now, top=top)
        # what the doubt about the caller's position adds on top of a route to its centre
        doubt = {c.vehicle_id: where.expected_s(c.lon, c.lat) - where.centre_s(c.lon, c.lat)
                 for c in candidates} if where.sampled else None
        return await rerank_by_routes(
            ranked=ranked, candidates=candidates, lon=where.lon, lat=where.lat, kinds=kinds,
            now=now, client=self.client, base_url=self.base_url, shortlist=self.shortlist,
            timeout_s=self.timeout_s, max_position_age_s=self.model.max_position_age_s,
            uncertainty_s=doubt)

    async def aclose(self) -> None:
        await self.client.aclose()


def ranks_by_prefix(travel: TravelTimes) -> bool:
    """Whether the engine's best `n` are the first `n` of its best `m` (m > n): true of the
    engines that time each unit alone; the routed one re-orders a shortlist of the model's
    ranking, which a shorter ranking would cut."""
    return isinstance(travel, _PointTimes)


def travel_times(settings: Settings) -> TravelTimes:
    """The engine the settings ask for: straight line, or the ETA model, routed when a
    routing service is configured."""
    age = settings.max_position_age_s
    if settings.ranking_policy is RankingPolicy.STRAIGHT:
        return StraightLineTimes(max_position_age_s=age)
    model = EtaModelTimes(max_position_age_s=age)
    if not settings.osrm_url:
        return model
    return RoutedTimes(model=model, client=httpx.AsyncClient(timeout=settings.osrm_timeout_s),
                       base_url=settings.osrm_url, shortlist=settings.osrm_shortlist,
                       timeout_s=settings.osrm_timeout_s)
