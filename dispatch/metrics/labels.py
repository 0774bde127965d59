"""What a centre director reads in the report and the CSV: the indicators' names, their
definitions with the window each measures, the groups' names (districts and stations by
name, hours in the centre's time), in zh-CN (the default) or English. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from dispatch.lang import Lang, pick
from dispatch.metrics.intervals import IndicatorConfig

# interval -> (zh-CN, en) name
INTERVAL_NAMES: dict[str, tuple[str, str]] = {
    "call_response_s": ("120呼救响应时间", "120 call response time"),
    "processing_s": ("受理调度时间", "Call processing"),
    "turnout_s": ("出车准备时间", "Turnout"),
    "departure_s": ("出车用时", "Departure time"),
    "response_s": ("急救反应时间", "Response time"),
    "travel_s": ("途中行驶时间", "Travel"),
    "on_scene_s": ("现场处置时间", "On scene"),
    "transport_s": ("转运途中时间", "Transport"),
    "offload_s": ("到院交接时间", "Offload"),
    "prealert_lead_s": ("院前预警提前量", "Pre-alert lead"),
    "team_lead_s": ("专科团队激活提前量", "Team activation lead"),
    "fmc_to_destination_s": ("首次医疗接触至到院", "First medical contact to arrival"),
}

# interval -> (zh-CN, en) window: from which clock to which
INTERVAL_WINDOWS: dict[str, tuple[str, str]] = {
    "call_response_s": ("电话振铃至调度员接听", "phone ringing to the call-taker's answer"),
    "processing_s": ("接听至首次派车指令", "answer to the first dispatch order"),
    "turnout_s": ("派车指令至车辆出发（首派车辆）",
                  "dispatch order to departure (the first-dispatched vehicle)"),
    "response_s": ("接听至首辆车到达现场", "answer to the first vehicle on scene"),
    "travel_s": ("出发至到达现场（首到车辆）",
                 "departure to on scene (the first-arriving vehicle)"),
    "on_scene_s": ("到达现场至离开现场（转运车辆）",
                   "on scene to leaving the scene (the transporting vehicle)"),
    "transport_s": ("离开现场至到达医院", "leaving the scene to arrival at the destination"),
    "offload_s": ("到达医院至完成交接", "arrival at the destination to handover"),
    "prealert_lead_s": ("医院收到预警至患者到院（专科通道）",
                        "hospital pre-alerted to the patient's arrival (specialist pathways)"),
    "team_lead_s": ("专科团队激活至患者到院（专科通道）",
                    "specialist team activated to the patient's arrival (specialist pathways)"),
    "fmc_to_destination_s": ("急救人员接触患者至到院（专科通道）",
                             "crew's first patient contact to arrival (specialist pathways)"),
}

RATE_NAMES: dict[str, tuple[str, str]] = {
    "answered_in_time": ("及时接听率", "Answered in time"),
    "departed_in_time": ("3分钟出车率", "3-minute departure rate"),
    "prealerted": ("专科通道预警率", "Specialist pathway pre-alert rate"),
    "direct_to_capable": ("STEMI/大血管闭塞直送有能力医院率",
                          "STEMI / LVO taken straight to a capable centre"),
    "pickup_on_time": ("非急救预约准时接诊率", "Non-emergency pick-up on time"),
}

DIMENSION_NAMES: dict[str, tuple[str, str]] = {
    "hour": ("时段", "hour"),
    "day": ("日期", "day"),
    "month": ("月份", "month"),
    "district": ("区县", "district"),
    "station": ("急救站", "station"),
    "vehicle": ("车辆", "vehicle"),
    "acuity": ("病情分级", "acuity"),
    "transport_class": ("转运类别", "transport class"),
    "pathway": ("专科通道", "pathway"),
}

# The group of calls a dimension has no value for, said for what it means.
_UNKNOWN: dict[str, tuple[str, str]] = {
    "district": ("辖区外或未定位", "outside the districts or not located"),
    "station": ("未派车", "no vehicle dispatched"),
    "vehicle": ("未派车", "no vehicle dispatched"),
    "pathway": ("非专科通道", "no specialist pathway"),
}

_VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "acuity": {"1": ("I级 濒危", "I dying"), "2": ("II级 危重", "II critical"),
               "3": ("III级 急症", "III urgent"), "4": ("IV级 非急症", "IV non-urgent")},
    "transport_class": {"emergency": ("急救", "emergency"),
                        "non_emergency": ("非急救转运", "non-emergency")},
    "pathway": {"chest_pain": ("胸痛", "chest pain"), "stroke": ("卒中", "stroke"),
                "trauma": ("创伤", "trauma"), "maternal": ("危重孕产妇", "critical maternal"),
                "paediatric": ("危重儿童和新生儿", "critical paediatric/neonatal")},
}


@dataclass(frozen=True, slots=True)
class PlaceNames:
    """Names of the reference data by id (from the districts, stations and vehicles
    tables), so a reader sees 玄武区, not 156320102."""

    districts: Mapping[str, str] = field(default_factory=dict)
    stations: Mapping[str, str] = field(default_factory=dict)
    vehicles: Mapping[str, str] = field(default_factory=dict)


def interval_name(name: str, lang: Lang) -> str:
    zh, en = INTERVAL_NAMES[name]
    return pick(lang, zh, en)


def rate_name(name: str, lang: Lang) -> str:
    zh, en = RATE_NAMES[name]
    return pick(lang, zh, en)


def dimension_name(dimension: str, lang: Lang) -> str:
    zh, en = DIMENSION_NAMES[dimension]
    return pick(lang, zh, en)


def _period_value(dimension: str, value: str, lang: Lang) -> str:
    # values are already in the centre's local time (indicators.dimension_value)
    if dimension == "hour":
        day, _, hour = value.partition("T")
        return f"{day} {hour}时" if lang == "zh-CN" else f"{day} {hour}:00"
    if dimension == "month" and lang == "zh-CN":
        year, _, month = value.partition("-")
        return f"{year}年{int(month)}月"
    return value


def value_name(dimension: str, value: str | None, lang: Lang, names: PlaceNames) -> str:
    """What a reader calls one group's value of one dimension."""
    if value is None:
        zh, en = _UNKNOWN.get(dimension, ("未知", "unknown"))
        return pick(lang, zh, en)
    if dimension in ("hour", "day", "month"):
        return _period_value(dimension, value, lang)
    by_id = {"district": names.districts, "station": names.stations,
             "vehicle": names.vehicles}.get(dimension)
    if by_id is not None:
        return by_id.get(value, value)
    if dimension in _VALUES and value in _VALUES[dimension]:
        zh, en = _VALUES[dimension][value]
        return pick(lang, zh, en)
    return value


