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


# ---------------------------------------------------------------------------- exact output


def _full_case() -> Any:
    findings = [
        vitals(0, hr=112, sbp=94, dbp=60, spo2=91, temp_c=38.25, gcs=14, avpu="V", pain=8),
        {"type": "ecg", "at": T0 + timedelta(minutes=1), "stemi": False, "rhythm": None},
        {"type": "ecg", "at": T0 + timedelta(minutes=2), "rhythm": "atrial_fibrillation"},
        {"type": "injuries", "at": T0, "mechanism": "motorcycle collision",
         "injuries": [{"kind": "abrasion", "region": "left_arm", "note": "gravel"}]},
        {"type": "treatment", "at": T0 + timedelta(minutes=3), "kind": "procedure",
         "name": "oxygen", "code": "O2", "dose": {"value": 2.5, "unit": "L/min"},
         "route": None},
        vitals(4, hr=70, sbp=70, dbp=40, spo2=91, gcs=14, avpu="A"),
        vitals(8, hr=112, sbp=100, dbp=62, spo2=93, temp_c=37.25, gcs=15, avpu="A", pain=4),
        {"type": "stroke", "at": T0 + timedelta(minutes=6), "race": 2,
         "befast": {"balance": False, "face": False}},
    ]
    call = {"id": 42, "complaint": "  ", "age_years": 80.5, "sex": "unknown",
            "answers": {"age_years": None}, "onset_at": "2025-03-01T08:00:00+08:00"}
    return build_atmist(call=call, findings=findings, now=NOW)


def test_every_section_to_text_exactly() -> None:
    assert _full_case().to_text() == (
        "ATMIST 交接 handover  2025-03-01 10:05 (Asia/Shanghai, UTC+08:00)  call 42\n"
        "A 年龄 Age: 80 y, sex unknown 性别不详\n"
        "T 发病时间 Time of onset: 08:00 (2 h 5 min ago)\n"
        "M 机制/主诉 Mechanism/complaint: motorcycle collision\n"
        "I 损伤/发现 Injuries/findings: abrasion left arm - gravel; ECG: no STEMI, atrial "
        "fibrillation; Stroke: RACE 2, BE-FAST negative\n"
        "S 体征 Signs: HR 112 → (min 70); BP 94/60→100/62 → (min 70); SpO2 91→93 ↑; "
        "T 38.2→37.2 ↓; GCS 14→15 ↑; AVPU V→A ↑; Pain 8→4 ↓\n"
        "T 处置 Treatment: 09:43 oxygen 2.5 L/min\n"
    )


def test_every_section_to_dict_exactly() -> None:
    data = _full_case().to_dict()
    assert {k: v for k, v in data.items() if k not in ("signs", "treatments")} == {
        "call_id": "42",
        "generated_at": NOW.isoformat(),
        "age": {"years": 80.5, "text": "80 y"},
        "sex": "unknown",
        "time_of_onset": {"at": "2025-03-01T08:00:00+08:00", "source": "reported",
                          "minutes_ago": 125},
        "mechanism": "motorcycle collision",
        "complaint": None,
        "injuries": ["abrasion left arm - gravel"],
        "findings": ["ECG: no STEMI, atrial fibrillation", "Stroke: RACE 2, BE-FAST negative"],
    }
    assert data["treatments"] == [{
        "at": (T0 + timedelta(minutes=3)).isoformat(), "kind": "procedure", "name": "oxygen",
        "code": "O2", "dose": "2.5 L/min", "route": None}]
    signs = {s["code"]: s for s in data["signs"]}
    assert list(signs) == ["hr", "sbp", "dbp", "spo2", "temp_c", "gcs", "avpu", "pain"]
    assert signs["temp_c"] == {
        "code": "temp_c", "unit": "°C", "first": 38.25, "last": 37.25, "min": 37.25,
        "max": 38.25, "count": 2, "first_at": T0.isoformat(),
        "last_at": (T0 + timedelta(minutes=8)).isoformat(), "trend": TREND_DOWN}
    assert signs["avpu"] == {
        "code": "avpu", "unit": "", "first": "V", "last": "A", "min": "V", "max": "A",
        "count": 3, "first_at": T0.isoformat(),
        "last_at": (T0 + timedelta(minutes=8)).isoformat(), "trend": TREND_UP}
    assert (signs["sbp"]["unit"], signs["spo2"]["unit"], signs["pain"]["unit"]) == (
        "mmHg", "%", "/10")


