"""ATMIST: the spoken prehospital handover, built from the call and the crew's findings.

Age, Time of onset, Mechanism or medical complaint, Injuries or findings, Signs (with
trends), Treatment: the structure UK and Chinese EMS use to hand a patient over in about
30 seconds (JRCALC guidelines, 2019; the 院前急救 handover forms follow the same order).
Pure: the caller passes the call row, the findings (crew frames as mappings, as stored)
and `now`.

`call` keys read: "id", "complaint", and from "answers" (or the top level when absent
there) "age_years", "sex", "onset_at".
`findings`: mappings with "type" (vitals, ecg, stroke, injuries, treatment; other types
are ignored) and "at" (datetime or ISO 8601 text), the fields of the matching crew frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.errors import HandoverError

__all__ = ["Atmist", "TreatmentLine", "VitalSpec", "VitalTrend", "VITALS", "build_atmist"]

# Times printed for people are the centre's local time (DISPATCH_DISPLAY_TIMEZONE's default).
CENTRE_TIME_ZONE = "Asia/Shanghai"

TREND_UP = "↑"
TREND_DOWN = "↓"
TREND_FLAT = "→"

_AVPU_LEVEL = {"A": 3, "V": 2, "P": 1, "U": 0}
_AVPU_LETTER = {v: k for k, v in _AVPU_LEVEL.items()}


@dataclass(frozen=True, slots=True)
class VitalSpec:
    """How to show one vital sign and how big a change earns a trend arrow."""

    code: str
    label: str
    unit: str
    step: float
    source: str


# A change smaller than `step` between the first and last reading shows as stable.
VITALS: tuple[VitalSpec, ...] = (
    VitalSpec("hr", "HR", "/min", 10, "NEWS2 heart-rate bands are 10-20 /min wide (RCP, 2017)"),
    VitalSpec("sbp", "SBP", "mmHg", 10, "NEWS2 systolic bands are 10 mmHg wide (RCP, 2017)"),
    VitalSpec("dbp", "DBP", "mmHg", 10, "same step as systolic (NEWS2, RCP, 2017)"),
    VitalSpec("spo2", "SpO2", "%", 2, "NEWS2 SpO2 scale 1 bands are 2 % wide (RCP, 2017)"),
    VitalSpec("rr", "RR", "/min", 3, "NEWS2 respiration bands are 3-4 /min wide (RCP, 2017)"),
    VitalSpec("temp_c", "T", "°C", 1.0, "NEWS2 temperature bands are 1 °C wide (RCP, 2017)"),
    VitalSpec(
        "gcs",
        "GCS",
        "",
        1,
        "a sustained 1-point drop in GCS prompts urgent reappraisal (NICE head injury, 2023)",
    ),
    VitalSpec("avpu", "AVPU", "", 1, "any change of AVPU level is reported (NEWS2, RCP, 2017)"),
    VitalSpec(
        "glucose_mmol",
        "Glu",
        "mmol/L",
        1.0,
        "point-of-care meters read within ±0.83 mmol/L below 5.55 (ISO 15197:2013)",
    ),
    VitalSpec(
        "pain",
        "Pain",
        "/10",
        2,
        "2 points is the minimal important change on the 0-10 NRS (Farrar et al., Pain 2001)",
    ),
)
_SPEC = {spec.code: spec for spec in VITALS}


@dataclass(frozen=True, slots=True)
class VitalTrend:
    """First, last and extreme readings of one vital sign, and which way it went."""

    code: str
    unit: str
    first: float
    last: float
    minimum: float
    maximum: float
    count: int
    first_at: datetime
    last_at: datetime
    arrow: str  # ↑ ↓ → ; empty with a single reading

    def show(self, value: float) -> str:
        """One reading as printed (AVPU as its letter)."""
        if self.code == "avpu":
            return _AVPU_LETTER[int(value)]
        return _number(value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (AVPU readings as letters)."""
        value = self.show if self.code == "avpu" else _plain
        return {
            "code": self.code,
            "unit": self.unit,
            "first": value(self.first),
            "last": value(self.last),
            "min": value(self.minimum),
            "max": value(self.maximum),
            "count": self.count,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "trend": self.arrow,
        }


