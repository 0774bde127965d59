"""Destination choice: capability, diversion, LVO bypass, STEMI time, trauma levels, fallback."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from dispatch.triage import (
    Answers,
    Findings,
    HospitalOption,
    TriageResult,
    choose_destination,
    retriage,
    triage_call,
)
from dispatch.triage.destination import DestinationChoice, Refusal, ed_full, refusal
from dispatch.triage.protocol import load_protocol
from tests.triage.cases import NOW, OK, SCREEN_CLEAR, hours_ago


def h(
    hid: str,
    eta: float,
    caps: set[str] = frozenset(),
    level: int | None = None,
    diversion: set[str] = frozenset(),
) -> HospitalOption:
    return HospitalOption(hid, frozenset(caps), level, frozenset(diversion), eta)


CITY = [
    h("community", 300),
    h("district", 600, {"thrombolysis", "maternal", "trauma"}, level=3),
    h("regional", 900, {"pci", "thrombolysis", "trauma", "paediatric"}, level=2),
    h(
        "university",
        1500,
        {"pci", "thrombolysis", "thrombectomy", "trauma", "neonatal", "maternal", "paediatric"},
        level=1,
    ),
]

STEMI = retriage(
    Answers(**OK, age_years=60, chest_pain=True),
    Findings(ecg={"stemi": True}),
    complaint="",
    now=NOW,
)
LVO = retriage(
    Answers(**OK, age_years=70, arm_weakness=True, onset_at=hours_ago(1)),
    Findings(stroke={"lams": 5}),
    complaint="",
    now=NOW,
)
RED = triage_call(
    Answers(**OK, age_years=30, mechanism="fall", injuries=["pelvic_fracture"]),
    complaint="",
    now=NOW,
)
YELLOW = triage_call(
    Answers(**OK, age_years=30, mechanism="fall", fall_height_m=5), complaint="", now=NOW
)
LEVEL_IV = triage_call(Answers(**OK, age_years=30, chest_pain=False), complaint="", now=NOW)
BOOKED = triage_call(
    Answers(age_years=70, booking_reason="dialysis", **SCREEN_CLEAR), complaint="", now=NOW
)
BLEEDING_PREGNANT = triage_call(
    Answers(**OK, age_years=30, pregnant=True, gestation_weeks=30, vaginal_bleeding=True),
    complaint="",
    now=NOW,
)


@pytest.mark.parametrize(
    ("name", "result", "options", "bypass", "expected", "rule", "warned"),
    [
        (
            "no special need: nearest ED",
            LEVEL_IV,
            CITY,
            1800,
            "community",
            "DEST-NEAREST-CAPABLE",
            False,
        ),
        ("STEMI: nearest PCI", STEMI, CITY, 1800, "regional", "DEST-STEMI-FMC", True),
        (
            "STEMI, regional diverting PCI",
            STEMI,
            [*CITY[:2], h("regional", 900, {"pci", "trauma"}, 2, {"pci"}), CITY[3]],
            1800,
            "university",
            "DEST-STEMI-FMC",
            True,
        ),
        ("red trauma: level 1 only", RED, CITY, 1800, "university", "DEST-NEAREST-CAPABLE", False),
        (
            "yellow trauma: level 2 will do",
            YELLOW,
            CITY,
            1800,
            "regional",
            "DEST-NEAREST-CAPABLE",
            False,
        ),
        ("LVO within bypass limit", LVO, CITY, 1800, "university", "DEST-LVO-BYPASS", False),
        ("LVO bypass exactly at the limit", LVO, CITY, 900, "university", "DEST-LVO-BYPASS", False),
        ("LVO beyond bypass limit", LVO, CITY, 899, "district", "DEST-LVO-NEAREST-LYSIS", True),
        ("maternal", BLEEDING_PREGNANT, CITY, 1800, "district", "DEST-NEAREST-CAPABLE", False),
        (
            "maternal, district closed to all",
            BLEEDING_PREGNANT,
            [CITY[0], h("district", 600, {"maternal"}, None, {"ed"}), *CITY[2:]],
            1800,
            "university",
            "DEST-NEAREST-CAPABLE",
            False,
        ),
        (
            "red trauma, no level 1 open: level 2 with warning",
            RED,
            [*CITY[:3], h("university", 1500, {"trauma"}, 1, {"trauma"})],
            1800,
            "regional",
            "DEST-FALLBACK",
            True,
        ),
        (
            "every hospital diverting: nearest anyway",
            LEVEL_IV,
            [h("a", 700, diversion={"ed"}), h("b", 400, diversion={"ed"})],
            1800,
            "b",
            "DEST-NEAREST-CAPABLE",
            True,
        ),
    ],
)
def test_destination(
    name: str,
    result: TriageResult,
    options: list[HospitalOption],
    bypass: float,
    expected: str,
    rule: str,
    warned: bool,
) -> None:
    choice = choose_destination(result, options, now=NOW, bypass_limit_s=bypass)
    assert choice.hospital_id == expected, choice.to_dict()
    assert rule in [r.rule_id for r in choice.reasons]
    assert bool(choice.warnings) is warned, choice.warnings
    orjson.dumps(choice.to_dict())
    _in_chinese(choice)


def _in_chinese(choice: DestinationChoice) -> None:
    """Every destination reason has its zh-CN wording beside the English one."""
    assert choice.reasons
    for reason in choice.reasons:
        assert re.search(r"[\u4e00-\u9fff]", reason.text_zh) and reason.text, reason.rule_id


def test_stemi_fmc_to_device_warning() -> None:
    far = [h("far-pci", 75 * 60, {"pci"})]
    findings = Findings(ecg={"stemi": True}, first_medical_contact=NOW - timedelta(minutes=20))
    # 20 min since FMC + 75 min travel + 30 min door-to-device = 125 min > 120
    choice = choose_destination(STEMI, far, findings=findings, now=NOW)
    assert choice.hospital_id == "far-pci"
    assert any("cannot be met" in w for w in choice.warnings)
    # 15 min since FMC: 120 min exactly, within target
    findings = Findings(ecg={"stemi": True}, first_medical_contact=NOW - timedelta(minutes=15))
    choice = choose_destination(STEMI, far, findings=findings, now=NOW)
    assert not choice.warnings


def test_stemi_without_fmc_time_warns_that_now_was_used() -> None:
    choice = choose_destination(STEMI, CITY, now=NOW)
    assert any("first medical contact" in w for w in choice.warnings)


def test_thrombolysis_window_lapses_before_arrival() -> None:
    findings = Findings(last_known_well=hours_ago(4.4), stroke={"facial_droop": True})
    result = retriage(Answers(**OK, age_years=70), findings, complaint="", now=NOW)
    choice = choose_destination(result, CITY, findings=findings, now=NOW)
    assert choice.hospital_id == "district"  # 600 s away: 4.4 h + 10 min > 4.5 h
    assert any("thrombolysis window" in w for w in choice.warnings)


def test_lvo_with_no_thrombectomy_centre_goes_to_lysis_with_warning() -> None:
    choice = choose_destination(LVO, CITY[:3], now=NOW)
    assert choice.hospital_id == "district"
    assert choice.warnings
    assert "no open thrombectomy-capable centre" in choice.warnings


def test_non_emergency_has_no_hospital_choice() -> None:
    choice = choose_destination(BOOKED, CITY, now=NOW)
    assert choice.hospital_id is None
    _in_chinese(choice)
    assert choice.needs == frozenset()


def test_no_hospitals() -> None:
    choice = choose_destination(LEVEL_IV, [], now=NOW)
    assert choice.hospital_id is None and choice.warnings
    assert "no hospitals given" in choice.warnings


def test_equal_eta_breaks_ties_by_id() -> None:
    choice = choose_destination(LEVEL_IV, [h("b", 300), h("a", 300)], now=NOW)
    assert choice.hospital_id == "a"


# ---------------------------------------------------------------- a person's choice (refusal)


@pytest.mark.parametrize(
    ("name", "hospital", "needs", "refused_need", "zh", "en"),
    [
        ("ED on diversion takes nobody", h("x", 0, {"pci"}, diversion={"ed"}), {"ed"},
         "ed", "急诊科正在分流", "the ED is on diversion"),
        ("capability missing", CITY[1], {"pci", "ed"}, "pci", "不具备急诊PCI", "has no pci"),
        ("capability diverted", h("x", 0, {"pci"}, diversion={"pci"}), {"pci"}, "pci",
         "急诊PCI（导管室）正在分流", "is diverting pci"),
        ("trauma level too low", CITY[1], {"trauma_1"}, "trauma_1", "创伤中心等级不足",
         "trauma level 3 is below the level 1"),
        ("the most specific failing need is named", CITY[0], {"neonatal", "thrombectomy"},
         "thrombectomy", "血管内取栓", "has no thrombectomy"),
    ],
)
def test_refusal_names_the_unmet_need(
    name: str, hospital: HospitalOption, needs: set[str], refused_need: str, zh: str, en: str
) -> None:
    got = refusal(hospital, frozenset(needs))
    assert got is not None, name
    assert got.need == refused_need
    assert zh in got.zh and en in got.en
    assert got.text() == f"{got.zh} / {got.en}"


@pytest.mark.parametrize(
    ("name", "hospital", "needs"),
    [
        ("plain ED", CITY[0], {"ed"}),
        ("every need met", CITY[3], {"pci", "trauma_1", "ed"}),
        ("a higher trauma level meets a lower one", CITY[3], {"trauma_2"}),
        ("LVO may go to a thrombolysis centre (STROKE_2018 bypass)", CITY[1], {"thrombectomy"}),
        ("another capability's diversion does not matter", h("x", 0, {"pci"}, diversion={"ct"}),
         {"pci"}),
    ],
)
def test_refusal_accepts_a_hospital_that_meets_the_needs(
    name: str, hospital: HospitalOption, needs: set[str]
) -> None:
    assert refusal(hospital, frozenset(needs)) is None, name


# ---------------------------------------------------------------- reported capacity


def cap(option: HospitalOption, *, unavailable: set[str] = frozenset(),
        full: bool = False) -> HospitalOption:
    return replace(option, unavailable=frozenset(unavailable), ed_full=full)


@pytest.mark.parametrize(
    ("beds", "at_capacity", "full"),
    [(None, False, False), (0, False, True), (3, False, False), (3, True, True),
     (None, True, True)],
)
def test_ed_full_is_declared_or_no_bed(beds: int | None, at_capacity: bool, full: bool) -> None:
    assert ed_full(beds_available=beds, at_capacity=at_capacity) is full


def test_unavailable_capability_counts_as_diverted() -> None:
    assert choose_destination(STEMI, CITY, now=NOW).hospital_id == "regional"
    # the regional cath lab is busy: the next PCI centre, as if regional diverted PCI
    city = [CITY[0], CITY[1], cap(CITY[2], unavailable={"pci"}), CITY[3]]
    assert choose_destination(STEMI, city, now=NOW).hospital_id == "university"
    got = refusal(city[2], frozenset({"pci"}))
    assert got is not None and "暂不可用" in got.zh and "reports pci unavailable" in got.en
    # another capability's unavailability leaves PCI alone
    city = [CITY[0], CITY[1], cap(CITY[2], unavailable={"paediatric"}), CITY[3]]
    assert choose_destination(STEMI, city, now=NOW).hospital_id == "regional"


def test_full_ed_ranks_as_if_further_by_the_handover_delay() -> None:
    # community (300 s) is full: 300 + 900 > district's 600 s
    city = [cap(CITY[0], full=True), *CITY[1:]]
    choice = choose_destination(LEVEL_IV, city, now=NOW)
    assert choice.hospital_id == "district"
    assert "DEST-ED-CAPACITY" in [r.rule_id for r in choice.reasons]
    assert not any("at capacity" in w for w in choice.warnings)
    _in_chinese(choice)


def test_full_ed_still_chosen_when_the_next_is_further_than_the_delay() -> None:
    # community full (300 + 900 s) beats university at 1500 s: the patient still goes
    # there, warned of the delay
    city = [cap(CITY[0], full=True), CITY[3]]
    choice = choose_destination(LEVEL_IV, city, now=NOW)
    assert choice.hospital_id == "community"
    assert "DEST-ED-CAPACITY" not in [r.rule_id for r in choice.reasons]
    assert "community ED at capacity: expect a handover delay" in choice.warnings


def test_every_ed_full_goes_to_the_nearest() -> None:
    city = [cap(o, full=True) for o in CITY]
    assert choose_destination(LEVEL_IV, city, now=NOW).hospital_id == "community"


def _worded(choice: DestinationChoice) -> tuple[Any, ...]:
    return (choice.hospital_id, sorted(choice.needs), choice.eta_s, choice.warnings,
            [(r.rule_id, r.text, r.text_zh) for r in choice.reasons])


def test_destination_reasons_and_warnings_are_worded_exactly() -> None:
    assert _worded(choose_destination(STEMI, CITY, now=NOW)) == (
        "regional", ["ed", "pci"], 900,
        ("first medical contact time unknown: FMC-to-device measured from now",),
        [("DEST-NEAREST-CAPABLE", "regional: closest by ETA (900 s) meeting ['ed', 'pci']",
          "regional：满足 ['ed', 'pci'] 且预计到达最近（900 秒）"),
         ("DEST-STEMI-FMC", "Projected FMC-to-device 45 min (target 120 min)",
          "预计首次医疗接触至开通血管 45 分钟（目标 120 分钟）")])
    assert _worded(choose_destination(LVO, CITY, now=NOW, bypass_limit_s=899)) == (
        "district", ["ed", "thrombolysis"], 600,
        ("LVO taken to a thrombolysis centre: arrange onward transfer to university",),
        [("DEST-LVO-NEAREST-LYSIS",
          "Suspected LVO: thrombectomy centre university is 900 s further than thrombolysis "
          "centre district (limit 899 s): nearest thrombolysis centre",
          "疑似大血管闭塞：取栓中心 university 比溶栓中心 district 远 900 秒（上限 899 秒）："
          "送最近的溶栓中心"),
         ("DEST-NEAREST-CAPABLE",
          "district: closest by ETA (600 s) meeting ['ed', 'thrombolysis']",
          "district：满足 ['ed', 'thrombolysis'] 且预计到达最近（600 秒）")])
    assert _worded(choose_destination(LVO, CITY, now=NOW))[3:] == ((), [
        ("DEST-LVO-BYPASS",
         "Suspected LVO: thrombectomy centre university, 900 s beyond the nearest "
         "thrombolysis centre (bypass limit 1800 s)",
         "疑似大血管闭塞：送取栓中心 university，比最近的溶栓中心多 900 秒（绕行上限 1800 秒）"),
        ("DEST-NEAREST-CAPABLE",
         "university: closest by ETA (1500 s) meeting ['ed', 'thrombectomy']",
         "university：满足 ['ed', 'thrombectomy'] 且预计到达最近（1500 秒）")])
    fallback = load_protocol().destination["fallbacks"]
    no_level_1 = [*CITY[:3], h("university", 1500, {"trauma"}, 1, {"trauma"})]
    assert _worded(choose_destination(RED, no_level_1, now=NOW))[1:] == (
        ["ed", "trauma_2"], 900,
        ("no open hospital meets ['trauma_1']: falling back to ['trauma_2']",),
        [("DEST-FALLBACK", fallback["text"], fallback["text_zh"]),
         ("DEST-NEAREST-CAPABLE", "regional: closest by ETA (900 s) meeting ['ed', 'trauma_2']",
          "regional：满足 ['ed', 'trauma_2'] 且预计到达最近（900 秒）")])
    full = choose_destination(LEVEL_IV, [cap(CITY[0], full=True), *CITY[1:]], now=NOW)
    assert _worded(full)[4][1] == (
        "DEST-ED-CAPACITY",
        "ED at capacity at nearer community: district preferred (a full ED counts 900 s "
        "further)", "较近的 community 急诊已满：优先 district（急诊满员按远 900 秒计）")
    assert [r.source for r in full.reasons] == [
        load_protocol().cite("PLANS_2023"),
        load_protocol().cite(load_protocol().destination["capacity"]["source"])]


def test_the_choice_as_json() -> None:
    body = choose_destination(STEMI, CITY, now=NOW).to_dict()
    assert (body["hospital_id"], body["needs"], body["eta_s"], body["warnings"]) == (
        "regional", ["ed", "pci"], 900,
        ["first medical contact time unknown: FMC-to-device measured from now"])
    assert [r["rule_id"] for r in body["reasons"]] == ["DEST-NEAREST-CAPABLE", "DEST-STEMI-FMC"]
    assert set(body) == {"hospital_id", "needs", "eta_s", "reasons", "warnings"}


def test_lvo_without_the_other_kind_of_stroke_centre() -> None:
    # no thrombectomy centre: thrombolysis is the need met
    assert choose_destination(LVO, CITY[:3], now=NOW).needs == {"ed", "thrombolysis"}
    # no thrombolysis centre: the thrombectomy centre, nothing beyond anything
    only_ect = choose_destination(LVO, [h("ect", 500, {"thrombectomy"})], now=NOW)
    assert only_ect.reasons[0].text == (
        "Suspected LVO: thrombectomy centre ect, 0 s beyond the nearest thrombolysis centre "
        "(bypass limit 1800 s)")


@pytest.mark.parametrize(("hospital", "needs", "refused"), [
    (h("x", 0, {"pci"}, diversion={"ed"}), {"ed"},
     Refusal("ed", "x 急诊科正在分流，暂停接收患者", "x: the ED is on diversion")),
    # a need met does not stop the next one being checked
    (CITY[2], {"pci", "trauma_1"},
     Refusal("trauma_1", "regional 创伤中心等级不足（需要1级或以上）",
             "regional trauma level 2 is below the level 1 needed")),
    (cap(CITY[2], unavailable={"pci"}), {"pci"},
     Refusal("pci", "regional 急诊PCI（导管室）暂不可用", "regional reports pci unavailable")),
])
def test_a_refusal_in_full(hospital: HospitalOption, needs: set[str], refused: Refusal) -> None:
    assert refusal(hospital, frozenset(needs)) == refused


def test_every_full_nearer_centre_is_named() -> None:
    city = [cap(h("a", 100), full=True), cap(h("b", 200), full=True), h("c", 600)]
    choice = choose_destination(LEVEL_IV, city, now=NOW)
    assert choice.reasons[1].text == (
        "ED at capacity at nearer a, b: c preferred (a full ED counts 900 s further)")
    assert choice.reasons[1].text_zh == "较近的 a、b 急诊已满：优先 c（急诊满员按远 900 秒计）"


@pytest.mark.parametrize(("lkw_before_arrival_h", "warned"), [(4.5, False), (4.5 + 1 / 3600, True),
                                                              (1, False)])
def test_thrombolysis_window_at_arrival_from_both_sides(lkw_before_arrival_h: float,
                                                        warned: bool) -> None:
    # district is 600 s away: arrival is NOW + 600 s; the window is 4.5 h
    lkw = NOW + timedelta(seconds=600) - timedelta(hours=lkw_before_arrival_h)
    findings = Findings(last_known_well=lkw, stroke={"facial_droop": True})
    result = retriage(Answers(**OK, age_years=70), findings, complaint="", now=NOW)
    choice = choose_destination(result, CITY, findings=findings, now=NOW)
    assert choice.hospital_id == "district"
    assert choice.warnings == (("arrives more than 4.5 h after last known well: outside the "
                                "thrombolysis window",) if warned else ())


def test_no_fmc_to_device_figure_without_a_pci_centre() -> None:
    # the cath lab team is wanted, but PCI fell back to the ED: no FMC-to-device to project
    choice = choose_destination(STEMI, [CITY[0]], now=NOW)
    assert "DEST-STEMI-FMC" not in [r.rule_id for r in choice.reasons]
    assert not any("FMC" in w for w in choice.warnings)


def test_a_booking_names_no_hospital_and_warns_of_nothing() -> None:
    choice = choose_destination(BOOKED, CITY, now=NOW)
    assert ([(r.rule_id, r.text, r.text_zh, r.source) for r in choice.reasons],
            choice.warnings, choice.eta_s) == (
        [("DEST-BOOKED", "Non-emergency transport: destination is the booking's",
          "非急救转运：目的地按预约", load_protocol().cite("PLANS_2023"))], (), None)


def test_no_hospitals_in_full() -> None:
    assert choose_destination(LEVEL_IV, [], now=NOW) == DestinationChoice(
        None, frozenset(), None, (), ("no hospitals given",))


def test_every_hospital_diverting_still_ranks_a_full_ed_further() -> None:
    # b is nearer but full (400 + 900 s): a, at 700 s, takes the patient
    city = [h("a", 700, diversion={"ed"}), cap(h("b", 400, diversion={"ed"}), full=True)]
    choice = choose_destination(LEVEL_IV, city, now=NOW)
    assert choice.hospital_id == "a"
    assert choice.warnings == (
        "every hospital is on diversion: nearest hospital chosen regardless",)
