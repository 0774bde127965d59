"""The handles one instance of the service works with, built once in the lifespan.

`Runtime` is what every flow (dispatch.flows) takes as `rt`: the PostgreSQL pool, the
Redis bus and the outbox that publishes after commit, the live index, the places cache,
the settings, the ETA model in force and the travel-time engine that ranks a call's
candidates. Nothing else reaches into another object's handles: routers get the
runtime (dispatch.api.deps.RuntimeDep), flows get it as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from dispatch.config import Settings
from dispatch.geo.eta import EtaModel
from dispatch.live_index import LiveIndex
from dispatch.places import PlacesCache
from dispatch.realtime.bus import Bus
from dispatch.realtime.outbox import OutboxPublisher
from dispatch.routing.travel import TravelTimes

__all__ = ["EtaModelRef", "Runtime"]


class EtaModelRef:
    """The ETA model in force. Recalibration (an admin's, or the periodic one) swaps it;
    `EtaModel` is a frozen value, so a reader sees the old model or the new one whole."""

    __slots__ = ("model",)

    def __init__(self, model: EtaModel) -> None:
        self.model = model

    def replace(self, model: EtaModel) -> None:
        """Use `model` from now on (this instance; the others at their next refit)."""
        self.model = model


@dataclass(frozen=True, slots=True)
class Runtime:
    """One instance's connections and shared state; stateless across requests otherwise."""

    pool: asyncpg.Pool
    bus: Bus
    # Publishing what PostgreSQL has committed: OutboxPublisher.publish, never dropped.
    outbox: OutboxPublisher
    index: LiveIndex
    places: PlacesCache
    settings: Settings
    eta: EtaModelRef
    travel: TravelTimes

    async def aclose(self) -> None:
        """Close what the runtime itself opened (the routing client; the lifespan closes
        the pool and Redis)."""
        await self.travel.aclose()
