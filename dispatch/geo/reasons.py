"""Why a unit is proposed, in zh-CN (the default) and English. Pure.

A reason is its English sentence, as the assignment record and the audit have always
stored it, that also carries its code and values (`Because`), so a screen can show it in
the reader's language: `localised(reason)` gives the code, the values and both texts.
A plain string (a note from elsewhere) is shown as written in both languages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dispatch.lang import Lang, local_time

# reason code -> (zh-CN, en) template, filled with the reason's values
REASONS: dict[str, tuple[str, str]] = {
    "by_eta": ("按预计到达时间排第 {position}：{eta_s:.0f} 秒（直线 {km:.1f} 公里）",
               "#{position} by ETA {eta_s:.0f} s ({km:.1f} km straight line)"),
    "kind": ("车型 {kind_zh}：第 {preference}/{of} 优先",
             "kind {kind}: preference {preference} of {of}"),
    "kind_margin": ("车型 {kind_zh}：第 {preference}/{of} 优先（按晚 {later_s:.0f} 秒排序）",
                    "kind {kind}: preference {preference} of {of} "
                    "(ranked as if {later_s:.0f} s later)"),
    "crew": ("车组 {crew} 人（至少 {min_crew} 人）", "crew {crew} >= {min_crew}"),
    "has": ("具备 {capabilities}", "has {capabilities}"),
    "position_unknown": ("位置时间未知：视为过期，排序推后 {penalty_s:.0f} 秒",
                         "position time unknown: stale, ranked {penalty_s:.0f} s later"),
    "position_stale": ("位置已 {age_s:.0f} 秒未更新（超过 {max_age_s:.0f} 秒）：视为过期，"
                       "排序推后 {penalty_s:.0f} 秒",
                       "position {age_s:.0f} s old > {max_age_s:.0f} s: stale, "
                       "ranked {penalty_s:.0f} s later"),
    "position_age": ("位置 {age_s:.0f} 秒前更新", "position {age_s:.0f} s old"),
    "coverage": ("兼顾覆盖：派出后其所在区域仍有 {left} 辆车（与最快车辆相差不超过 "
                 "{slack_s:.0f} 秒）",
                 "coverage: leaves {left} unit(s) in its district "
                 "(within {slack_s:.0f} s of the fastest)"),
    "routing_unavailable": ("路径服务不可用（{error}）：采用模型预计时间",
                            "routing unavailable ({error}): model ETA"),
    "no_route": ("未找到路径：采用模型预计时间 {eta_s:.0f} 秒",
                 "no route found: model ETA {eta_s:.0f} s"),
    "routed": ("路网预计 {routed_s:.0f} 秒（模型 {model_s:.0f} 秒）",
               "routed ETA {routed_s:.0f} s (model {model_s:.0f} s)"),
    "location_uncertain": ("呼救位置不确定（68% 半径 {radius_m:.0f} 米）：预计时间取圆内 "
                           "{points} 个等可能点的平均",
                           "location uncertain (68 % radius {radius_m:.0f} m): ETA is the "
                           "mean over {points} equally likely points of the circle"),
    # move-up (geo/moveup.py): what a relocation buys and what its district keeps
    "moveup_keeps": ("{target_min:.0f} 分钟内多覆盖 {gain:.1f} 个预计需求（{before:.1%} → "
                     "{after:.1%}）；前移约 {relocation_min:.0f} 分钟；{home} 仍留 {left} 辆车",
                     "covers {gain:.1f} more expected demand within {target_min:.0f} min "
                     "({before:.1%} -> {after:.1%}); relocation {relocation_min:.0f} min; "
                     "{home} keeps {left} vehicle(s)"),
    "moveup_threshold": ("{target_min:.0f} 分钟内多覆盖 {gain:.1f} 个预计需求（{before:.1%} → "
                         "{after:.1%}）；前移约 {relocation_min:.0f} 分钟；{home} 覆盖率保持 "
                         "{share:.0%}，不低于其阈值 {threshold:.0%}",
                         "covers {gain:.1f} more expected demand within {target_min:.0f} min "
                         "({before:.1%} -> {after:.1%}); relocation {relocation_min:.0f} min; "
                         "{home} keeps {share:.0%} coverage, at or above its {threshold:.0%} "
                         "threshold"),
    # booked non-emergency transport (geo/scheduling.py): why this vehicle, why not others
    "booking_earliest": ("{feasible} 辆可行车辆中接人最早：{pickup}",
                         "earliest feasible pickup {pickup} of {feasible} feasible vehicle(s)"),
    "booking_deadhead": ("空驶 {deadhead_min:.0f} 分钟到接人地点",
                         "dead-heading {deadhead_min:.0f} min to the pickup"),
    "booking_between": ("排在行程 {after} 之后、行程 {before} 之前",
                        "after trip {after}, before trip {before}"),
    "booking_after": ("排在行程 {after} 之后，其后无预约",
                      "after trip {after}, nothing booked after"),
    "booking_before": ("此前无预约行程，排在行程 {before} 之前",
                       "free before any booked trip, before trip {before}"),
    "booking_free": ("前后均无预约行程", "free before any booked trip, nothing booked after"),
    "booking_overlap": ("会与已预约行程冲突：{trips}", "would overlap booked trip(s) {trips}"),
    "booking_unreachable": ("{window_end} 前无法到达接人地点",
                            "cannot reach the pickup by {window_end}"),
    "booking_later": ("可行，但接人更晚或空驶更远",
                      "feasible, but a later pickup or more dead-heading"),
}

# vehicle kind -> zh-CN name (the English text names the code, as it always has)
KIND_ZH: dict[str, str] = {"als": "高级生命支持（ALS）", "bls": "基础生命支持（BLS）",
                           "net": "非急救转运（NET）"}


class Because(str):
    """A reason: its English text, with `code` and `params` for the other language.

    A `str` so everything that stores, audits or compares reasons keeps doing so with the
    English sentence it always had.
    """

    code: str
    params: Mapping[str, Any]
    # the values as the stored English shows them: worked out once, read by every screen
    shown: Mapping[str, Any]

    def __new__(cls, code: str, **params: Any) -> Because:
        en = REASONS[code][1]
        shown = _shown(params, None)
        self = super().__new__(cls, en.format(**shown))
        self.code = code
        self.params = params
        self.shown = shown
        return self

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, Any]]:
        return (self.code,), dict(self.params)

    def text(self, lang: Lang, zone: str | None = None) -> str:
        """The sentence in `lang`; its times in `zone` (an IANA name) when given."""
        params = _shown(self.params, zone) if zone else self.shown
        if lang == "en":
            return REASONS[self.code][1].format(**params) if zone else str(self)
        kind = str(params.get("kind", ""))
        return REASONS[self.code][0].format(**params, kind_zh=KIND_ZH.get(kind, kind))


def _shown(params: Mapping[str, Any], zone: str | None) -> dict[str, Any]:
    """Values as a sentence shows them: a time as ISO 8601 (the stored English form), or
    local to the minute in `zone` (what people read: never bare UTC)."""
    return {k: (v if not isinstance(v, datetime)
                else local_time(v, zone) if zone else v.isoformat())
            for k, v in params.items()}


def localised(reason: str, zone: str | None = None) -> dict[str, Any]:
    """A reason as the screens read it: code, values and the text in both languages,
    times in `zone` when given."""
    if isinstance(reason, Because):
        return {"code": reason.code, "params": dict(reason.shown),
                "text": {"zh-CN": reason.text("zh-CN", zone), "en": reason.text("en", zone)}}
    return {"code": None, "params": {}, "text": {"zh-CN": str(reason), "en": str(reason)}}
