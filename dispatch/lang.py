"""The languages people read the service in: zh-CN (the default) and English."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from dispatch.errors import InvalidInput

Lang = Literal["zh-CN", "en"]
DEFAULT_LANG: Lang = "zh-CN"


def local_time(value: datetime, time_zone: str) -> str:
    """A time as the centre reads it: local, to the minute (never bare UTC)."""
    return f"{value.astimezone(ZoneInfo(time_zone)):%Y-%m-%d %H:%M}"


def _known(tag: str) -> Lang | None:
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    return "zh-CN" if primary == "zh" else "en" if primary == "en" else None


def parse_lang(value: str | None, *, field_name: str = "lang") -> Lang:
    """zh, zh-CN, zh-Hans... -> zh-CN; en, en-GB... -> en; nothing -> zh-CN."""
    if value is None or value.strip() == "":
        return DEFAULT_LANG
    lang = _known(value)
    if lang is None:
        raise InvalidInput(f"unknown language {value!r}; zh-CN or en", field=field_name)
    return lang


def preferred_lang(accept_language: str | None) -> Lang:
    """The language an Accept-Language header prefers among ours (RFC 9110 weights);
    zh-CN when it names neither."""
    ranked: list[tuple[float, int, Lang]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        lang = _known(tag)
        if lang is None:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:
            ranked.append((-weight, position, lang))
    return min(ranked)[2] if ranked else DEFAULT_LANG


def pick(lang: Lang, zh: str, en: str) -> str:
    """The text in `lang`."""
    return zh if lang == "zh-CN" else en
