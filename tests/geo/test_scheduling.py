"""Non-emergency booking plans: windows, conflicts with booked trips, and a brute-force check."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import orjson
import pytest

from dispatch.errors import GeoError
from dispatch.geo.reasons import localised
from dispatch.geo.scheduling import (
    BookedTrip,
    Booking,
    NetVehicle,
    Plan,
    booked_later,
    plan_booking,
)

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def _travel(a: float, b: float, c: float, d: float) -> float:
    """A Manhattan grid where one unit of lon or lat takes 1000 s: easy to reason about."""
    return (abs(a - c) + abs(b - d)) * 1000.0


def _min(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def _booking(start: float = 0, end: float = 30, at: tuple[float, float] = (0.0, 0.0),
             dest: tuple[float, float] = (0.6, 0.0)) -> Booking:
    # ride: 0.6 units = 600 s = 10 min
    return Booking("b1", at[0], at[1], dest[0], dest[1], _min(start), _min(end))


def _trip(cid: str, start: float, end: float, end_at: tuple[float, float] = (0.0, 0.0),
          start_at: tuple[float, float] | None = None) -> BookedTrip:
    return BookedTrip(cid, _min(start), _min(end), end_at[0], end_at[1],
                      None if start_at is None else start_at[0],
                      None if start_at is None else start_at[1])


def _plan(booking: Booking, fleet: list[NetVehicle], now: datetime | None = None,
          service_s: float = 300.0) -> Plan | None:
    return plan_booking(booking=booking, fleet=fleet, travel_s=_travel, service_s=service_s,
                        now=now)


def test_idle_fleet_least_deadheading_wins() -> None:
    fleet = [NetVehicle("far", 0.9, 0.0, ()), NetVehicle("near", 0.3, 0.0, ())]
    plan = _plan(_booking(), fleet)
    assert plan is not None and plan.vehicle_id == "near"
    assert plan.pickup_at == _min(0) and plan.deadhead_s == 300.0
    assert plan.depart_at == _min(-5)
    assert plan.ride_s == 600.0 and plan.dropoff_at == _min(15)  # 5 min service + 10 min ride
    assert plan.rejected == (("far", "feasible, but a later pickup or more dead-heading"),)
    assert "free before any booked trip, nothing booked after" in plan.reasons
    assert orjson.loads(orjson.dumps(plan.to_dict()))["vehicle_id"] == "near"


def test_with_now_the_earliest_pickup_beats_less_deadheading() -> None:
    # at 09:00 'near' is still busy until 09:20; 'far' can be there at 09:15
    fleet = [NetVehicle("near", 0.0, 0.0, (_trip("x", -30, 20, end_at=(0.1, 0.0)),)),
             NetVehicle("far", 0.9, 0.0, ())]
    plan = _plan(_booking(), fleet, now=T0)
    assert plan is not None and plan.vehicle_id == "far" and plan.pickup_at == _min(15)
    # without 'far', 'near' picks up after its trip: 09:20 + 100 s
    plan = _plan(_booking(), fleet[:1], now=T0)
    assert plan is not None and plan.pickup_at == _min(20) + timedelta(seconds=100)
    assert plan.reasons[2] == "after trip x, nothing booked after"


@pytest.mark.parametrize(
    ("trips", "window", "pickup_min", "why"),
    [
        # trip 10-40 in the middle of a 0-30 window: before it there is only 10 min, the ride
        # needs 15; after it is too late
        ([(10, 40)], (0, 30), None, "would overlap booked trip(s) t0"),
        # same trip, window to 60: pick up when it ends at 40
        ([(10, 40)], (0, 60), 40, ""),
        # a 20-minute gap between two trips fits the 15-minute job
        ([(-20, 0), (20, 50)], (0, 30), 0, ""),
        # a 14-minute gap does not
        ([(-20, 0), (14, 50)], (0, 30), None, "would overlap booked trip(s) t0, t1"),
        # window already over for a vehicle that only frees up later
        ([(-10, 45)], (0, 30), None, "would overlap booked trip(s) t0"),
    ],
)
def test_conflicts_with_booked_trips(
    trips: list[tuple[float, float]], window: tuple[float, float], pickup_min: float | None,
    why: str,
) -> None:
    v = NetVehicle("v", 0.0, 0.0, tuple(_trip(f"t{i}", s, e) for i, (s, e) in enumerate(trips)))
    plan = _plan(_booking(*window), [v])
    if pickup_min is None:
        assert plan is None
        assert _reason(v, _booking(*window)) == why
    else:
        assert plan is not None and plan.pickup_at == _min(pickup_min)


def _reason(v: NetVehicle, booking: Booking, now: datetime | None = None) -> str:
    decoy = NetVehicle("zz-decoy", 0.0, 0.0, ())
    plan = _plan(booking, [v, decoy], now=now)
    assert plan is not None and plan.vehicle_id == "zz-decoy"
    return dict(plan.rejected)[v.vehicle_id]


def test_known_next_pickup_needs_time_to_get_there() -> None:
    # gap 0-20 min; job ends at 15 at (0.6, 0); the next pickup at (0.6, 0.4) is 400 s away
    near_next = NetVehicle("v", 0.0, 0.0, (_trip("n", 20, 50, start_at=(0.6, 0.2)),))
    far_next = NetVehicle("v", 0.0, 0.0, (_trip("n", 20, 50, start_at=(0.6, 0.4)),))
    assert _plan(_booking(0, 5), [near_next]) is not None  # 15 min + 200 s < 20 min
    assert _plan(_booking(0, 5), [far_next]) is None  # 15 min + 400 s > 20 min
    assert _reason(far_next, _booking(0, 5)) == "would overlap booked trip(s) n"


def test_unreachable_window() -> None:
    v = NetVehicle("v", 3.0, 0.0, ())  # 3000 s = 50 min away
    assert _plan(_booking(0, 30), [v], now=T0) is None
    assert _reason(v, _booking(0, 30), now=T0).startswith("cannot reach the pickup by")
    assert _plan(_booking(0, 60), [v], now=T0) is not None
    # planned ahead (no `now`) the same vehicle simply leaves early
    plan = _plan(_booking(0, 30), [v])
    assert plan is not None and plan.depart_at == _min(-50)
    assert _plan(_booking(), []) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"booking": Booking("b", 0, 0, 1, 1, _min(10), _min(0))},
        {"booking": Booking("b", 0, 0, 1, 1, datetime(2025, 1, 1), _min(0))},  # noqa: DTZ001
        {"now": datetime(2025, 1, 1)},  # noqa: DTZ001
        {"service_s": -1.0},
    ],
)
def test_bad_input(bad: dict[str, object]) -> None:
    args: dict[str, object] = {"booking": _booking(), "fleet": [], "travel_s": _travel,
                               "service_s": 0.0}
    args.update(bad)
    with pytest.raises(GeoError):
        plan_booking(**args)  # type: ignore[arg-type]


def _feasible(v: NetVehicle, b: Booking, pickup: datetime, now: datetime | None,
              service_s: float) -> bool:
    """Direct check of one pickup time on one vehicle, trip by trip."""
    if not b.window_start <= pickup <= b.window_end:
        return False
    trips = sorted(v.trips, key=lambda t: t.start)
    before = [t for t in trips if t.end <= pickup]
    where = (before[-1].end_lon, before[-1].end_lat) if before else (v.lon, v.lat)
    depart = pickup - timedelta(seconds=_travel(*where, b.lon, b.lat))
    free = max([t.end for t in before] + ([now] if now else []), default=None)
    if free is not None and depart < free:
        return False
    dropoff = pickup + timedelta(seconds=service_s + _travel(b.lon, b.lat, b.dest_lon, b.dest_lat))
    return all(t.end <= depart or t.start >= dropoff for t in trips if t not in before)


@pytest.mark.parametrize("seed", range(25))
def test_plan_is_feasible_and_no_grid_pickup_beats_it(seed: int) -> None:
    rng = random.Random(seed)
    fleet = []
    for i in range(4):
        t, trips = rng.uniform(-60, 0), []
        for k in range(rng.randint(0, 4)):
            start = t + rng.uniform(0, 40)
            end = start + rng.uniform(10, 40)
            trips.append(_trip(f"v{i}t{k}", start, end,
                               end_at=(rng.uniform(0, 1), rng.uniform(0, 1))))
            t = end
        fleet.append(NetVehicle(f"v{i}", rng.uniform(0, 1), rng.uniform(0, 1), tuple(trips)))
    b = _booking(rng.uniform(0, 60), rng.uniform(60, 150), at=(rng.uniform(0, 1), 0.5),
                 dest=(rng.uniform(0, 1), 0.2))
    now = rng.choice([None, T0])
    plan = _plan(b, fleet, now=now)
    grid = [b.window_start + timedelta(seconds=s)
            for s in range(0, int((b.window_end - b.window_start).total_seconds()) + 1, 15)]
    grid_best = min((p for v in fleet for p in grid if _feasible(v, b, p, now, 300.0)),
                    default=None)
    if plan is None:
        assert grid_best is None
        return
    chosen = next(v for v in fleet if v.vehicle_id == plan.vehicle_id)
    assert _feasible(chosen, b, plan.pickup_at, now, 300.0)
    assert grid_best is None or plan.pickup_at <= grid_best


@pytest.mark.parametrize(("booked_from", "transport_class", "later"), [
    (None, "non_emergency", False),  # not a booking
    (_min(31), "non_emergency", True),  # opens beyond the 30-minute lead: planned
    (_min(30), "non_emergency", False),  # opens within the lead: dispatched now
    (_min(-5), "non_emergency", False),  # window already open
    (_min(120), "emergency", False),  # upgraded by triage: goes now, whatever the window
])
def test_booked_later(booked_from: datetime | None, transport_class: str, later: bool) -> None:
    assert booked_later(booked_from=booked_from, transport_class=transport_class, now=T0,
                        lead_s=1800) is later


def test_plan_to_dict_exactly() -> None:
    fleet = [NetVehicle("far", 0.9, 0.0, ()), NetVehicle("near", 0.3, 0.0, ())]
    plan = _plan(_booking(), fleet)
    assert plan is not None
    assert plan.to_dict() == {
        "call_id": "b1",
        "vehicle_id": "near",
        "depart_at": _min(-5).isoformat(),
        "pickup_at": _min(0).isoformat(),
        "dropoff_at": _min(15).isoformat(),
        "deadhead_s": 300.0,
        "ride_s": 600.0,
        "reasons": list(plan.reasons),
        "why": [localised(r) for r in plan.reasons],
        "rejected": [{"vehicle_id": "far",
                      "reason": "feasible, but a later pickup or more dead-heading",
                      "why": {"code": "booking_later", "params": {},
                              "text": {"zh-CN": "可行，但接人更晚或空驶更远",
                                       "en": "feasible, but a later pickup or more "
                                             "dead-heading"}}}],
    }


def test_plan_reasons_read_in_both_languages_in_the_centres_zone() -> None:
    v = NetVehicle("v", 0.0, 0.0, (_trip("t0", -20, 0), _trip("t1", 15, 50)))
    plan = _plan(_booking(0, 30), [v])
    assert plan is not None
    why = plan.to_dict(zone="Asia/Shanghai")["why"]
    local = f"{_min(0).astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M}"
    assert [w["code"] for w in why] == ["booking_earliest", "booking_deadhead",
                                        "booking_between"]
    assert why[0]["text"] == {"zh-CN": f"1 辆可行车辆中接人最早：{local}",
                              "en": f"earliest feasible pickup {local} of 1 feasible vehicle(s)"}
    assert why[0]["params"] == {"pickup": _min(0).isoformat(), "feasible": 1}
    assert why[1]["text"]["zh-CN"] == "空驶 0 分钟到接人地点"
    assert why[2]["text"]["zh-CN"] == "排在行程 t0 之后、行程 t1 之前"
    # the stored English sentence keeps its ISO time
    assert plan.reasons[0] == f"earliest feasible pickup {_min(0).isoformat()} of 1 " \
        "feasible vehicle(s)"


@pytest.mark.parametrize(("trips", "code", "zh"), [
    ((), "booking_free", "前后均无预约行程"),
    ((("t0", -20, 0),), "booking_after", "排在行程 t0 之后，其后无预约"),
    ((("t1", 40, 60),), "booking_before", "此前无预约行程，排在行程 t1 之前"),
])
def test_where_the_job_sits_among_booked_trips(
        trips: tuple[tuple[str, int, int], ...], code: str, zh: str) -> None:
    v = NetVehicle("v", 0.0, 0.0, tuple(_trip(*t) for t in trips))
    plan = _plan(_booking(0, 30), [v])
    assert plan is not None
    (where,) = [w for w in plan.to_dict()["why"] if w["code"].startswith("booking_")
                and w["code"] not in ("booking_earliest", "booking_deadhead")]
    assert (where["code"], where["text"]["zh-CN"]) == (code, zh)


def test_refusals_read_in_both_languages() -> None:
    far_next = NetVehicle("v", 0.0, 0.0, (_trip("n", 5, 50),))
    overlap = localised(_reason(far_next, _booking(0, 5)))
    assert overlap["code"] == "booking_overlap"
    assert overlap["text"]["zh-CN"] == "会与已预约行程冲突：n"
    v = NetVehicle("v", 9.0, 0.0, ())
    late = localised(_reason(v, _booking(0, 30), now=T0), "Asia/Shanghai")
    local = f"{_min(30).astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M}"
    assert late["text"] == {"zh-CN": f"{local} 前无法到达接人地点",
                            "en": f"cannot reach the pickup by {local}"}


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


NAIVE = datetime(2025, 6, 2, 9, 0)  # noqa: DTZ001 - the naive case under test


@pytest.mark.parametrize(("bad", "field", "message"), [
    ({"booking": Booking("b", 0, 0, 1, 1, NAIVE, _min(0))}, "window_start",
     "window_start must carry a timezone"),
    ({"booking": Booking("b", 0, 0, 1, 1, _min(0), NAIVE.replace(tzinfo=_NoOffset()))},
     "window_end", "window_end must carry a timezone"),
    ({"now": NAIVE}, "now", "now must carry a timezone"),
    ({"booking": Booking("b", 0, 0, 1, 1, _min(10), _min(9))}, "window_end",
     "window_end is before window_start"),
    ({"service_s": -0.5}, "service_s", "service_s must be >= 0"),
])
def test_bad_input_names_the_field(bad: dict[str, object], field: str, message: str) -> None:
    args: dict[str, object] = {"booking": _booking(), "fleet": [], "travel_s": _travel,
                               "service_s": 0.0}
    args.update(bad)
    with pytest.raises(GeoError) as info:
        plan_booking(**args)  # type: ignore[arg-type]
    assert (info.value.field, info.value.message) == (field, message)


def test_a_zero_length_window_and_no_service_time_are_plannable() -> None:
    plan = _plan(_booking(10, 10), [NetVehicle("v", 0.0, 0.0, ())], service_s=0.0)
    assert plan is not None and plan.pickup_at == _min(10) and plan.dropoff_at == _min(20)


def test_a_pickup_exactly_at_the_window_end_is_feasible() -> None:
    v = NetVehicle("v", 1.8, 0.0, ())  # 1800 s = 30 min away
    plan = _plan(_booking(0, 30), [v], now=T0)
    assert plan is not None and plan.pickup_at == _min(30)
    assert plan.reasons == (
        f"earliest feasible pickup {_min(30).isoformat()} of 1 feasible vehicle(s)",
        "dead-heading 30 min to the pickup",
        "free before any booked trip, nothing booked after",
    )


def test_a_job_that_ends_exactly_when_the_next_trip_starts_fits() -> None:
    # gap 0-15 min, the job takes 15 (5 service + 10 ride)
    v = NetVehicle("v", 0.0, 0.0, (_trip("t0", -20, 0), _trip("t1", 15, 50)))
    plan = _plan(_booking(0, 30), [v])
    assert plan is not None and plan.pickup_at == _min(0) and plan.dropoff_at == _min(15)
    assert plan.reasons[2] == "after trip t0, before trip t1"


def test_a_trip_ending_exactly_now_is_over() -> None:
    # the trip ends at now, 50 min from the pickup: the vehicle cannot reach it, and the
    # reason is the distance, not an overlap with a finished trip
    v = NetVehicle("v", 0.0, 0.0, (_trip("done", -30, 0, end_at=(3.0, 0.0)),))
    assert _reason(v, _booking(0, 30), now=T0) == (
        f"cannot reach the pickup by {_min(30).isoformat()}")


def test_a_half_known_next_pickup_point_is_not_used() -> None:
    trip = BookedTrip("n", _min(15), _min(50), 0.0, 0.0, start_lon=5.0, start_lat=None)
    plan = _plan(_booking(0, 5), [NetVehicle("v", 0.0, 0.0, (trip,))])
    assert plan is not None and plan.dropoff_at == _min(15)


def test_dead_heading_minutes_in_the_reasons() -> None:
    plan = _plan(_booking(0, 30), [NetVehicle("v", 3.0, 0.0, ())])
    assert plan is not None and plan.reasons[1] == "dead-heading 50 min to the pickup"


def test_a_refusal_reads_its_time_in_the_centres_zone_too() -> None:
    near, far = NetVehicle("near", 0.3, 0.0, ()), NetVehicle("far", 9.0, 0.0, ())
    plan = _plan(_booking(0, 30), [near, far], now=T0)
    assert plan is not None
    (refused,) = plan.to_dict(zone="Asia/Shanghai")["rejected"]
    local = f"{_min(30).astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M}"
    assert refused["vehicle_id"] == "far"
    assert refused["why"]["text"]["en"] == f"cannot reach the pickup by {local}"
    assert refused["reason"] == f"cannot reach the pickup by {_min(30).isoformat()}"
