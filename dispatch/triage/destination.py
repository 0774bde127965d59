"""Choose the receiving hospital: the closest by ETA that can do what the patient needs.

A hospital on diversion for a capability does not count as having it; on diversion for
"ed" it takes nobody; a capability it reports unavailable (cath lab busy, CT down) counts
as diverted, and an ED at capacity ranks as if it were further away (table `capacity`,
source OFFLOAD_HANDOVER). Stroke with suspected LVO weighs the thrombectomy centre against
the nearest thrombolysis centre with a bypass limit; STEMI checks the FMC-to-device
target; when no open hospital can meet a need, the need falls back step by step (table
`destination.json`) and the choice carries a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dispatch.domain import CAPABILITY_ZH, Capability, Need, Team, TransportClass
from dispatch.triage.inputs import Findings
from dispatch.triage.protocol import Protocol, load_protocol
from dispatch.triage.result import Reason, TriageResult

# Order in which needs are tried for the "primary" capability: the most specific first
# (dispatch.domain.Need is declared in that order).
NEED_ORDER: tuple[Need, ...] = tuple(n for n in Need if n is not Need.ED)


@dataclass(frozen=True, slots=True)
class HospitalOption:
    """A hospital as destination choice sees it: what it can do and how far it is."""

    hospital_id: str
    capabilities: frozenset[str]
    trauma_level: int | None
    diversion: frozenset[str]
    eta_s: float
    # Reported capacity (migration 0019): capabilities unavailable now, and whether the ED
    # is full (ed_full() of the centre's report).
    unavailable: frozenset[str] = frozenset()
    ed_full: bool = False


def ed_full(*, beds_available: int | None, at_capacity: bool) -> bool:
    """Whether a centre's ED is at capacity: declared full, or no bed available.

    Beds not reported (None) say nothing: the ED counts as having room, as before any
    report (a missing report must not send patients further away)."""
    return at_capacity or beds_available == 0


@dataclass(frozen=True, slots=True)
class DestinationChoice:
    """The chosen hospital (None if there is none to choose), the needs met, and why."""

    hospital_id: str | None
    needs: frozenset[str]
    eta_s: float | None
    reasons: tuple[Reason, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "hospital_id": self.hospital_id,
            "needs": sorted(self.needs),
            "eta_s": self.eta_s,
            "reasons": [r.to_dict() for r in self.reasons],
            "warnings": list(self.warnings),
        }


def meets(*, hospital: HospitalOption, need: str, protocol: Protocol) -> bool:
    """Whether a hospital, as it stands (diversion included), can meet one need."""
    if Capability.ED in hospital.diversion:
        return False
    spec = protocol.destination["need_capability"][need]
    capability = spec["capability"]
    if capability == Capability.ED:
        return True
    if capability not in hospital.capabilities or capability in hospital.diversion:
        return False
    if capability in hospital.unavailable:
        # Cath lab busy, CT down: it cannot serve this patient now, as if diverted
        # (table `capacity`; centres report it: POST /v1/hospitals/{id}/capacity).
        return False
    max_level = spec.get("max_trauma_level")
    if max_level is not None:
        return hospital.trauma_level is not None and hospital.trauma_level <= max_level
    return True


# Needs a requested hospital may meet another way. LVO: the stroke rule itself sends an LVO
# beyond the bypass limit to the nearest thrombolysis centre (STROKE_2018, `_lvo`); the crew
# on scene, who knows the traffic and the onset better, may make that call.
REQUEST_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    Need.THROMBECTOMY: (Need.THROMBECTOMY, Need.THROMBOLYSIS)}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a hospital cannot take a patient (the need it fails), in Chinese and English."""

    need: str
    zh: str
    en: str

    def text(self) -> str:
        """Both languages, Chinese first (the crew's)."""
        return f"{self.zh} / {self.en}"


