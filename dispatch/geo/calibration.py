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
model without talking to each other. Reading the trips and swapping the model in force is
dispatch.flows.eta_calibration; this module only turns rows into trips and shows a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatch.geo.distance import haversine_m
from dispatch.geo.eta import AREA_TYPES, EtaModel, Trip


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