@dataclass(frozen=True, slots=True)
class TreatmentLine:
    at: datetime
    kind: str  # procedure | medication
    name: str
    code: str | None = None
    dose: str | None = None  # "300 mg"
    route: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "name": self.name,
            "code": self.code,
            "dose": self.dose,
            "route": self.route,
        }


@dataclass(frozen=True, slots=True)
class Atmist:
    """The handover summary of one patient."""

    call_id: str | None
    generated_at: datetime
    age_years: float | None
    sex: str | None
    onset_at: datetime | None
    onset_source: str | None  # "reported" (caller) | "last_known_well" (crew stroke scale)
    complaint: str | None
    mechanism: str | None
    injuries: tuple[str, ...]
    findings: tuple[str, ...]
    signs: tuple[VitalTrend, ...]
    treatments: tuple[TreatmentLine, ...]

    def sign(self, code: str) -> VitalTrend | None:
        """The trend of one vital sign, if measured."""
        return next((s for s in self.signs if s.code == code), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, the handover endpoint's JSON answer."""
        return {
            "call_id": self.call_id,
            "generated_at": self.generated_at.isoformat(),
            "age": {"years": self.age_years, "text": _age_text(self.age_years)},
            "sex": self.sex,
            "time_of_onset": {
                "at": None if self.onset_at is None else self.onset_at.isoformat(),
                "source": self.onset_source,
                "minutes_ago": self._onset_minutes(),
            },
            "mechanism": self.mechanism,
            "complaint": self.complaint,
            "injuries": list(self.injuries),
            "findings": list(self.findings),
            "signs": [s.to_dict() for s in self.signs],
            "treatments": [t.to_dict() for t in self.treatments],
        }

    def to_text(self, *, time_zone: str = CENTRE_TIME_ZONE) -> str:
        """Printable handover, read aloud in about 30 s; headings in Chinese and English;
        clock times in the centre's zone (`time_zone`), named in the first line."""
        tz = ZoneInfo(time_zone)
        generated = self.generated_at.astimezone(tz)
        offset = generated.strftime("%z")
        lines = [
            f"ATMIST 交接 handover  {generated:%Y-%m-%d %H:%M} "
            f"({time_zone}, UTC{offset[:3]}:{offset[3:]})"
            + (f"  call {self.call_id}" if self.call_id else ""),
            f"A 年龄 Age: {_age_text(self.age_years) or 'unknown 不详'}"
            + (f", {_SEX_TEXT.get(self.sex or '', self.sex)}" if self.sex else ""),
            f"T 发病时间 Time of onset: {self._onset_text(tz)}",
            f"M 机制/主诉 Mechanism/complaint: {self._mechanism_text()}",
            f"I 损伤/发现 Injuries/findings: {_join([*self.injuries, *self.findings])}",
            f"S 体征 Signs: {_signs_text(self.signs)}",
            f"T 处置 Treatment: {self._treatment_text(tz)}",
        ]
        return "\n".join(lines) + "\n"

    def _onset_minutes(self) -> int | None:
        if self.onset_at is None:
            return None
        return int((self.generated_at - self.onset_at).total_seconds() // 60)

    def _onset_text(self, tz: tzinfo) -> str:
        if self.onset_at is None:
            return "unknown 不详"
        when = f"{self.onset_at.astimezone(tz):%H:%M}"
        source = " last known well 最后正常" if self.onset_source == "last_known_well" else ""
        return f"{when} ({_duration(self._onset_minutes() or 0)} ago{source})"

    def _mechanism_text(self) -> str:
        parts = [p for p in (self.mechanism, self.complaint) if p]
        return "; ".join(parts) if parts else "unknown 不详"

    def _treatment_text(self, tz: tzinfo) -> str:
        items = [
            f"{t.at.astimezone(tz):%H:%M} " + " ".join(p for p in (t.name, t.dose, t.route) if p)
            for t in self.treatments
        ]
        return _join(items, limit=6)


_SEX_TEXT = {"male": "male 男", "female": "female 女", "unknown": "sex unknown 性别不详"}


def build_atmist(
    *, call: Mapping[str, Any], findings: Sequence[Mapping[str, Any]], now: datetime
) -> Atmist:
    """Summarise a call and the crew's findings as an ATMIST handover."""
    if now.tzinfo is None:
        raise HandoverError("now must carry a timezone", field="now")
    answers = call.get("answers") or {}
    # Tablets buffer and resend: order by the source's clock, stably for equal times.
    ordered = sorted(
        ((_time(f.get("at"), field=f"findings[{i}].at"), i, f) for i, f in enumerate(findings)),
        key=lambda item: (item[0], item[1]),
    )
    by_type: dict[str, list[tuple[datetime, Mapping[str, Any]]]] = {}
    for at, _, finding in ordered:
        by_type.setdefault(str(finding.get("type")), []).append((at, finding))

    onset_at, onset_source = _onset(answers, call, by_type.get("stroke", []))
    injuries_frames = by_type.get("injuries", [])
    latest_injuries = injuries_frames[-1][1] if injuries_frames else None
    mechanisms = [f.get("mechanism") for _, f in injuries_frames if f.get("mechanism")]
    age = _answer(answers, call, "age_years")
    sex = _answer(answers, call, "sex")
    complaint = str(call.get("complaint") or "").strip() or None
    return Atmist(
        call_id=None if call.get("id") is None else str(call["id"]),
        generated_at=now,
        age_years=None if age is None else float(age),
        sex=None if sex is None else str(sex),
        onset_at=onset_at,
        onset_source=onset_source,
        complaint=complaint,
        mechanism=str(mechanisms[-1]) if mechanisms else None,
        injuries=_injuries(latest_injuries),
        findings=_findings(by_type),
        signs=_trends(by_type.get("vitals", [])),
        treatments=tuple(_treatment(at, f) for at, f in by_type.get("treatment", [])),
    )


# ---------------------------------------------------------------------------- sections


def _answer(answers: Mapping[str, Any], call: Mapping[str, Any], key: str) -> Any:
    value = answers.get(key)
    return call.get(key) if value is None else value


def _onset(
    answers: Mapping[str, Any],
    call: Mapping[str, Any],
    strokes: list[tuple[datetime, Mapping[str, Any]]],
) -> tuple[datetime | None, str | None]:
    """The caller's reported onset, else the crew's last-known-well time."""
    reported = _answer(answers, call, "onset_at")
    if reported is not None:
        return _time(reported, field="call.answers.onset_at"), "reported"
    for _, stroke in reversed(strokes):
        if stroke.get("last_known_well") is not None:
            return _time(stroke["last_known_well"], field="last_known_well"), "last_known_well"
    return None, None


def _injuries(frame: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The latest injury list (each injuries frame replaces the one before)."""
    if frame is None:
        return ()
    lines = []
    for injury in frame.get("injuries") or ():
        words = [_words(injury.get("kind")), _words(injury.get("region"))]
        if injury.get("side"):
            words.append(f"({injury['side']})")
        if injury.get("note"):
            words.append(f"- {injury['note']}")
        lines.append(" ".join(w for w in words if w))
    return tuple(lines)


def _findings(by_type: Mapping[str, list[tuple[datetime, Mapping[str, Any]]]]) -> tuple[str, ...]:
    """The latest ECG and stroke assessment, in words."""
    out = []
    if ecgs := by_type.get("ecg"):
        ecg = ecgs[-1][1]
        leads = ", ".join(str(lead) for lead in ecg.get("st_elevation_leads") or ())
        head = "ECG: STEMI" if ecg.get("stemi") else "ECG: no STEMI"
        out.append(head + (f" (ST↑ {leads})" if leads else "") + f", {_words(ecg.get('rhythm'))}")
    if strokes := by_type.get("stroke"):
        stroke = strokes[-1][1]
        parts = []
        if stroke.get("lams") is not None:
            parts.append(f"LAMS {stroke['lams']}")
        if stroke.get("race") is not None:
            parts.append(f"RACE {stroke['race']}")
        befast = stroke.get("befast") or {}
        positive = [
            item for item in ("balance", "eyes", "face", "arm", "speech") if befast.get(item)
        ]
        if befast:
            parts.append("BE-FAST " + ("+".join(positive) if positive else "negative"))
        out.append("Stroke: " + ", ".join(parts))
    return tuple(out)


def _trends(vitals: list[tuple[datetime, Mapping[str, Any]]]) -> tuple[VitalTrend, ...]:
    """First, last, min, max and arrow per vital sign measured at least once."""
    out = []
    for spec in VITALS:
        readings = [
            (at, _reading(spec.code, frame[spec.code]))
            for at, frame in vitals
            if frame.get(spec.code) is not None
        ]
        if not readings:
            continue
        values = [v for _, v in readings]
        first, last = values[0], values[-1]
        change = last - first
        if len(values) == 1:
            arrow = ""
        elif change >= spec.step:
            arrow = TREND_UP
        elif change <= -spec.step:
            arrow = TREND_DOWN
        else:
            arrow = TREND_FLAT
        out.append(
            VitalTrend(
                code=spec.code,
                unit=spec.unit,
                first=first,
                last=last,
                minimum=min(values),
                maximum=max(values),
                count=len(values),
                first_at=readings[0][0],
                last_at=readings[-1][0],
                arrow=arrow,
            )
        )
    return tuple(out)


def _reading(code: str, value: Any) -> float:
    if code == "avpu":
        letter = str(value)
        if letter not in _AVPU_LEVEL:
            raise HandoverError(f"unknown AVPU value {letter!r}", field="avpu")
        return float(_AVPU_LEVEL[letter])
    number = float(value)
    if not math.isfinite(number):
        raise HandoverError(f"{code} is not a finite number", field=code)
    return number


def _treatment(at: datetime, frame: Mapping[str, Any]) -> TreatmentLine:
    dose = frame.get("dose")
    return TreatmentLine(
        at=at,
        kind=str(frame.get("kind")),
        name=str(frame.get("name")),
        code=None if frame.get("code") is None else str(frame["code"]),
        dose=None if not dose else f"{_number(float(dose['value']))} {dose['unit']}",
        route=None if frame.get("route") is None else str(frame["route"]),
    )


# ---------------------------------------------------------------------------- text


def _signs_text(signs: tuple[VitalTrend, ...]) -> str:
    by_code = {s.code: s for s in signs}
    items = []
    sbp, dbp = by_code.get("sbp"), by_code.get("dbp")
    for sign in signs:
        spec = _SPEC[sign.code]
        if sign.code == "dbp" and sbp is not None:
            continue  # shown with the systolic as BP
        if sign.code == "sbp" and dbp is not None:
            first = f"{sign.show(sign.first)}/{dbp.show(dbp.first)}"
            last = f"{sign.show(sign.last)}/{dbp.show(dbp.last)}"
            items.append(_trend_text("BP", first, last, sign))
            continue
        items.append(_trend_text(spec.label, sign.show(sign.first), sign.show(sign.last), sign))
    return _join(items, limit=len(VITALS))


def _trend_text(label: str, first: str, last: str, sign: VitalTrend) -> str:
    if sign.count == 1:
        text = f"{label} {last}"
    elif first == last:
        text = f"{label} {last} {sign.arrow}"  # same reading at both ends: say it once
    else:
        text = f"{label} {first}→{last} {sign.arrow}"
    # Extremes in between matter: a BP that dipped to 70 and came back is not "stable".
    extremes = []
    if sign.minimum < min(sign.first, sign.last):
        extremes.append(f"min {sign.show(sign.minimum)}")
    if sign.maximum > max(sign.first, sign.last):
        extremes.append(f"max {sign.show(sign.maximum)}")
    return text + (f" ({', '.join(extremes)})" if extremes else "")


def _join(items: Sequence[str], *, limit: int = 5) -> str:
    if not items:
        return "none 无"
    shown = list(items[:limit])
    if len(items) > limit:
        shown.append(f"+{len(items) - limit} more")
    return "; ".join(shown)


def _age_text(age_years: float | None) -> str | None:
    if age_years is None:
        return None
    days = age_years * 365.25
    if days < 28:  # neonatal period: the first 28 days (WHO)
        return f"{int(days)} d"
    if age_years < 2:
        return f"{int(age_years * 12)} mo"
    return f"{int(age_years)} y"


def _duration(minutes: int) -> str:
    hours, mins = divmod(max(minutes, 0), 60)
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def _words(value: Any) -> str:
    return "" if value is None else str(value).replace("_", " ")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _time(value: Any, *, field: str) -> datetime:
    """A tz-aware datetime from a datetime or ISO 8601 text."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise HandoverError(f"{field} is not an ISO 8601 time", field=field) from None
    else:
        raise HandoverError(f"{field} is missing", field=field)
    if at.tzinfo is None:
        raise HandoverError(f"{field} has no timezone", field=field)
    return at