def refusal(
    hospital: HospitalOption, needs: frozenset[str], *, protocol: Protocol | None = None
) -> Refusal | None:
    """Why a person's choice of hospital cannot meet the call's needs (None: it can).

    The same test as automatic choice (`meets`: capability, trauma level, diversion), with
    REQUEST_ALTERNATIVES; the most specific failing need is named.
    """
    protocol = protocol or load_protocol()
    hid = hospital.hospital_id
    if Capability.ED in hospital.diversion:
        return Refusal(Need.ED, f"{hid} 急诊科正在分流，暂停接收患者",
                       f"{hid}: the ED is on diversion")
    order: dict[str, int] = {n: i for i, n in enumerate(NEED_ORDER)}
    for need in sorted(needs - {Need.ED}, key=lambda n: (order.get(n, len(order)), n)):
        if any(meets(hospital=hospital, need=n, protocol=protocol)
               for n in REQUEST_ALTERNATIVES.get(need, (need,))):
            continue
        return _why_not(hospital, need, protocol)
    return None


def _why_not(hospital: HospitalOption, need: str, protocol: Protocol) -> Refusal:
    """The refusal for one need `meets` found unmet."""
    hid = hospital.hospital_id
    spec = protocol.destination["need_capability"][need]
    cap: str = spec["capability"]
    zh = CAPABILITY_ZH[Capability(cap)]
    if cap not in hospital.capabilities:
        return Refusal(need, f"{hid} 不具备{zh}能力", f"{hid} has no {cap} capability")
    if cap in hospital.diversion:
        return Refusal(need, f"{hid} {zh}正在分流", f"{hid} is diverting {cap}")
    if cap in hospital.unavailable:
        return Refusal(need, f"{hid} {zh}暂不可用", f"{hid} reports {cap} unavailable")
    level = spec.get("max_trauma_level")
    return Refusal(
        need,
        f"{hid} 创伤中心等级不足（需要{level}级或以上）",
        f"{hid} trauma level {hospital.trauma_level} is below the level {level} needed",
    )


def ranking_eta_s(hospital: HospitalOption, *, protocol: Protocol) -> float:
    """The ETA destination choice ranks a centre by: its ETA, plus the handover delay a
    full ED causes (table `capacity`, OFFLOAD_HANDOVER). Time rules (LVO bypass, STEMI
    FMC-to-device) use the plain ETA."""
    if hospital.ed_full:
        return hospital.eta_s + float(protocol.destination["capacity"]["ed_full_penalty_s"])
    return hospital.eta_s


def _able(
    *, options: Sequence[HospitalOption], needs: frozenset[str], protocol: Protocol
) -> list[HospitalOption]:
    """The hospitals meeting every need."""
    required = needs | {Need.ED}  # an ED on diversion takes nobody, whatever else it offers
    return [
        h for h in options if all(meets(hospital=h, need=n, protocol=protocol) for n in required)
    ]


def _nearest(
    *, options: Sequence[HospitalOption], needs: frozenset[str], protocol: Protocol
) -> HospitalOption | None:
    """The hospital meeting every need with the lowest ranking ETA (ties by id)."""
    able = _able(options=options, needs=needs, protocol=protocol)
    return min(able, key=lambda h: (ranking_eta_s(h, protocol=protocol), h.hospital_id),
               default=None)


def _relax(needs: frozenset[str], *, protocol: Protocol) -> frozenset[str] | None:
    """Needs with the most specific one replaced by its fallback (None: nothing left to relax)."""
    steps: dict[str, str] = protocol.destination["fallbacks"]["steps"]
    for need in NEED_ORDER:
        if need in needs:
            return (needs - {need}) | {steps[need]}
    return None


def _listed(needs: frozenset[str]) -> list[str]:
    """Needs as a reason lists them: their values, sorted (not Need's enum reprs)."""
    return sorted(map(str, needs))


def _reason(rule_id: str, text: str, text_zh: str, *, source_key: str,
            protocol: Protocol) -> Reason:
    """A destination reason citing a protocol source, in English and zh-CN."""
    return Reason(rule_id=rule_id, source=protocol.cite(source_key), text=text, text_zh=text_zh)


