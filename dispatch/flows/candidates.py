"""Which available vehicles could serve a call, best first, and their ETAs.

Search the live index in widening circles around the call (usually in one round trip),
read the units from PostgreSQL, time them (dispatch.routing: straight line, ETA model or
routed), then apply the dispatch policies (dispatch.geo.policy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from redis.exceptions import RedisError

from dispatch.db import fleet as fleet_db
from dispatch.domain import VehicleKind, VehicleStatus
from dispatch.geo.distance import haversine_m
from dispatch.geo.places import Places
from dispatch.geo.policy import RESERVE_LEVELS, RankingPolicy, keep_reserve, prefer_coverage
from dispatch.geo.ranking import Candidate, Ranked, search_radii_m
from dispatch.geo.uncertainty import UncertainEta, search_start_m, shortlist_size
from dispatch.routing.travel import ranks_by_prefix
from dispatch.runtime import Runtime

log = logging.getLogger(__name__)
# a kind by its stored value, without the enum's call per unit
_KIND = {k.value: k for k in VehicleKind}


def uncertain_eta(
    *, rt: Runtime, call: Mapping[str, Any], places: Places, now: datetime
) -> UncertainEta:
    """The ETA model to anywhere in the call's confidence circle (area type per point)."""
    areas: dict[tuple[float, float], str] = {}
    model = rt.eta.model

    def trip_s(from_lon: float, from_lat: float, to_lon: float, to_lat: float) -> float:
        area = areas.get((to_lon, to_lat))
        if area is None:
            area = areas[(to_lon, to_lat)] = places.area_type_at(to_lon, to_lat)
        return model.eta_s(from_lon=from_lon, from_lat=from_lat, to_lon=to_lon,
                           to_lat=to_lat, area_type=area, at=now)

    def trips(points: Sequence[tuple[float, float]]) -> Callable[[float, float], list[float]]:
        # every unit is timed to every point: the points' areas and the model's factors
        # are looked up once (the same ETAs as trip_s gives)
        area_of = places.area_types_at(points)
        areas.update(zip(points, area_of, strict=True))
        return model.trips_to([(x, y, a) for (x, y), a in zip(points, area_of, strict=True)],
                              at=now).from_point

    return UncertainEta(call["lon"], call["lat"], call["radius_m"] or 0.0, trip_s, trips)


def eta_to(
    *, rt: Runtime, vehicle: Mapping[str, Any], call: Mapping[str, Any], places: Places,
    now: datetime,
) -> tuple[float, float]:
    """The model's ETA (s) and the straight-line distance (m) from a vehicle to a call."""
    if vehicle["lon"] is None or call["lon"] is None:
        return float("inf"), float("inf")
    area = places.area_type_at(call["lon"], call["lat"])
    dist = haversine_m(vehicle["lon"], vehicle["lat"], call["lon"], call["lat"])
    eta = rt.eta.model.eta_s(from_lon=vehicle["lon"], from_lat=vehicle["lat"],
                             to_lon=call["lon"], to_lat=call["lat"], area_type=area, at=now)
    return eta, dist


async def candidates_if_reachable(
    *, rt: Runtime, conn: asyncpg.Connection, call: Mapping[str, Any], now: datetime
) -> list[Ranked]:
    """The candidates, or none while Redis cannot be reached: a call is taken and
    stored queued without it, and the queue sweep assigns it once the index is back."""
    try:
        return await candidates(rt=rt, conn=conn, call=call, now=now)
    except (RedisError, OSError, TimeoutError):
        log.warning("live index unreachable; call %s stays queued for the sweep",
                    call["id"], exc_info=True)
        return []


async def candidates(
    *, rt: Runtime, conn: asyncpg.Connection, call: Mapping[str, Any], now: datetime
) -> list[Ranked]:
    """The best few available vehicles for a located call, by ETA, policies applied."""
    if call["lon"] is None:
        return []
    settings = rt.settings.dispatch
    places = await rt.places.get()
    kinds = [VehicleKind(k) for k in call["required_kinds"]]
    lon, lat = call["lon"], call["lat"]
    # The caller may be anywhere in the confidence circle: search beyond it, compare
    # more units the wider it is, and rank by the expected ETA over it.
    start = search_start_m(call["radius_m"], base_m=settings.search_start_m)
    wanted = shortlist_size(call["radius_m"], base=settings.search_candidates,
                            base_search_m=settings.search_start_m)
    radii = search_radii_m(start_m=min(start, settings.search_max_m),
                           max_m=settings.search_max_m)
    found = list(dict.fromkeys(n.vehicle_id for n in await rt.index.nearest_widening(
        kinds=kinds, lon=lon, lat=lat, radii=radii, count=wanted)))
    if not found:
        return []
    rows = await fleet_db.get_vehicles(conn=conn, ids=found)
    available = [
        Candidate(
            vehicle_id=r["id"], kind=_KIND.get(r["kind"]) or VehicleKind(r["kind"]),
            lon=r["lon"], lat=r["lat"],
            capabilities=frozenset(r["capabilities"]), position_at=r["position_at"],
            crew_count=r["crew_count"],
        )
        for r in rows
        if r["status"] == VehicleStatus.AVAILABLE.value and r["lon"] is not None
    ]
    policy = settings.ranking_policy
    reserve = call["acuity"] in RESERVE_LEVELS and call["transport_class"] == "emergency"
    # The policies may drop units, and a routed engine re-orders a shortlist: they rank
    # the whole shortlist. Otherwise only the first recommend_top are kept, and ranking
    # just those (the same units, reasons and order) spares the others' reasons.
    whole = reserve or policy is RankingPolicy.COVERAGE or not ranks_by_prefix(rt.travel)
    ranked = await rt.travel.rank(
        candidates=available, where=uncertain_eta(rt=rt, call=call, places=places, now=now),
        kinds=kinds, now=now,
        top=max(settings.recommend_top, wanted) if whole else settings.recommend_top)
    if reserve or policy is RankingPolicy.COVERAGE:
        district_of = {r["id"]: r["station_district_id"] for r in rows}
        by_district = await fleet_db.available_by_district(conn=conn)
        if reserve:
            ranked = keep_reserve(ranked, acuity=call["acuity"], district_of=district_of,
                                  available_by_district=by_district)
        if policy is RankingPolicy.COVERAGE:
            ranked = prefer_coverage(ranked, district_of=district_of,
                                     available_by_district=by_district,
                                     slack_s=settings.coverage_slack_s)
    return ranked[: settings.recommend_top]