@pytest.mark.parametrize(("readings", "arrow"), [
    ([100, 90], TREND_DOWN),  # exactly one step down
    ([100, 91], TREND_FLAT),
    ([100, 109], TREND_FLAT),
    ([100, 110], TREND_UP),  # exactly one step up
    ([100, 100], TREND_FLAT),
])
def test_a_trend_needs_a_full_step(readings: list[int], arrow: str) -> None:
    findings = [vitals(i, hr=v) for i, v in enumerate(readings)]
    sign = build_atmist(call=CALL, findings=findings, now=NOW).sign("hr")
    assert sign is not None and sign.arrow == arrow


@pytest.mark.parametrize(("readings", "text"), [
    ([80], "HR 80"),
    ([80, 80], "HR 80 →"),
    ([80, 130, 80], "HR 80 → (max 130)"),
    ([80, 50, 130, 85], "HR 80→85 → (min 50, max 130)"),
    ([80.5, 90.25], "HR 80.5→90.2 →"),
])
def test_signs_text(readings: list[float], text: str) -> None:
    findings = [vitals(i, hr=v) for i, v in enumerate(readings)]
    assert f"Signs: {text}\n" in build_atmist(call=CALL, findings=findings, now=NOW).to_text()


@pytest.mark.parametrize(("values", "text"), [
    ({"sbp": 120}, "SBP 120"),
    ({"dbp": 80}, "DBP 80"),
    ({"sbp": 120, "dbp": 80}, "BP 120/80"),
    ({"rr": 18, "glucose_mmol": 5.5}, "RR 18; Glu 5.5"),
])
def test_blood_pressure_is_one_item_only_with_both_halves(values: dict[str, float],
                                                          text: str) -> None:
    atmist = build_atmist(call=CALL, findings=[vitals(0, **values)], now=NOW)
    assert f"Signs: {text}\n" in atmist.to_text()


@pytest.mark.parametrize(("years", "text"), [
    (27.99 / 365.25, "27 d"),  # the neonatal period is the first 28 days
    (28.01 / 365.25, "0 mo"),
    (1.99, "23 mo"),
    (2.0, "2 y"),
    (0.0, "0 d"),
])
def test_age_text_boundaries(years: float, text: str) -> None:
    call = {"answers": {"age_years": years}}
    assert build_atmist(call=call, findings=[], now=NOW).to_dict()["age"]["text"] == text


@pytest.mark.parametrize(("onset", "minutes", "text"), [
    (NOW - timedelta(minutes=59, seconds=59), 59, "09:05 (59 min ago)"),
    (NOW - timedelta(minutes=60), 60, "09:05 (1 h 0 min ago)"),
    (NOW + timedelta(seconds=30), -1, "10:05 (0 min ago)"),  # a clock ahead: never negative
])
def test_onset_minutes_and_duration(onset: datetime, minutes: int, text: str) -> None:
    call = {"answers": {"onset_at": onset.isoformat()}}
    atmist = build_atmist(call=call, findings=[], now=NOW)
    assert atmist.to_dict()["time_of_onset"]["minutes_ago"] == minutes
    assert f"Time of onset: {text}\n" in atmist.to_text()


def test_lists_are_cut_with_a_count_of_the_rest() -> None:
    treatments = [{"type": "treatment", "at": T0 + timedelta(minutes=i), "name": f"drug{i}"}
                  for i in range(7)]
    injuries = {"type": "injuries", "at": T0,
                "injuries": [{"kind": "bruise", "region": f"r{i}"} for i in range(6)]}
    text = build_atmist(call=CALL, findings=[*treatments, injuries], now=NOW).to_text()
    assert "Treatment: " + "; ".join(f"09:4{i} drug{i}" for i in range(6)) + "; +1 more\n" in text
    assert "findings: " + "; ".join(f"bruise r{i}" for i in range(5)) + "; +1 more\n" in text
    six = build_atmist(call=CALL, findings=treatments[:6], now=NOW).to_text()
    assert "+1 more" not in six and "09:45 drug5\n" in six


def test_the_latest_frames_win_and_equal_times_keep_their_order() -> None:
    findings = [
        {"type": "stroke", "at": T0, "last_known_well": "2025-03-01T07:30:00+08:00"},
        {"type": "stroke", "at": T0 + timedelta(minutes=1), "lams": 2},
        {"type": "ecg", "at": T0, "stemi": True, "rhythm": "sinus"},
        {"type": "ecg", "at": T0, "stemi": False, "rhythm": "sinus"},
        vitals(3, hr=90),
        vitals(3, hr=120),
    ]
    call = {"answers": {}}
    atmist = build_atmist(call=call, findings=findings, now=NOW)
    # the later stroke frame has no last-known-well time: the earlier one's stands
    assert atmist.onset_at == datetime(2025, 3, 1, 7, 30, tzinfo=CST)
    assert atmist.onset_source == "last_known_well"
    assert atmist.findings == ("ECG: no STEMI, sinus", "Stroke: LAMS 2")
    sign = atmist.sign("hr")
    assert sign is not None and (sign.first, sign.last) == (90, 120)
    assert atmist.call_id is None and atmist.sign("spo2") is None