def _lvo(
    *,
    options: Sequence[HospitalOption],
    needs: frozenset[str],
    bypass_limit_s: float,
    protocol: Protocol,
) -> tuple[HospitalOption | None, frozenset[str], list[Reason], list[str]]:
    """LVO: thrombectomy centre within the bypass limit, else the nearest thrombolysis centre."""
    others = needs - {Need.THROMBECTOMY, Need.THROMBOLYSIS}
    ect = _nearest(options=options, needs=others | {"thrombectomy"}, protocol=protocol)
    lysis = _nearest(options=options, needs=others | {Need.THROMBOLYSIS}, protocol=protocol)
    src = protocol.destination["stroke"]["source"]
    if ect is None:
        return lysis, others | {"thrombolysis"}, [], ["no open thrombectomy-capable centre"]
    if lysis is None or ect.eta_s - lysis.eta_s <= bypass_limit_s:
        extra = 0.0 if lysis is None else ect.eta_s - lysis.eta_s
        text = (
            f"Suspected LVO: thrombectomy centre {ect.hospital_id}, {extra:.0f} s beyond the "
            f"nearest thrombolysis centre (bypass limit {bypass_limit_s:.0f} s)"
        )
        text_zh = (f"疑似大血管闭塞：送取栓中心 {ect.hospital_id}，比最近的溶栓中心多 "
                   f"{extra:.0f} 秒（绕行上限 {bypass_limit_s:.0f} 秒）")
        return (
            ect,
            others | {"thrombectomy"},
            [_reason("DEST-LVO-BYPASS", text, text_zh, source_key=src, protocol=protocol)],
            [],
        )
    text = (
        f"Suspected LVO: thrombectomy centre {ect.hospital_id} is {ect.eta_s - lysis.eta_s:.0f} s "
        f"further than thrombolysis centre {lysis.hospital_id} (limit {bypass_limit_s:.0f} s): "
        "nearest thrombolysis centre"
    )
    text_zh = (f"疑似大血管闭塞：取栓中心 {ect.hospital_id} 比溶栓中心 {lysis.hospital_id} 远 "
               f"{ect.eta_s - lysis.eta_s:.0f} 秒（上限 {bypass_limit_s:.0f} 秒）："
               "送最近的溶栓中心")
    warning = f"LVO taken to a thrombolysis centre: arrange onward transfer to {ect.hospital_id}"
    return (
        lysis,
        others | {Need.THROMBOLYSIS},
        [_reason("DEST-LVO-NEAREST-LYSIS", text, text_zh, source_key=src, protocol=protocol)],
        [warning],
    )


def _capacity_reasons(
    *,
    options: Sequence[HospitalOption],
    chosen: HospitalOption,
    met: frozenset[str],
    protocol: Protocol,
) -> list[Reason]:
    """A reason when nearer centres able to take the patient were passed over as full."""
    full = sorted(h.hospital_id for h in _able(options=options, needs=met, protocol=protocol)
                  if h.ed_full and h.eta_s < chosen.eta_s)
    if not full:
        return []
    capacity = protocol.destination["capacity"]
    text = (f"ED at capacity at nearer {', '.join(full)}: {chosen.hospital_id} preferred "
            f"(a full ED counts {capacity['ed_full_penalty_s']} s further)")
    text_zh = (f"较近的 {'、'.join(full)} 急诊已满：优先 {chosen.hospital_id}"
               f"（急诊满员按远 {capacity['ed_full_penalty_s']} 秒计）")
    return [_reason("DEST-ED-CAPACITY", text, text_zh, source_key=capacity["source"],
                    protocol=protocol)]


def _time_warnings(
    *,
    result: TriageResult,
    chosen: HospitalOption,
    met: frozenset[str],
    findings: Findings | None,
    now: datetime,
    protocol: Protocol,
) -> tuple[list[Reason], list[str]]:
    """STEMI FMC-to-device and stroke window checks at the projected arrival."""
    reasons: list[Reason] = []
    warnings: list[str] = []
    arrival = now + timedelta(seconds=chosen.eta_s)
    if Team.CATH_LAB in result.teams and Need.PCI in met:
        stemi = protocol.destination["stemi"]
        fmc = findings.first_medical_contact if findings else None
        if fmc is None:
            fmc = now
            warnings.append("first medical contact time unknown: FMC-to-device measured from now")
        device = arrival + timedelta(minutes=stemi["door_to_device_min"])
        projected_min = (device - fmc).total_seconds() / 60.0
        target = stemi["fmc_to_device_target_min"]
        text = f"Projected FMC-to-device {projected_min:.0f} min (target {target} min)"
        text_zh = f"预计首次医疗接触至开通血管 {projected_min:.0f} 分钟（目标 {target} 分钟）"
        reasons.append(_reason("DEST-STEMI-FMC", text, text_zh, source_key=stemi["source"],
                               protocol=protocol))
        if projected_min > target:
            warnings.append(
                f"FMC-to-device target of {target} min cannot be met "
                f"(projected {projected_min:.0f} min): consider fibrinolysis"
            )
    lkw = findings.last_known_well if findings else None
    if lkw is not None and Need.THROMBOLYSIS in met:
        window_h = float(protocol.constants["thrombolysis_window_h"])
        if arrival > lkw + timedelta(hours=window_h):
            warnings.append(
                f"arrives more than {window_h:g} h after last known well: "
                "outside the thrombolysis window"
            )
    return reasons, warnings


