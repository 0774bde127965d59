"""A hand-made city for service tests: one urban square district, stations, a fleet."""

from __future__ import annotations

import random
from typing import Any

CENTRE = (118.78, 32.04)
HALF_SIDE_DEG = 0.1  # about 19 km east-west, 22 km north-south


def _square(cx: float, cy: float, h: float) -> dict[str, Any]:
    ring = [[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h],
            [cx - h, cy - h]]
    return {"type": "Polygon", "coordinates": [ring]}


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def city(
    *, n_vehicles: int = 0, kinds: tuple[str, ...] = ("als",), seed: int = 7,
    vehicles: list[tuple[str, str, float, float]] | None = None,
    hospitals: bool = True,
) -> dict[str, Any]:
    """A FeatureCollection; `vehicles` as (id, kind, lon, lat), or `n_vehicles` at random."""
    rng = random.Random(seed)
    cx, cy = CENTRE
    features: list[dict[str, Any]] = [
        {"type": "Feature", "geometry": _square(cx, cy, HALF_SIDE_DEG),
         "properties": {"type": "district", "id": "D1", "name": "Test district",
                        "area_type": "urban", "synthetic": True}},
        {"type": "Feature", "geometry": _point(cx, cy),
         "properties": {"type": "station", "id": "S1", "name": "Test station",
                        "district_id": "D1", "synthetic": True}},
    ]
    fleet = list(vehicles or [])
    for i in range(n_vehicles):
        fleet.append((f"V{i:04d}", kinds[i % len(kinds)],
                      cx + rng.uniform(-0.09, 0.09), cy + rng.uniform(-0.09, 0.09)))
    for vid, kind, lon, lat in fleet:
        features.append({"type": "Feature", "geometry": _point(lon, lat),
                         "properties": {"type": "vehicle", "id": vid, "name": vid, "kind": kind,
                                        "station_id": "S1", "synthetic": True}})
    if hospitals:
        for hid, dlon, caps, level in [
            ("H1", -0.05, ["pci", "thrombolysis", "thrombectomy", "trauma", "maternal"], 1),
            ("H2", 0.05, ["thrombolysis", "paediatric", "neonatal"], None),
        ]:
            features.append({"type": "Feature", "geometry": _point(cx + dlon, cy),
                             "properties": {"type": "hospital", "id": hid, "name": hid,
                                            "district_id": "D1", "capabilities": caps,
                                            "trauma_level": level, "synthetic": True}})
    return {"type": "FeatureCollection", "features": features}
