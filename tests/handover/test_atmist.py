"""ATMIST summary: sections, vital-sign trends, ordering, text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dispatch.errors import HandoverError
from dispatch.handover.atmist import TREND_DOWN, TREND_FLAT, TREND_UP, build_atmist

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 1, 9, 40, tzinfo=CST)
NOW = T0 + timedelta(minutes=25)
CALL: dict[str, Any] = {
    "id": "7f0c3c9e-4c1a-4a54-9d0e-2a4b2c1d0e11",
    "complaint": "chest pain 胸痛",
    "answers": {"age_years": 67, "sex": "male", "onset_at": "2025-03-01T09:10:00+08:00"},
}


def vitals(minute: int, **values: Any) -> dict[str, Any]:
    return {"type": "vitals", "at": T0 + timedelta(minutes=minute), **values}


# (vital, readings in time order, first, last, min, max, arrow)
TRENDS: list[tuple[str, list[Any], Any, Any, Any, Any, str]] = [
    ("hr", [112], 112, 112, 112, 112, ""),  # one reading: no trend
    ("hr", [112, 120, 96], 112, 96, 96, 120, TREND_DOWN),
    ("hr", [90, 99], 90, 99, 90, 99, TREND_FLAT),  # 9 /min: within one NEWS2 band step
    ("hr", [90, 100], 90, 100, 90, 100, TREND_UP),
    ("sbp", [94, 78, 108], 94, 108, 78, 108, TREND_UP),
    ("spo2", [91, 92], 91, 92, 91, 92, TREND_FLAT),
    ("spo2", [91, 93], 91, 93, 91, 93, TREND_UP),
    ("rr", [24, 21], 24, 21, 21, 24, TREND_DOWN),
    ("temp_c", [38.4, 37.5], 38.4, 37.5, 37.5, 38.4, TREND_FLAT),
    ("gcs", [15, 14], 15, 14, 14, 15, TREND_DOWN),  # any GCS drop shows
    ("glucose_mmol", [2.1, 5.8], 2.1, 5.8, 2.1, 5.8, TREND_UP),
    ("pain", [8, 7], 8, 7, 7, 8, TREND_FLAT),
    ("pain", [8, 3], 8, 3, 3, 8, TREND_DOWN),
    ("avpu", ["A", "V", "P"], "A", "P", "P", "A", TREND_DOWN),
    ("avpu", ["U", "A"], "U", "A", "U", "A", TREND_UP),
]


@pytest.mark.parametrize(("code", "readings", "first", "last", "lo", "hi", "arrow"), TRENDS)
def test_trends(
    code: str, readings: list[Any], first: Any, last: Any, lo: Any, hi: Any, arrow: str
) -> None:
    findings = [vitals(i * 5, **{code: value}) for i, value in enumerate(readings)]
    atmist = build_atmist(call=CALL, findings=findings, now=NOW)
    sign = atmist.sign(code)
    assert sign is not None
    out = sign.to_dict()
    assert (out["first"], out["last"], out["min"], out["max"], out["trend"]) == (
        first,
        last,
        lo,
        hi,
        arrow,
    )
    assert out["count"] == len(readings)


def test_findings_out_of_order_are_sorted_by_source_time() -> None:
    # A tablet resent its buffer after a reconnect: the 09:50 set arrives first.
    findings = [vitals(10, hr=96), vitals(0, hr=130), vitals(5, hr=110)]
    sign = build_atmist(call=CALL, findings=findings, now=NOW).sign("hr")
    assert sign is not None
    assert (sign.first, sign.last, sign.arrow) == (130, 96, TREND_DOWN)
    assert sign.first_at == T0 and sign.last_at == T0 + timedelta(minutes=10)


def test_iso_text_times_from_storage_are_accepted() -> None:
    findings = [{"type": "vitals", "at": "2025-03-01T09:40:00+08:00", "hr": 80}]
    sign = build_atmist(call=CALL, findings=findings, now=NOW).sign("hr")
    assert sign is not None and sign.first_at == T0


def test_unmeasured_vitals_and_other_frames_are_left_out() -> None:
    findings = [vitals(0, hr=80), {"type": "position", "at": T0, "lon": 118.0, "lat": 32.0}]
    atmist = build_atmist(call=CALL, findings=findings, now=NOW)
    assert [s.code for s in atmist.signs] == ["hr"]


def test_sections_of_a_stemi_patient() -> None:
    findings = [
        vitals(0, hr=112, sbp=94, dbp=60, spo2=91),
        {
            "type": "ecg",
            "at": T0 + timedelta(minutes=2),
            "rhythm": "sinus_tachycardia",
            "st_elevation_leads": ["II", "III", "aVF"],
            "stemi": True,
        },
        {
            "type": "treatment",
            "at": T0 + timedelta(minutes=5),
            "kind": "medication",
            "name": "aspirin",
            "dose": {"value": 300, "unit": "mg"},
            "route": "po",
        },
        vitals(10, hr=96, sbp=108, dbp=68, spo2=97),
    ]
    atmist = build_atmist(call=CALL, findings=findings, now=NOW)
    data = atmist.to_dict()
    assert data["age"] == {"years": 67.0, "text": "67 y"}
    assert data["sex"] == "male"
    assert data["time_of_onset"] == {
        "at": "2025-03-01T09:10:00+08:00",
        "source": "reported",
        "minutes_ago": 55,
    }
    assert data["complaint"] == "chest pain 胸痛"
    assert data["findings"] == ["ECG: STEMI (ST↑ II, III, aVF), sinus tachycardia"]
    assert data["treatments"][0]["dose"] == "300 mg"
    text = atmist.to_text()
    for heading in (
        "A 年龄 Age",
        "T 发病时间 Time of onset",
        "M 机制/主诉",
        "I 损伤/发现",
        "S 体征 Signs",
        "T 处置 Treatment",
    ):
        assert heading in text
    assert "BP 94/60→108/68 ↑" in text
    assert "HR 112→96 ↓" in text
    assert "09:45 aspirin 300 mg po" in text
    # About 30 s read aloud: a short page, one line per letter plus a title.
    assert len(text.splitlines()) == 7
    assert len(text) < 700


def test_trauma_patient_mechanism_and_latest_injuries() -> None:
    findings = [
        {
            "type": "injuries",
            "at": T0,
            "injuries": [{"region": "head", "kind": "laceration"}],
            "mechanism": "fall from 3 m",
        },
        {
            "type": "injuries",
            "at": T0 + timedelta(minutes=4),
            "injuries": [
                {"region": "head", "kind": "laceration"},
                {"region": "lower_limb", "kind": "open_fracture", "side": "left"},
            ],
            "mechanism": None,
        },
    ]
    call = {"id": CALL["id"], "complaint": "", "answers": {"age_years": 0.05, "sex": "female"}}
    atmist = build_atmist(call=call, findings=findings, now=NOW)
    assert atmist.mechanism == "fall from 3 m"  # a later frame without one keeps it
    assert atmist.injuries == ("laceration head", "open fracture lower limb (left)")
    assert atmist.to_dict()["age"]["text"] == "18 d"
    assert atmist.onset_at is None
    text = atmist.to_text()
    assert "unknown 不详" in text
    assert "female 女" in text


def test_stroke_last_known_well_stands_in_for_onset() -> None:
    findings = [
        {
            "type": "stroke",
            "at": T0,
            "lams": 4,
            "befast": {"face": True, "arm": True, "speech": False},
            "last_known_well": "2025-03-01T07:30:00+08:00",
        }
    ]
    call = {"id": CALL["id"], "complaint": "weakness", "answers": {"age_years": 1.5}}
    atmist = build_atmist(call=call, findings=findings, now=NOW)
    assert atmist.onset_source == "last_known_well"
    assert atmist.findings == ("Stroke: LAMS 4, BE-FAST face+arm",)
    assert "07:30 (2 h 35 min ago last known well 最后正常)" in atmist.to_text()
    assert atmist.to_dict()["age"]["text"] == "18 mo"


def test_nothing_known_yet() -> None:
    atmist = build_atmist(call={"answers": {}}, findings=[], now=NOW)
    text = atmist.to_text()
    assert "Age: unknown 不详" in text
    assert "Signs: none 无" in text
    assert atmist.to_dict()["signs"] == []


BAD: list[tuple[str, dict[str, Any], list[dict[str, Any]], datetime, str]] = [
    ("naive now", CALL, [], NOW.replace(tzinfo=None), "now"),
    ("finding without time", CALL, [{"type": "vitals", "hr": 80}], NOW, "findings[0].at"),
    (
        "naive finding time",
        CALL,
        [{"type": "vitals", "at": "2025-03-01T09:40:00", "hr": 80}],
        NOW,
        "findings[0].at",
    ),
    (
        "garbage time",
        CALL,
        [{"type": "vitals", "at": "yesterday", "hr": 80}],
        NOW,
        "findings[0].at",
    ),
    ("bad AVPU", CALL, [vitals(0, avpu="Q")], NOW, "avpu"),
]


@pytest.mark.parametrize(("why", "call", "findings", "now", "field"), BAD)
def test_bad_input(
    why: str, call: dict[str, Any], findings: list[dict[str, Any]], now: datetime, field: str
) -> None:
    with pytest.raises(HandoverError) as info:
        build_atmist(call=call, findings=findings, now=now)
    assert info.value.field == field, why


def test_text_times_are_the_centres_with_the_zone_named() -> None:
    """The service's clock is UTC; the crew and the hospital read Beijing time."""
    findings = [{"type": "treatment", "at": T0.astimezone(UTC), "name": "Aspirin"}]
    call = {**CALL, "answers": {**CALL["answers"], "onset_at": "2025-03-01T01:10:00+00:00"}}
    atmist = build_atmist(call=call, findings=findings, now=NOW.astimezone(UTC))
    text = atmist.to_text()
    assert text.startswith("ATMIST 交接 handover  2025-03-01 10:05 (Asia/Shanghai, UTC+08:00)")
    assert "09:40 Aspirin" in text
    assert "Time of onset: 09:10 (55 min ago)" in text
    other = atmist.to_text(time_zone="Europe/London")
    assert other.startswith("ATMIST 交接 handover  2025-03-01 02:05 (Europe/London, UTC+00:00)")
    assert "01:40 Aspirin" in other