def group_name(key: tuple[tuple[str, str | None], ...], lang: Lang, names: PlaceNames) -> str:
    """A group's name: its dimensions' values joined; the total for no dimensions."""
    if not key:
        return pick(lang, "合计", "all")
    return " / ".join(value_name(d, v, lang, names) for d, v in key)


def _g(seconds: float) -> str:
    return f"{seconds:g}"


def definitions(config: IndicatorConfig, lang: Lang) -> list[tuple[str, str]]:
    """(indicator, definition with its window and target) for the report's glossary."""
    dep_from = {"dispatched": ("派车指令", "the dispatch order"),
                "answered": ("接听", "the answer")}[config.departure_from]
    items = [
        (rate_name("answered_in_time", lang), pick(
            lang,
            f"振铃至接听不超过 {_g(config.answer_limit_s)} 秒的呼救占全部已接听呼救的比例；"
            f"目标 ≥ {100 * config.answer_rate_target:g}%。",
            f"share of answered calls answered within {_g(config.answer_limit_s)} s of "
            f"ringing; target >= {100 * config.answer_rate_target:g}%.")),
        (rate_name("departed_in_time", lang), pick(
            lang,
            f"自{dep_from[0]}起 {_g(config.departure_limit_s)} 秒内出车的急救任务占比。"
            f"分母：已派车（未撤回）的急救呼救；未出车计为未达标，除非在时限内取消。"
            f"目标 ≥ {100 * config.departure_rate_target:g}%。",
            f"share of emergency missions whose vehicle departed within "
            f"{_g(config.departure_limit_s)} s of {dep_from[1]}. Denominator: emergency calls "
            "with a dispatched (not stood-down) vehicle; no departure is a failure unless the "
            f"call was cancelled within the limit. Target >= "
            f"{100 * config.departure_rate_target:g}%.")),
    ]
    for name, (zh_window, en_window) in INTERVAL_WINDOWS.items():
        targets = config.targets_of(name)
        if name == "call_response_s" or not targets:
            target = ""
        else:
            shown = "、".join(f"{_g(t)} 秒" for t in targets) if lang == "zh-CN" else \
                ", ".join(f"{_g(t)} s" for t in targets)
            target = pick(lang, f"；统计 {shown} 内的占比", f"; share within {shown}")
        items.append((interval_name(name, lang),
                      pick(lang, f"{zh_window}{target}。", f"{en_window}{target}.")))
    return items


def zone_label(time_zone: str, at: datetime) -> str:
    """The zone named, with its offset then: 'Asia/Shanghai, UTC+08:00'."""
    offset = at.astimezone(ZoneInfo(time_zone)).strftime("%z")
    return f"{time_zone}, UTC{offset[:3]}:{offset[3:]}"
