"""Unit reasons in zh-CN and English: every code renders in both, the English text is the
sentence stored and audited, and JSON, pickling and plain notes keep working."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import orjson
import pytest

from dispatch.geo.reasons import KIND_ZH, REASONS, Because, localised

PICKUP = datetime(2026, 12, 6, 1, 30, tzinfo=UTC)
CASES = [
    (Because("by_eta", position=1, eta_s=300.4, km=2.345),
     "#1 by ETA 300 s (2.3 km straight line)", "按预计到达时间排第 1：300 秒（直线 2.3 公里）"),
    (Because("kind", kind="als", preference=1, of=2, later_s=0.0),
     "kind als: preference 1 of 2", "车型 高级生命支持（ALS）：第 1/2 优先"),
    (Because("kind_margin", kind="bls", preference=2, of=2, later_s=120.0),
     "kind bls: preference 2 of 2 (ranked as if 120 s later)",
     "车型 基础生命支持（BLS）：第 2/2 优先（按晚 120 秒排序）"),
    (Because("crew", crew=3, min_crew=2), "crew 3 >= 2", "车组 3 人（至少 2 人）"),
    (Because("has", capabilities="ecg12"), "has ecg12", "具备 ecg12"),
    (Because("position_unknown", penalty_s=120.0),
     "position time unknown: stale, ranked 120 s later", "位置时间未知：视为过期，排序推后 120 秒"),
    (Because("position_stale", age_s=301.0, max_age_s=120.0, penalty_s=120.0),
     "position 301 s old > 120 s: stale, ranked 120 s later",
     "位置已 301 秒未更新（超过 120 秒）：视为过期，排序推后 120 秒"),
    (Because("position_age", age_s=4.2), "position 4 s old", "位置 4 秒前更新"),
    (Because("coverage", left=2, slack_s=60.0),
     "coverage: leaves 2 unit(s) in its district (within 60 s of the fastest)",
     "兼顾覆盖：派出后其所在区域仍有 2 辆车（与最快车辆相差不超过 60 秒）"),
    (Because("routing_unavailable", error="timed out"),
     "routing unavailable (timed out): model ETA", "路径服务不可用（timed out）：采用模型预计时间"),
    (Because("no_route", eta_s=99.0), "no route found: model ETA 99 s",
     "未找到路径：采用模型预计时间 99 秒"),
    (Because("routed", routed_s=130.0, model_s=150.0), "routed ETA 130 s (model 150 s)",
     "路网预计 130 秒（模型 150 秒）"),
    (Because("location_uncertain", radius_m=800.0, points=7),
     "location uncertain (68 % radius 800 m): ETA is the mean over 7 equally likely points "
     "of the circle", "呼救位置不确定（68% 半径 800 米）：预计时间取圆内 7 个等可能点的平均"),
    (Because("moveup_keeps", gain=2.5, target_min=8.0, before=0.5, after=0.625,
             relocation_min=6.4, home="鼓楼", left=2),
     "covers 2.5 more expected demand within 8 min (50.0% -> 62.5%); relocation 6 min; "
     "鼓楼 keeps 2 vehicle(s)",
     "8 分钟内多覆盖 2.5 个预计需求（50.0% → 62.5%）；前移约 6 分钟；鼓楼 仍留 2 辆车"),
    (Because("moveup_threshold", gain=1.0, target_min=8.0, before=0.5, after=0.55,
             relocation_min=3.0, home="D1", share=0.85, threshold=0.8),
     "covers 1.0 more expected demand within 8 min (50.0% -> 55.0%); relocation 3 min; "
     "D1 keeps 85% coverage, at or above its 80% threshold",
     "8 分钟内多覆盖 1.0 个预计需求（50.0% → 55.0%）；前移约 3 分钟；D1 覆盖率保持 85%，"
     "不低于其阈值 80%"),
    (Because("booking_earliest", pickup=PICKUP, feasible=3),
     "earliest feasible pickup 2026-12-06T01:30:00+00:00 of 3 feasible vehicle(s)",
     "3 辆可行车辆中接人最早：2026-12-06T01:30:00+00:00"),
    (Because("booking_deadhead", deadhead_min=12.4), "dead-heading 12 min to the pickup",
     "空驶 12 分钟到接人地点"),
    (Because("booking_between", after="c1", before="c2"), "after trip c1, before trip c2",
     "排在行程 c1 之后、行程 c2 之前"),
    (Because("booking_after", after="c1"), "after trip c1, nothing booked after",
     "排在行程 c1 之后，其后无预约"),
    (Because("booking_before", before="c2"), "free before any booked trip, before trip c2",
     "此前无预约行程，排在行程 c2 之前"),
    (Because("booking_free"), "free before any booked trip, nothing booked after",
     "前后均无预约行程"),
    (Because("booking_overlap", trips="c1, c2"), "would overlap booked trip(s) c1, c2",
     "会与已预约行程冲突：c1, c2"),
    (Because("booking_unreachable", window_end=PICKUP),
     "cannot reach the pickup by 2026-12-06T01:30:00+00:00",
     "2026-12-06T01:30:00+00:00 前无法到达接人地点"),
    (Because("booking_later"), "feasible, but a later pickup or more dead-heading",
     "可行，但接人更晚或空驶更远"),
]


def test_every_code_has_a_case() -> None:
    assert {r.code for r, _, _ in CASES} == set(REASONS)


@pytest.mark.parametrize(("reason", "en", "zh"), CASES, ids=[c[0].code for c in CASES])
def test_both_languages(reason: Because, en: str, zh: str) -> None:
    assert reason == en  # what the assignment record and the audit store
    assert reason.text("en") == en
    assert reason.text("zh-CN") == zh
    shown = localised(reason)
    assert shown["code"] == reason.code
    assert shown["text"] == {"zh-CN": zh, "en": en}


def test_json_and_pickle_keep_the_reason() -> None:
    reason = Because("crew", crew=2, min_crew=2)
    assert orjson.loads(orjson.dumps([reason])) == ["crew 2 >= 2"]
    again = pickle.loads(pickle.dumps(reason))
    assert isinstance(again, Because) and again.text("zh-CN") == "车组 2 人（至少 2 人）"
    assert orjson.loads(orjson.dumps(localised(reason)))["params"] == {"crew": 2,
                                                                       "min_crew": 2}


def test_a_plain_note_reads_the_same_in_both() -> None:
    assert localised("booked vehicle") == {"code": None, "params": {},
                                           "text": {"zh-CN": "booked vehicle",
                                                    "en": "booked vehicle"}}


def test_an_unknown_code_is_refused() -> None:
    with pytest.raises(KeyError):
        Because("no_such_reason")


def test_times_read_in_the_centres_zone_when_one_is_given() -> None:
    reason = Because("booking_unreachable", window_end=PICKUP)
    assert reason.text("zh-CN", "Asia/Shanghai") == "2026-12-06 09:30 前无法到达接人地点"
    assert reason.text("en", "Asia/Shanghai") == "cannot reach the pickup by 2026-12-06 09:30"
    shown = localised(reason, "Asia/Shanghai")
    assert shown["params"] == {"window_end": "2026-12-06T01:30:00+00:00"}  # JSON-ready
    assert shown["text"]["en"] == "cannot reach the pickup by 2026-12-06 09:30"
    # without a zone the stored English sentence, ISO 8601 with its offset
    assert reason.text("en") == str(reason) == (
        "cannot reach the pickup by 2026-12-06T01:30:00+00:00")


@pytest.mark.parametrize("zone", [None, "", "Asia/Shanghai"])
def test_localised_is_the_reference_rendering(zone: str | None) -> None:
    """The values worked out once at creation give what rendering from the raw values
    gives, and a screen changing its copy leaves the reason as it was."""
    for reason, _, _ in CASES:
        iso = {k: v.isoformat() if isinstance(v, datetime) else v
               for k, v in reason.params.items()}
        shown = localised(reason, zone)
        assert shown["params"] == iso
        if not zone:
            en, zh = REASONS[reason.code][1], REASONS[reason.code][0]
            kind = str(iso.get("kind", ""))
            assert shown["text"] == {
                "en": en.format(**iso),
                "zh-CN": zh.format(**iso, kind_zh=KIND_ZH.get(kind, kind))}
        shown["params"]["mutated"] = True
        assert "mutated" not in localised(reason, zone)["params"]