def choose_destination(
    result: TriageResult,
    options: Sequence[HospitalOption],
    *,
    findings: Findings | None = None,
    now: datetime,
    bypass_limit_s: float = 1800.0,
) -> DestinationChoice:
    """The closest capable receiving hospital for a triage result, with reasons and warnings."""
    protocol = load_protocol()
    if result.transport_class is TransportClass.NON_EMERGENCY:
        return DestinationChoice(
            hospital_id=None,
            needs=frozenset(),
            eta_s=None,
            reasons=(
                _reason(
                    "DEST-BOOKED",
                    "Non-emergency transport: destination is the booking's",
                    "非急救转运：目的地按预约",
                    source_key="PLANS_2023",
                    protocol=protocol,
                ),
            ),
            warnings=(),
        )
    wanted = frozenset(result.needs - {Need.ED})
    reasons: list[Reason] = []
    warnings: list[str] = []
    if "thrombectomy" in wanted:
        chosen, met, reasons, warnings = _lvo(
            options=options, needs=wanted, bypass_limit_s=bypass_limit_s, protocol=protocol
        )
    else:
        chosen, met = _nearest(options=options, needs=wanted, protocol=protocol), wanted
    fallback = protocol.destination["fallbacks"]
    while chosen is None:
        relaxed = _relax(met, protocol=protocol)
        if relaxed is None:
            break
        warnings.append(
            f"no open hospital meets {_listed(met - {Need.ED})}: "
            f"falling back to {_listed(relaxed - {Need.ED})}"
        )
        reasons.append(
            _reason(
                "DEST-FALLBACK", fallback["text"], fallback["text_zh"],
                source_key=fallback["source"], protocol=protocol
            )
        )
        met = frozenset(relaxed - {Need.ED})
        chosen = _nearest(options=options, needs=met, protocol=protocol)
    if chosen is None:
        # every hospital is on diversion: the nearest still has to take a 120 patient
        chosen = min(options, key=lambda h: (ranking_eta_s(h, protocol=protocol), h.hospital_id),
                     default=None)
        if chosen is None:
            return DestinationChoice(
                None, frozenset(), None, tuple(reasons), ("no hospitals given",)
            )
        warnings.append("every hospital is on diversion: nearest hospital chosen regardless")
    met = frozenset(met | {Need.ED})
    text = f"{chosen.hospital_id}: closest by ETA ({chosen.eta_s:.0f} s) meeting {_listed(met)}"
    text_zh = (f"{chosen.hospital_id}：满足 {_listed(met)} 且预计到达最近"
               f"（{chosen.eta_s:.0f} 秒）")
    reasons.append(_reason("DEST-NEAREST-CAPABLE", text, text_zh, source_key="PLANS_2023",
                           protocol=protocol))
    reasons += _capacity_reasons(options=options, chosen=chosen, met=met, protocol=protocol)
    if chosen.ed_full:
        warnings.append(f"{chosen.hospital_id} ED at capacity: expect a handover delay")
    more_reasons, more_warnings = _time_warnings(
        result=result, chosen=chosen, met=met, findings=findings, now=now, protocol=protocol
    )
    return DestinationChoice(
        hospital_id=chosen.hospital_id,
        needs=met,
        eta_s=chosen.eta_s,
        reasons=tuple(reasons + more_reasons),
        warnings=tuple(warnings + more_warnings),
    )