def test_the_call_row_stands_in_for_missing_answers() -> None:
    call = {"id": "c1", "complaint": " fall 跌倒 ", "age_years": 70, "sex": "female",
            "answers": {"age_years": 71}}
    atmist = build_atmist(call=call, findings=[], now=NOW)
    assert (atmist.age_years, atmist.sex, atmist.complaint) == (71.0, "female", "fall 跌倒")
    assert "M 机制/主诉 Mechanism/complaint: fall 跌倒\n" in atmist.to_text()
    odd = build_atmist(call={"sex": "intersex"}, findings=[], now=NOW)
    assert "A 年龄 Age: unknown 不详, intersex\n" in odd.to_text()
    assert "handover  2025-03-01 10:05 (Asia/Shanghai, UTC+08:00)\n" in odd.to_text()
    assert "Mechanism/complaint: unknown 不详\n" in odd.to_text()


def test_a_treatment_with_nothing_but_a_time() -> None:
    line = build_atmist(call=CALL, findings=[{"type": "treatment", "at": T0}],
                        now=NOW).treatments[0]
    assert line.to_dict() == {"at": T0.isoformat(), "kind": "None", "name": "None",
                              "code": None, "dose": None, "route": None}


@pytest.mark.parametrize(("finding", "field", "message"), [
    (vitals(0, hr=float("nan")), "hr", "hr is not a finite number"),
    (vitals(0, spo2="inf"), "spo2", "spo2 is not a finite number"),
    (vitals(0, avpu="Q"), "avpu", "unknown AVPU value 'Q'"),
    ({"type": "vitals", "at": 1740793200}, "findings[0].at", "findings[0].at is missing"),
    ({"type": "vitals", "at": "2025-03-01T09:40"}, "findings[0].at",
     "findings[0].at has no timezone"),
    ({"type": "vitals", "at": "soon"}, "findings[0].at",
     "findings[0].at is not an ISO 8601 time"),
    ({"type": "stroke", "at": T0, "last_known_well": "2025-03-01T07:30"}, "last_known_well",
     "last_known_well has no timezone"),
])
def test_bad_findings_say_what_is_wrong(finding: dict[str, Any], field: str,
                                        message: str) -> None:
    with pytest.raises(HandoverError) as info:
        build_atmist(call={"answers": {}}, findings=[finding], now=NOW)
    assert (info.value.field, info.value.message) == (field, message)


def test_a_bad_reported_onset_names_the_answer() -> None:
    with pytest.raises(HandoverError) as info:
        build_atmist(call={"answers": {"onset_at": "at nine"}}, findings=[], now=NOW)
    assert info.value.field == "call.answers.onset_at"
    with pytest.raises(HandoverError) as naive:
        build_atmist(call={"answers": {}}, findings=[], now=NOW.replace(tzinfo=None))
    assert (naive.value.field, naive.value.message) == ("now", "now must carry a timezone")


def test_small_things_said_exactly() -> None:
    findings = [
        {"type": "stroke", "at": T0, "befast": dict.fromkeys(
            ("balance", "eyes", "face", "arm", "speech"), True)},
        {"type": "injuries", "at": T0, "mechanism": "fall", "injuries": [{"region": "head"}]},
        vitals(0, temp_c=37.0),
    ]
    call = {"complaint": "chest pain", "answers": {"onset_at": NOW.isoformat()}}
    atmist = build_atmist(call=call, findings=findings, now=NOW)
    assert atmist.findings == ("Stroke: BE-FAST balance+eyes+face+arm+speech",)
    assert atmist.injuries == ("head",)
    assert atmist.sex is None
    text = atmist.to_text()
    assert "\nA 年龄 Age: unknown 不详\n" in text
    assert "\nT 发病时间 Time of onset: 10:05 (0 min ago)\n" in text
    assert "\nM 机制/主诉 Mechanism/complaint: fall; chest pain\n" in text
    temp = atmist.to_dict()["signs"][0]
    assert temp["first"] == 37 and type(temp["first"]) is int  # a whole reading prints bare
    unknown = build_atmist(call={"answers": {}}, findings=[], now=NOW).to_text()
    assert "\nT 发病时间 Time of onset: unknown 不详\n" in unknown
