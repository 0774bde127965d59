"""Unit reasons in zh-CN and English: every code renders in both, the English text is the
sentence stored and audited, and JSON, pickling and plain notes keep working."""

from __future__ import annotations

import pickle

import orjson
import pytest

from dispatch.geo.reasons import REASONS, Because, localised

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
