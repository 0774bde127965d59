"""Numbers a call-taker types into the complaint: age, vital signs, weeks, heights.

Pure. Reads Arabic and Chinese numerals (三岁, 八十多岁, 一百五, 三十九度五) after a
label (血氧, SpO2, 血压, 心率, GCS, 体温, 孕 ...) or before a unit (岁, 个月, 度, 周),
and keeps only values inside the range the structured field accepts, so a misread
number is dropped rather than believed. The first reading of a fact wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from dispatch.triage.keywords import CardText, Lexicon, Reading, negated_at, normalise

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100}
_CN = "零〇一二两三四五六七八九十百"
# a number: Arabic (with decimals) or Chinese; a rough one (十几, 十来, 几十, 10来) reads as
# its lower bound, and like 多 agrees with answers up to ten above
NUM = rf"(\d+(?:\.\d+)?|几?[{_CN}]+)(?:几|来)?"
DAYS_PER_YEAR = 365.25
WEEKS_PER_MONTH = 4.35  # a pregnancy month as callers count it
STOREY_M = 3.0  # one storey; a fall "from the 3rd floor" is two storeys plus a sill
SILL_M = 1.0


def cn_number(text: str) -> float | None:
    """一百五 -> 150, 八十 -> 80, 十二 -> 12, 三 -> 3, 39.5 -> 39.5, 几十 -> 20; None if
    unreadable."""
    try:
        return float(text)
    except ValueError:
        pass
    if text.startswith("几") and len(text) > 1:
        text = "二" + text[1:]  # 几十: at least twenty
    total, current, last_unit = 0, 0, 1
    for char in text:
        if char in _CN_DIGITS:
            current = current * 10 + _CN_DIGITS[char] if current else _CN_DIGITS[char]
        elif char in _CN_UNITS:
            unit = _CN_UNITS[char]
            total += (current or 1) * unit
            current, last_unit = 0, unit
        else:
            return None
    if current and last_unit >= 100 and text[-2] in _CN_UNITS:
        current *= last_unit // 10  # 一百五 = 150: a digit right after 百 is tens
    return float(total + current)


@dataclass(frozen=True, slots=True)
class _Pattern:
    fact: str
    regex: re.Pattern[str]
    value: Callable[[re.Match[str]], float | None]
    low: float
    high: float
    also: tuple[tuple[str, object], ...] = ()
    needs: tuple[str, ...] = ()


def _first(m: re.Match[str]) -> str:
    """The first group that took part in the match (patterns with alternatives)."""
    return next(g for g in m.groups() if g is not None)


def _num(group: int = 0, scale: float = 1.0) -> Callable[[re.Match[str]], float | None]:
    """The number in `group` (0: the first group that matched), times `scale`."""
    def read(m: re.Match[str]) -> float | None:
        v = cn_number(m.group(group) if group else _first(m))
        return None if v is None else v * scale
    return read


def _age_years(m: re.Match[str]) -> float | None:
    v = cn_number(m.group(1))
    return None if v is None else v + (0.5 if m.group(0).endswith("岁半") else 0.0)


def _temp(m: re.Match[str]) -> float | None:
    v = cn_number(m.group(1))
    if v is None:
        return None
    tenth = m.group(2)  # 三十九度五: the digit after 度 is tenths
    return v + (cn_number(tenth) or 0) / 10 if tenth else v


def _storeys(m: re.Match[str]) -> float | None:
    v = cn_number(_first(m))
    return None if v is None else max(v - 1, 0) * STOREY_M + SILL_M


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}


def _en_storeys(m: re.Match[str]) -> float | None:
    word = _first(m)
    v = float(_ORDINALS[word]) if word in _ORDINALS else cn_number(word)
    return None if v is None else max(v - 1, 0) * STOREY_M + SILL_M


def _p(fact: str, needs: str, pattern: str,
       value: Callable[[re.Match[str]], float | None], low: float, high: float,
       also: tuple[tuple[str, object], ...] = ()) -> _Pattern:
    """A pattern tried only on a text holding one of `needs` (space-separated): most texts
    skip most patterns with a substring test."""
    return _Pattern(fact, re.compile(pattern), value, low, high, also, tuple(needs.split()))


PREGNANT: tuple[tuple[str, object], ...] = (("pregnant", True),)
SEIZURE: tuple[tuple[str, object], ...] = (("seizure", True),)
FALL: tuple[tuple[str, object], ...] = (("mechanism", "fall"),)
# label, then filler words a call-taker types between label and number
_IS = r"(?:是|为|有|只有|才|约|大约|大概|掉到|降到|低到|升到|高到|到|测得|量得|测的|量的|:|=|\s)*"
_BP = r"(\d{2,3})\s*/\s*(\d{2,3})"
_FALL_ZH = r"(?:摔|掉|坠|跌|跳|落)"
_FALL_FROM_ZH = r"(?:掉|坠|跳|落|摔下|跌下|栽下|摔到|跌到|摔了下|翻下|滚下)"
_FALL_EN = r"\b(?:fell|fall|fallen|jumped)\b[^.;]{0,24}?"
_BABY = r"(?:宝宝|孩子|婴儿|小孩|男婴|女婴|小儿|新生儿)"
_DIGIT = rf"[\d{_CN[:-2]}]"  # a tenth after 度: 三十九度五
_EN_FLOOR = r"(\d+|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)"
PATTERNS: tuple[_Pattern, ...] = (
    # age
    _p("age_years", "岁", rf"{NUM}\s*(?:多|来)?\s*(?:周岁半|周岁|岁半|岁)", _age_years, 0, 130),
    _p("age_years", "月", rf"{NUM}\s*个?\s*多?\s*月(?:大|龄)", _num(scale=1 / 12), 0, 3),
    _p("age_years", "月", rf"(?<![孕怀娠]){NUM}\s*个\s*多?\s*月(?=的?{_BABY})",
       _num(scale=1 / 12), 0, 3),
    _p("age_years", "天", rf"(?:出生|生下来){NUM}\s*天|{NUM}\s*天(?:大|的{_BABY})",
       _num(scale=1 / DAYS_PER_YEAR), 0, 0.3),
    _p("age_years", "old yo y/o y.o age",
       r"\b(\d{1,3})\s*(?:-|\s)?(?:years?|yrs?|y)\s*(?:-|\s)?old\b"
       r"|\b(\d{1,3})\s*(?:yo|y/o|y\.o\.)(?![a-z])|\baged?\s*(\d{1,3})\b", _num(), 0, 130),
    _p("age_years", "old", r"\b(\d{1,2})\s*(?:-|\s)?(?:months?|mos?)\s*(?:-|\s)?old\b",
       _num(scale=1 / 12), 0, 3),
    _p("age_years", "old", r"\b(\d{1,2})\s*(?:-|\s)?days?\s*(?:-|\s)?old\b",
       _num(scale=1 / DAYS_PER_YEAR), 0, 0.3),
    _p("age_years", "old", r"\b(\d{1,2})\s*(?:-|\s)?(?:weeks?|wks?)\s*(?:-|\s)?old\b",
       _num(scale=7 / DAYS_PER_YEAR), 0, 1),
    # pregnancy (a gestation also says the patient is pregnant)
    _p("gestation_weeks", "孕 娠 怀", rf"(?:孕|怀孕|妊娠|怀了)\s*{NUM}\s*(?:\+\s*\d)?\s*(?:周|w\b)",
       _num(), 4, 45, PREGNANT),
    _p("gestation_weeks", "孕 娠 怀", rf"(?:孕|怀孕|妊娠|怀了)\s*{NUM}\s*个?\s*多?\s*月",
       _num(scale=WEEKS_PER_MONTH), 4, 45, PREGNANT),
    _p("gestation_weeks", "pregnan gestation ga",
       r"\b(\d{1,2})\s*(?:\+\d\s*)?(?:weeks?|wks?)\s*(?:pregnant|gestation|along)"
       r"|\b(?:pregnant|gestation|ga)\s*(?:at|of)?\s*(\d{1,2})\s*(?:weeks?|wks?)\b",
       _num(), 4, 45, PREGNANT),
    _p("gestation_weeks", "pregnant", r"\b(\d)\s*months?\s*pregnant\b",
       _num(scale=WEEKS_PER_MONTH), 4, 45, PREGNANT),
    # falls: storeys (Chinese floors count the ground floor as 1楼) or metres / feet
    _p("fall_height_m", "楼 层",
       # a fall from the storey, not one on it (在6楼摔了一跤) nor down its stairs
       # (从6楼走下来摔了一跤, 从6楼楼梯上摔下来)
       rf"从\s*{NUM}\s*(?:楼|层)(?=[^，。,.;走爬梯]{{0,4}}?{_FALL_FROM_ZH})"
       rf"|{NUM}\s*(?:楼|层)\s*(?:上|的)?\s*{_FALL_FROM_ZH}",
       _storeys, 0, 1000, FALL),
    # a height in storeys (5层楼高, 三层楼那么高): storeys x 3 m
    _p("fall_height_m", "高",
       rf"{NUM}\s*(?:层|楼)\s*楼?\s*(?:那么|这么)?\s*高\S{{0,8}}?{_FALL_ZH}",
       _num(scale=STOREY_M), 0, 1000, FALL),
    _p("fall_height_m", "米 m",
       # a height, not a distance walked (走了200米摔倒): 从 / 高 / a place before the verb
       rf"(?:从|在)\s*{NUM}\s*(?:米|m)\S{{0,8}}?{_FALL_ZH}"
       rf"|{NUM}\s*(?:米|m)\s*多?\s*(?:高|深)\S{{0,8}}?{_FALL_ZH}"
       rf"|{NUM}\s*(?:米|m)\s*多?\s*的?\s*(?:地方|处|高处)\s*上?\s*{_FALL_ZH}"
       rf"|{_FALL_ZH}\S{{0,4}}?{NUM}\s*多?\s*米", _num(), 0, 1000, FALL),
    _p("fall_height_m", "fell fall jump", rf"{_FALL_EN}(\d+(?:\.\d+)?)\s*(?:m|metres?|meters?)\b",
       _num(), 0, 1000, FALL),
    _p("fall_height_m", "fell fall jump", rf"{_FALL_EN}(\d+(?:\.\d+)?)\s*(?:ft|feet|foot)\b",
       _num(scale=0.3048), 0, 1000, FALL),
    _p("fall_height_m", "floor stor",
       rf"\bfrom\s+(?:the\s+|a\s+)?{_EN_FLOOR}(?:st|nd|rd|th)?[\s-]+(?:floor|stor(?:e)?y)"
       # "fell from scaffolding on the 5th floor"
       rf"|\b(?:fell|fallen|jumped)\s+(?:from|off)\b[^.;,]{{0,30}}?\b(?:on|at)\s+(?:the\s+)?"
       rf"{_EN_FLOOR}(?:st|nd|rd|th)?[\s-]+(?:floor|stor(?:e)?y)",
       _en_storeys, 0, 1000, FALL),
    # seizure duration
    _p("seizure_duration_min", "分钟", rf"(?:抽|惊厥|发作)\S{{0,4}}?{NUM}\s*多?\s*分钟",
       _num(), 0, 1440, SEIZURE),
    _p("seizure_duration_min", "min",
       r"\b(?:seiz\w*|fitting|convuls\w*)\b[^.;]{0,30}?(\d+)\s*(?:min|mins|minutes?)\b",
       _num(), 0, 1440, SEIZURE),
    # vital signs
    _p("spo2", "氧 sp sa o2",
       rf"(?:血氧饱和度|氧饱和度|血氧|指脉氧|氧饱|spo2|sao2|sp02|o2\s*sats?|sats?|"
       rf"oxygen saturation|saturation|saturating){_IS}(\d{{2,3}})\s*%?", _num(), 30, 100),
    _p("sbp", "血压 bp pressure", rf"(?:血压|bp|b/p|blood pressure){_IS}{_BP}", _num(1), 30, 300),
    _p("dbp", "血压 bp pressure", rf"(?:血压|bp|b/p|blood pressure){_IS}{_BP}", _num(2), 10, 250),
    _p("sbp", "/", rf"(?<![\d/.:\-]){_BP}(?![\d/])", _num(1), 40, 300),
    _p("dbp", "/", rf"(?<![\d/.:\-]){_BP}(?![\d/])", _num(2), 20, 200),
    _p("sbp", "压 sbp systolic", rf"(?:高压|收缩压|上压|sbp|systolic){_IS}{NUM}", _num(), 30, 300),
    _p("dbp", "压 dbp diastolic", rf"(?:低压|舒张压|下压|dbp|diastolic){_IS}{NUM}",
       _num(), 10, 250),
    _p("hr", "心 脉 hr pulse heart",
       rf"(?:心率|心跳|脉搏|脉率|脉博|hr|pulse|heart rate|pulse rate){_IS}{NUM}", _num(), 20, 300),
    _p("rr", "呼吸 rr resp",
       rf"(?:呼吸频率|呼吸|rr|resp(?:iratory)? rate|resps?){_IS}{NUM}"
       r"\s*(?:次|/min|/分|bpm|breaths)",
       _num(), 2, 100),
    _p("rr", "呼吸频率 rr resp", rf"(?:呼吸频率|\brr\b|respiratory rate|resp rate){_IS}{NUM}",
       _num(), 2, 100),
    _p("gcs", "gcs 格拉斯哥 昏迷评分 glasgow",
       rf"(?:gcs|格拉斯哥评分|格拉斯哥|昏迷评分|glasgow){_IS}(?:评分|score)?{_IS}(\d{{1,2}})",
       _num(), 3, 15),
    _p("gcs", "v", r"\be\s*([1-4])\s*v\s*([1-5])\s*m\s*([1-6])\b",
       lambda m: float(int(m.group(1)) + int(m.group(2)) + int(m.group(3))), 3, 15),
    _p("gcs_motor", "v", r"\be\s*[1-4]\s*v\s*[1-5t]\s*m\s*([1-6])\b", _num(), 1, 6),
    _p("temp_c", "体温 烧 热 temp t",
       rf"(?:体温|发烧|发热|高烧|高热|烧到|烧了|temp(?:erature)?|\bt\b){_IS}{NUM}\s*"
       rf"(?:度|°c|c\b)?({_DIGIT})?", _temp, 30, 45),
    _p("temp_c", "度 °", rf"{NUM}\s*(?:度|°c)({_DIGIT})?(?!\s*(?:角|烧伤|烫伤))", _temp, 34, 44),
    _p("glucose_mmol", "糖 glucose bg bs sugar",
       rf"(?:血糖|glucose|bgl|bsl|\bbg\b|sugar){_IS}(\d{{1,2}}(?:\.\d+)?)", _num(), 0.5, 60),
    _p("pain", "痛 pain nrs",
       rf"(?:疼痛评分|疼痛|痛|pain score|pain|nrs){_IS}(?:评分)?{_IS}(\d{{1,2}})"
       r"\s*(?:分|/\s*10|out of 10)",
       _num(), 0, 10),
)
# a digit, a Chinese numeral or an English ordinal floor ("fell from the third floor")
_ANY_NUMBER = re.compile(rf"[\d{_CN}]|\b(?:{'|'.join(_ORDINALS)})\b")


def _found(text: str, lexicon: Lexicon | None) -> Iterator[Reading]:
    if _ANY_NUMBER.search(text) is None:
        return
    for p in PATTERNS:
        if not any(n in text for n in p.needs):
            continue
        for m in p.regex.finditer(text):
            value = p.value(m)
            if value is None or not p.low <= value <= p.high:
                continue
            if p.also and lexicon is not None and negated_at(
                    text=text, lexicon=lexicon, start=m.start()):
                continue  # 没有从6楼摔下来, 不是孕32周: the event the number implies is denied
            value = round(value, 4)
            yield Reading(p.fact, int(value) if p.fact in _INTEGER else value,
                          m.group(0).strip(), f"NUM-{p.fact.upper()}", _accepts(p.fact, m, value))
            for fact, also in p.also:
                yield Reading(fact, also, m.group(0).strip(), f"NUM-{p.fact.upper()}")
            break  # the first reading of a pattern is enough


_INTEGER = frozenset({"spo2", "sbp", "dbp", "hr", "rr", "gcs", "gcs_motor", "pain"})


def _accepts(fact: str, m: re.Match[str], value: float) -> tuple[float, float] | None:
    """80多岁 agrees with an answered 80-89."""
    if fact == "age_years" and any(c in m.group(0) for c in "多几来"):
        return (value, value + 10)
    if fact == "age_years":
        return (value, value + 1)
    return None


@lru_cache(maxsize=4_096)
def read_numbers(text: str, lexicon: Lexicon | None = None) -> tuple[Reading, ...]:
    """Every fact the text's numbers give, first reading per fact, in pattern order. With
    the lexicon, a number whose event is negated (没有从6楼摔下来) is not read."""
    seen: set[str] = set()
    out: list[Reading] = []
    for r in _found(normalise(text), lexicon):
        if r.fact in seen:
            continue
        seen.add(r.fact)
        out.append(r)
    return tuple(out)


# Burned body surface as a percentage (烧伤面积30%, 30% tbsa): the burns card's number
# question, whose thresholds are the card's rules (ABA referral criteria).
_BURN_PERCENT = re.compile(
    rf"(?:烧伤|烫伤|烧|烫)\S{{0,4}}?面积\S{{0,4}}?(?:百分之\s*{NUM}|{NUM}\s*(?:%|个?百分点))"
    rf"|(?:百分之\s*{NUM}|{NUM}\s*%)\s*的?\s*(?:烧伤|烫伤|面积)"
    r"|\b(\d{1,3})\s*%\s*(?:tbsa|bsa|burns?|of (?:his|her|the) body)")
# the palmar method: the patient's palm with fingers is about 1% of body surface (ABA),
# read only in a text about a burn (两个巴掌 is a slap otherwise)
_BURN_PALMS = re.compile(rf"{NUM}\s*个\s*(?:巴掌|手掌)")
_BURN_WORDS = ("烫", "烧")
BURN_CARD, BURN_PERCENT_QUESTION = "burns", "burn_percent"


@lru_cache(maxsize=4_096)
def read_card_numbers(text: str, lexicon: Lexicon | None = None) -> tuple[CardText, ...]:
    """Card answers the text's numbers give: the burned body surface (percent)."""
    lowered = normalise(text)
    burn_text = any(w in lowered for w in _BURN_WORDS)
    if "%" not in lowered and "百分" not in lowered and not burn_text:
        return ()
    matches = [*_BURN_PERCENT.finditer(lowered),
               *(_BURN_PALMS.finditer(lowered) if burn_text else ())]
    for m in matches:
        value = cn_number(_first(m))
        if value is None or not 0 <= value <= 100:
            continue
        if lexicon is not None and negated_at(text=lowered, lexicon=lexicon, start=m.start()):
            continue
        phrase = m.group(0).strip()
        # a burned percentage names the burns card as well as answering it
        return (CardText(BURN_CARD, None, None, phrase, "NUM-BURN-PERCENT"),
                CardText(BURN_CARD, BURN_PERCENT_QUESTION, value, phrase, "NUM-BURN-PERCENT"))
    return ()
