"""Ranking: a brute-force cross-check over whole fleets, and the rule's edge cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from dispatch.domain import VehicleKind
from dispatch.errors import GeoError
from dispatch.geo.distance import haversine_m
from dispatch.geo.ranking import Candidate, rank, search_radii_m
from dispatch.geo.reasons import localised

NOW = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
SCENE = (118.78, 32.04)
CAPS = ("ecg12", "ventilator", "bariatric", "neonatal")


def _fleet(*, n: int, seed: int) -> list[Candidate]:
    rng = random.Random(seed)
    fleet = []
    for i in range(n):
        age = rng.choice([None, 5.0, 60.0, 119.0, 121.0, 600.0, -30.0])
        fleet.append(Candidate(
            vehicle_id=f"v{i:04d}",
            kind=rng.choice(list(VehicleKind)),
            lon=SCENE[0] + rng.uniform(-0.3, 0.3),
            lat=SCENE[1] + rng.uniform(-0.3, 0.3),
            capabilities=frozenset(c for c in CAPS if rng.random() < 0.5),
            position_at=None if age is None else NOW - timedelta(seconds=age),
            crew_count=rng.choice([1, 2, 3]),
        ))
    return fleet


def _eta(c: Candidate) -> float:
    # straight line at 10 m/s, deliberately not the ranking's own distance function order
    return round(haversine_m(c.lon, c.lat, *SCENE) / 10.0)


def _brute_force(
    fleet: list[Candidate], *, kinds: tuple[VehicleKind, ...], caps: frozenset[str],
    min_crew: int, margin: float, penalty: float, max_age: float, top: int,
) -> list[str]:
    keyed = []
    for c in fleet:
        if c.kind not in kinds or c.crew_count < min_crew or not caps <= c.capabilities:
            continue
        age = None if c.position_at is None else (NOW - c.position_at).total_seconds()
        stale = age is None or age > max_age
        eff = _eta(c) + (penalty if stale else 0)
        pref = kinds.index(c.kind)
        d = haversine_m(c.lon, c.lat, *SCENE)
        keyed.append(((eff + pref * margin, pref, eff, d, c.vehicle_id), c.vehicle_id))
    return [vid for _, vid in sorted(keyed)[:top]]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("kinds", "caps", "min_crew", "margin", "penalty"),
    [
        ((VehicleKind.ALS,), frozenset(), 2, 120.0, 120.0),
        ((VehicleKind.ALS, VehicleKind.BLS), frozenset(), 2, 0.0, 0.0),
        ((VehicleKind.ALS, VehicleKind.BLS), frozenset({"ecg12"}), 2, 120.0, 120.0),
        ((VehicleKind.BLS, VehicleKind.ALS), frozenset({"ventilator", "ecg12"}), 3, 300.0, 60.0),
        ((VehicleKind.NET,), frozenset({"bariatric"}), 1, 120.0, 0.0),
    ],
)
def test_rank_equals_brute_force_sort_of_filtered_fleet(
    seed: int, kinds: tuple[VehicleKind, ...], caps: frozenset[str], min_crew: int,
    margin: float, penalty: float,
) -> None:
    fleet = _fleet(n=400, seed=seed)
    for top in (1, 5, 1000):
        got = rank(candidates=fleet, lon=SCENE[0], lat=SCENE[1], kinds=kinds,
                   required_capabilities=caps, eta=_eta, now=NOW, min_crew=min_crew, top=top,
                   kind_margin_s=margin, stale_penalty_s=penalty)
        expected = _brute_force(fleet, kinds=kinds, caps=caps, min_crew=min_crew, margin=margin,
                                penalty=penalty, max_age=120.0, top=top)
        assert [r.vehicle_id for r in got] == expected
        for r in got:
            c = next(c for c in fleet if c.vehicle_id == r.vehicle_id)
            assert r.eta_s == _eta(c)  # the shown ETA is the real one, never the penalised one
            assert r.distance_m == pytest.approx(haversine_m(c.lon, c.lat, *SCENE))


def _unit(vid: str, kind: VehicleKind, eta: float, *, age: float | None = 10.0,
          crew: int = 2, caps: frozenset[str] = frozenset()) -> Candidate:
    # encode the ETA in the longitude so the eta callable can read it back
    return Candidate(vid, kind, eta, 0.0, caps,
                     None if age is None else NOW - timedelta(seconds=age), crew)


def _ids(cands: list[Candidate], **kw: object) -> list[str]:
    args: dict[str, object] = {
        "candidates": cands, "lon": 0.0, "lat": 0.0,
        "kinds": (VehicleKind.ALS, VehicleKind.BLS), "required_capabilities": frozenset(),
        "eta": lambda c: c.lon, "now": NOW,
    }
    args.update(kw)
    return [r.vehicle_id for r in rank(**args)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bls_eta", "first"),
    [
        (600.0, "als"),  # same ETA: preferred kind
        (500.0, "als"),  # BLS 100 s closer: within the 120 s margin
        (480.0, "als"),  # exactly the margin: preferred kind still wins
        (479.0, "bls"),  # more than 120 s closer: BLS goes first
        (100.0, "bls"),
    ],
)
def test_kind_margin_rule(bls_eta: float, first: str) -> None:
    cands = [_unit("als", VehicleKind.ALS, 600.0), _unit("bls", VehicleKind.BLS, bls_eta)]
    assert _ids(cands)[0] == first


def test_kind_margin_is_configurable_per_call() -> None:
    cands = [_unit("als", VehicleKind.ALS, 600.0), _unit("bls", VehicleKind.BLS, 500.0)]
    assert _ids(cands, kind_margin_s=60.0) == ["bls", "als"]
    assert _ids(cands, kinds=(VehicleKind.BLS, VehicleKind.ALS)) == ["bls", "als"]


@pytest.mark.parametrize(
    ("age", "stale"),
    [(0.0, False), (120.0, False), (120.5, True), (None, True), (-45.0, False)],
)
def test_stale_positions_are_flagged_and_penalised(age: float | None, stale: bool) -> None:
    cands = [_unit("x", VehicleKind.ALS, 100.0, age=age), _unit("fresh", VehicleKind.ALS, 200.0)]
    got = rank(candidates=cands, lon=0, lat=0, kinds=(VehicleKind.ALS,),
               required_capabilities=frozenset(), eta=lambda c: c.lon, now=NOW)
    x = next(r for r in got if r.vehicle_id == "x")
    assert x.stale is stale
    assert x.eta_s == 100.0
    # 100 s + 120 s penalty = 220 s > 200 s: the fresh unit goes first when x is stale
    assert [r.vehicle_id for r in got] == (["fresh", "x"] if stale else ["x", "fresh"])
    assert any("stale" in reason for reason in x.reasons) is stale


@pytest.mark.parametrize(
    ("unit", "kept"),
    [
        (_unit("u", VehicleKind.ALS, 1.0, crew=1, caps=frozenset({"ventilator"})), False),
        (_unit("u", VehicleKind.ALS, 1.0, crew=2, caps=frozenset({"ventilator"})), True),
        (_unit("u", VehicleKind.NET, 1.0, caps=frozenset({"ventilator"})), False),
        (_unit("u", VehicleKind.ALS, 1.0, caps=frozenset({"ecg12"})), False),
        (_unit("u", VehicleKind.ALS, 1.0, caps=frozenset({"ecg12", "ventilator"})), True),
    ],
)
def test_filters(unit: Candidate, kept: bool) -> None:
    ids = _ids([unit, _unit("other", VehicleKind.BLS, 900.0, caps=frozenset(
        {"ecg12", "ventilator"}))], required_capabilities=frozenset({"ventilator"}))
    assert ("u" in ids) is kept


def test_reasons_and_json() -> None:
    cands = [_unit("a", VehicleKind.BLS, 300.0, crew=3, caps=frozenset({"ecg12"}), age=None)]
    (r,) = rank(candidates=cands, lon=0.0, lat=0.0, kinds=(VehicleKind.ALS, VehicleKind.BLS),
                required_capabilities=frozenset({"ecg12"}), eta=lambda c: c.lon, now=NOW)
    text = " | ".join(r.reasons)
    for part in ("#1 by ETA 300 s", "kind bls: preference 2 of 2", "120 s later", "crew 3 >= 2",
                 "has ecg12", "position time unknown"):
        assert part in text
    d = orjson.loads(orjson.dumps(r.to_dict()))
    assert d["vehicle_id"] == "a" and d["kind"] == "bls" and d["stale"] is True
    assert d["eta_s"] == 300.0 and isinstance(d["reasons"], list)
    # the same reasons, coded, in both languages for the screens
    assert [w["code"] for w in d["why"]] == ["by_eta", "kind_margin", "crew", "has",
                                            "position_unknown"]
    assert [w["text"]["en"] for w in d["why"]] == d["reasons"]
    assert d["why"][0]["text"]["zh-CN"].startswith("按预计到达时间排第 1：300 秒（直线 ")


def test_top_and_empty() -> None:
    cands = [_unit(f"u{i}", VehicleKind.ALS, float(i)) for i in range(10)]
    assert _ids(cands, top=3) == ["u0", "u1", "u2"]
    assert _ids(cands, top=0) == []
    assert _ids([]) == []


@pytest.mark.parametrize(
    "kw",
    [{"now": datetime(2025, 1, 1)},  # noqa: DTZ001 - the naive case under test
     {"kinds": ()}],
)
def test_rank_rejects_bad_input(kw: dict[str, object]) -> None:
    with pytest.raises(GeoError):
        _ids([_unit("a", VehicleKind.ALS, 1.0)], **kw)


@pytest.mark.parametrize(
    ("start", "max_", "expected"),
    [
        (500, 8000, [500, 1000, 2000, 4000, 8000]),
        (500, 5000, [500, 1000, 2000, 4000, 5000]),
        (1000, 1000, [1000]),
        (1000, 1999, [1000, 1999]),
    ],
)
def test_search_radii(start: float, max_: float, expected: list[float]) -> None:
    assert search_radii_m(start_m=start, max_m=max_) == expected


@pytest.mark.parametrize(("start", "max_"), [(0, 100), (-1, 100), (200, 100),
                                             (100, float("inf"))])
def test_search_radii_rejects(start: float, max_: float) -> None:
    with pytest.raises(GeoError):
        search_radii_m(start_m=start, max_m=max_)


@pytest.mark.parametrize(("start", "max_", "field", "message"), [
    (0, 100, "start_m", "radii must be finite and start_m > 0"),
    (float("nan"), 100, "start_m", "radii must be finite and start_m > 0"),
    (100, float("nan"), "start_m", "radii must be finite and start_m > 0"),
    (200, 199.9, "max_m", "max_m must be >= start_m"),
])
def test_search_radii_refusals_name_the_field(start: float, max_: float, field: str,
                                              message: str) -> None:
    with pytest.raises(GeoError) as info:
        search_radii_m(start_m=start, max_m=max_)
    assert (info.value.field, info.value.message) == (field, message)


def test_search_radii_just_past_a_doubling() -> None:
    assert search_radii_m(start_m=0.5, max_m=1.0) == [0.5, 1.0]
    assert search_radii_m(start_m=250.0, max_m=1000.5) == [250.0, 500.0, 1000.0, 1000.5]


def test_ranked_to_dict_exactly() -> None:
    cands = [_unit("a", VehicleKind.ALS, 300.04, crew=2, age=30.0)]
    (r,) = rank(candidates=cands, lon=0.0, lat=0.0, kinds=(VehicleKind.ALS,),
                required_capabilities=frozenset(), eta=lambda c: c.lon, now=NOW)
    assert r.to_dict() == {
        "vehicle_id": "a",
        "kind": "als",
        "distance_m": round(haversine_m(300.04, 0.0, 0.0, 0.0), 1),
        "eta_s": 300.0,
        "reasons": list(r.reasons),
        "why": [localised(x) for x in r.reasons],
        "stale": False,
    }
    km = r.distance_m / 1000
    assert r.to_dict()["why"][0] == {
        "code": "by_eta", "params": {"eta_s": 300.04, "km": km, "position": 1},
        "text": {"en": f"#1 by ETA 300 s ({km:.1f} km straight line)",
                 "zh-CN": f"按预计到达时间排第 1：300 秒（直线 {km:.1f} 公里）"}}
    assert r.reasons == (f"#1 by ETA 300 s ({r.distance_m / 1000:.1f} km straight line)",
                         "kind als: preference 1 of 1", "crew 2 >= 2", "position 30 s old")


def test_reasons_exactly_for_a_less_preferred_stale_unit() -> None:
    cands = [_unit("a", VehicleKind.BLS, 300.0, crew=3, caps=frozenset({"ventilator", "ecg12"}),
                   age=None)]
    (r,) = rank(candidates=cands, lon=0.0, lat=0.0, kinds=(VehicleKind.ALS, VehicleKind.BLS),
                required_capabilities=frozenset({"ventilator", "ecg12"}), eta=lambda c: c.lon,
                now=NOW)
    assert r.reasons[1:] == ("kind bls: preference 2 of 2 (ranked as if 120 s later)",
                             "crew 3 >= 2", "has ecg12, ventilator",
                             "position time unknown: stale, ranked 120 s later")


def test_five_units_by_default() -> None:
    cands = [_unit(f"u{i}", VehicleKind.ALS, float(i)) for i in range(10)]
    assert _ids(cands) == ["u0", "u1", "u2", "u3", "u4"]


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"now": datetime(2025, 1, 1)}, "now", "now must carry a timezone"),  # noqa: DTZ001
    ({"kinds": ()}, "kinds", "at least one vehicle kind is needed"),
])
def test_rank_refusals_say_why(kw: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(GeoError) as info:
        _ids([_unit("a", VehicleKind.ALS, 1.0)], **kw)
    assert (info.value.field, info.value.message) == (field, message)


def test_a_naive_position_time_is_refused() -> None:
    naive = Candidate("a", VehicleKind.ALS, 1.0, 0.0, frozenset(),
                      datetime(2025, 5, 1, 7, 59), 2)  # noqa: DTZ001
    with pytest.raises(GeoError) as info:
        _ids([naive])
    assert (info.value.field, info.value.message) == (
        "position_at", "position_at must carry a timezone")
