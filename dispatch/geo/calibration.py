"""ETA calibration from the service's own completed trips (issue 4 item 4).

A trip is read from the timeline: the `dispatched` event (which records where the vehicle
was when it was ordered, `from_lon`/`from_lat`), the crew's first `departed` after it and
the first `on_scene` after that. Travel time is departed -> on scene, because the model
predicts travel only (turnout, dispatched -> departed, is the 3-minute departure indicator
and is measured separately; see dispatch.geo.eta). Distance is the straight line from the
vehicle to the call's fused location; the area type is that of the call's district (outside
every district counts as rural, as in `Places.area_type_at`); the hour is the local hour at
dispatch.

The fitting itself is `EtaModel.calibrated` (median of observed/prior per area and hour
band). Every instance fits from the same PostgreSQL rows, so instances converge on the same
model without talking to each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from dispatch.errors import DispatchError, GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import AREA_TYPES, EtaModel, Trip

log = logging.getLogger(__name__)

# The most recent trips read per fit: a year of a busy centre is ~500k runs; the median per
# cell is stable long before that, and the query stays well under the command timeout.
MAX_TRIPS = 100_000

# One row per (call, vehicle): the latest dispatch that was followed by a departure and an
# arrival. LATERAL subqueries use events_call (call_id, occurred_at).
_TRIPS_SQL = """
SELECT dispatched_at, from_lon, from_lat, to_lon, to_lat, area_type, departed_at, on_scene_at
  FROM (
    SELECT DISTINCT ON (d.call_id, d.vehicle_id)
           d.occurred_at AS dispatched_at,
           (d.data->>'from_lon')::float8 AS from_lon,
           (d.data->>'from_lat')::float8 AS from_lat,
           c.lon AS to_lon, c.lat AS to_lat,
           COALESCE(dist.area_type, 'rural') AS area_type,
           dep.at AS departed_at, arr.at AS on_scene_at
      FROM events d
      JOIN calls c ON c.id = d.call_id
      LEFT JOIN districts dist ON dist.id = c.district_id
      CROSS JOIN LATERAL (
          SELECT min(e.occurred_at) AS at FROM events e
           WHERE e.call_id = d.call_id AND e.vehicle_id = d.vehicle_id
             AND e.kind = 'departed' AND e.occurred_at >= d.occurred_at) dep
      CROSS JOIN LATERAL (
          SELECT min(e.occurred_at) AS at FROM events e
           WHERE e.call_id = d.call_id AND e.vehicle_id = d.vehicle_id
             AND e.kind = 'on_scene' AND e.occurred_at >= dep.at) arr
     WHERE d.kind = 'dispatched' AND d.occurred_at >= $1
       AND d.data ? 'from_lon' AND d.data->>'from_lon' IS NOT NULL
       AND c.lon IS NOT NULL AND dep.at IS NOT NULL AND arr.at IS NOT NULL
     ORDER BY d.call_id, d.vehicle_id, d.occurred_at DESC
  ) trips
 ORDER BY dispatched_at DESC
 LIMIT $2
"""


async def completed_trips(
    *, conn: asyncpg.Connection, since: datetime, model: EtaModel, limit: int = MAX_TRIPS
) -> list[Trip]:
    """Trips dispatched since `since`, newest first, as calibration input."""
    if since.tzinfo is None:
        raise GeoError("since must carry a timezone", field="since")
    rows = await conn.fetch(_TRIPS_SQL, since, limit)
    return trips_from_rows(rows, model=model)


def trips_from_rows(rows: Sequence[Any], *, model: EtaModel) -> list[Trip]:
    """Turn timeline rows into Trips (distance, departed -> on scene, area, local hour)."""
    trips = []
    for r in rows:
        area = r["area_type"] if r["area_type"] in AREA_TYPES else "rural"
        trips.append(Trip(
            distance_m=haversine_m(r["from_lon"], r["from_lat"], r["to_lon"], r["to_lat"]),
            duration_s=(r["on_scene_at"] - r["departed_at"]).total_seconds(),
            area_type=area,
            hour=model.local_hour(r["dispatched_at"]),
        ))
    return trips


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted model and what it was fitted from."""

    model: EtaModel
    trips: int
    since: datetime
    min_samples: int

    def to_dict(self) -> dict[str, Any]:
        """The fit as the admin endpoint reports it."""
        return {"trips": self.trips, "since": self.since, "min_samples": self.min_samples,
                **model_view(self.model)}


async def calibrate(
    *, pool: asyncpg.Pool, base: EtaModel, now: datetime, lookback_days: int, min_samples: int
) -> Calibration:
    """Fit `base`'s priors to the trips of the last `lookback_days`."""
    since = now - timedelta(days=lookback_days)
    async with pool.acquire() as conn:
        trips = await completed_trips(conn=conn, since=since, model=base)
    fitted = base.calibrated(trips, min_samples=min_samples)
    return Calibration(model=fitted, trips=len(trips), since=since, min_samples=min_samples)


def model_view(model: EtaModel) -> dict[str, Any]:
    """The model's priors and fitted scales, JSON-ready."""
    return {
        "local_tz": str(model.local_tz),
        "profiles": {
            area: {"circuity": model.profile(area).circuity,
                   "speed_kmh_by_hour": list(model.profile(area).speed_kmh_by_hour)}
            for area in AREA_TYPES
        },
        "scales": [
            {"area_type": s.area_type, "band": s.band, "scale": s.scale, "samples": s.samples}
            for s in model.scales
        ],
    }


class HasEtaModel(Protocol):
    """What the recalibration loop updates: the orchestrator."""

    pool: asyncpg.Pool
    eta_model: EtaModel


async def recalibrate_every(
    *,
    target: HasEtaModel,
    interval_s: float,
    lookback_days: int,
    min_samples: int,
    clock: Callable[[], datetime],
) -> None:
    """Refit now and then every `interval_s`, swapping `target.eta_model`; runs until cancelled."""
    while True:
        try:
            fit = await calibrate(pool=target.pool, base=target.eta_model, now=clock(),
                                  lookback_days=lookback_days, min_samples=min_samples)
            target.eta_model = fit.model  # frozen value: swapping the reference is atomic
            log.info("ETA model recalibrated from %d trips: %d fitted cell(s)",
                     fit.trips, len(fit.model.scales))
        except (asyncpg.PostgresError, OSError, TimeoutError, DispatchError):
            # PostgreSQL hiccup or bad data: keep the current model, try at the next tick
            log.exception("ETA recalibration failed; keeping the current model")
        await asyncio.sleep(interval_s)
