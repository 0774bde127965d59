"""ETA calibration's I/O: read completed trips from the timeline, fit, swap the model in force.

What a trip is, and how the fit works, is dispatch.geo.calibration and
`EtaModel.calibrated`. Every instance fits from the same PostgreSQL rows, so instances
converge on the same model without talking to each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from dispatch.errors import DispatchError, GeoError
from dispatch.geo.calibration import Calibration, trips_from_rows
from dispatch.geo.eta import EtaModel, Trip
from dispatch.runtime import Runtime

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


async def calibrate(
    *, rt: Runtime, now: datetime, lookback_days: int, min_samples: int
) -> Calibration:
    """Fit the model in force's priors to the trips of the last `lookback_days`."""
    since = now - timedelta(days=lookback_days)
    base = rt.eta.model
    async with rt.pool.acquire() as conn:
        trips = await completed_trips(conn=conn, since=since, model=base)
    fitted = base.calibrated(trips, min_samples=min_samples)
    return Calibration(model=fitted, trips=len(trips), since=since, min_samples=min_samples)


async def recalibrate_every(
    *,
    rt: Runtime,
    interval_s: float,
    lookback_days: int,
    min_samples: int,
    clock: Callable[[], datetime],
) -> None:
    """Refit now and then every `interval_s`, swapping `rt.eta`; runs until cancelled."""
    while True:
        try:
            fit = await calibrate(rt=rt, now=clock(), lookback_days=lookback_days,
                                  min_samples=min_samples)
            rt.eta.replace(fit.model)
            log.info("ETA model recalibrated from %d trips: %d fitted cell(s)",
                     fit.trips, len(fit.model.scales))
        except (asyncpg.PostgresError, OSError, TimeoutError, DispatchError):
            # PostgreSQL hiccup or bad data: keep the current model, try at the next tick
            log.exception("ETA recalibration failed; keeping the current model")
        await asyncio.sleep(interval_s)
