"""Turn answers and findings into the flat facts the rule tables read.

Crew findings are newer than the call-taker's answers, so where both speak (stroke
signs, mechanism, injuries) the finding wins; vital signs read from the complaint text
fill only what the crew has not measured. Facts derived here because they need
arithmetic: age in days, hours since last known well, the age-adjusted systolic floor
(its bands are data in protocol.json), the shock index, the qSOFA score, and STEMI from
the ECG's leads when the crew gave no STEMI answer (lead groups in protocol.json).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dispatch.errors import TriageError
from dispatch.triage.cards import CARD_FACT, CARDS_FACT
from dispatch.triage.inputs import Answers, Findings

STROKE_SIGNS = ("facial_droop", "arm_weakness", "speech_difficulty", "balance_loss", "vision_loss")
VITALS = (
    "hr",
    "sbp",
    "dbp",
    "spo2",
    "rr",
    "temp_c",
    "gcs",
    "gcs_motor",
    "avpu",
    "glucose_mmol",
    "pain",
)

# Facts only the crew can supply, and the input path the engine names when it lacks one.
FINDING_INPUTS: dict[str, str] = {
    **{v: v for v in VITALS},
    "stemi": "ecg.stemi",
    "ecg_rhythm": "ecg.rhythm",
    "lams": "stroke.lams",
    "race": "stroke.race",
}
DERIVED = ("age_days", "hours_since_lkw", "sbp_floor_age", "shock_index", "qsofa")
# with the chief-complaint card the call was taken on (dispatch.triage.cards), or None, and
# the cards whose rules apply (that card, or those the complaint text names)
KNOWN_FACTS = (frozenset(Answers.model_fields) | frozenset(FINDING_INPUTS) | frozenset(DERIVED)
               | {CARD_FACT, CARDS_FACT})

SECONDS_PER_HOUR = 3600.0
DAYS_PER_YEAR = 365.25


def sbp_floor(
    *, age_years: float | None, bands: Sequence[tuple[float | None, float, float]]
) -> float | None:
    """The age-adjusted hypotension threshold (mmHg) from the protocol's bands."""
    if age_years is None:
        return None
    for below, base, per_year in bands:
        if below is None or age_years < below:
            return base + per_year * int(age_years)
    return None


def stemi_from_leads(
    leads: Iterable[str], *, groups: Sequence[frozenset[str]]
) -> bool:
    """ST elevation in two leads of one contiguous group (lead names matched case-blind)."""
    named = {lead.strip().lower() for lead in leads}
    return any(len(named & group) >= 2 for group in groups)


def shock_index(hr: float | None, sbp: float | None) -> float | None:
    """HR / SBP, None when either is unknown (or SBP is 0: arrest rules decide that)."""
    if hr is None or not sbp:
        return None
    return hr / sbp


def qsofa(facts: Mapping[str, Any], *, alert: int) -> int | None:
    """qSOFA points (RR >= 22, altered mentation, SBP <= 100), or None while the criteria
    not yet known could still decide whether the score reaches `alert`."""
    rr, sbp, gcs, avpu, conscious = (
        facts.get("rr"), facts.get("sbp"), facts.get("gcs"), facts.get("avpu"),
        facts.get("conscious"))
    avpu = getattr(avpu, "value", avpu)
    if gcs is not None:
        altered: bool | None = gcs < 15
    elif avpu is not None:
        altered = avpu != "alert"
    else:
        altered = True if conscious is False else None
    criteria = (None if rr is None else rr >= 22, altered,
                None if sbp is None else sbp <= 100)
    met = sum(c is True for c in criteria)
    unknown = sum(c is None for c in criteria)
    if met >= alert or met + unknown < alert or unknown == 0:
        return met
    return None


def _finding_facts(
    findings: Findings, *, lead_groups: Sequence[frozenset[str]]
) -> dict[str, Any]:
    """The facts the crew's findings supply (each overrides the answer it names)."""
    facts: dict[str, Any] = {name: getattr(findings, name) for name in VITALS}
    if findings.ecg is not None:
        facts["stemi"] = findings.ecg.stemi
        if facts["stemi"] is None and findings.ecg.st_elevation_leads is not None:
            facts["stemi"] = stemi_from_leads(
                findings.ecg.st_elevation_leads, groups=lead_groups)
        facts["ecg_rhythm"] = findings.ecg.rhythm
    if findings.stroke is not None:
        facts["lams"] = findings.stroke.lams
        facts["race"] = findings.stroke.race
        for sign in STROKE_SIGNS:
            if getattr(findings.stroke, sign) is not None:
                facts[sign] = getattr(findings.stroke, sign)
    if findings.mechanism is not None:
        facts["mechanism"] = findings.mechanism
    if findings.injuries is not None:
        facts["injuries"] = findings.injuries
    return facts


def build_facts(
    *,
    answers: Answers,
    findings: Findings | None,
    now: datetime,
    floor_bands: Sequence[tuple[float | None, float, float]],
    future_tolerance_s: float,
    text_vitals: Mapping[str, Any] | None = None,
    lead_groups: Sequence[frozenset[str]] = (),
    qsofa_alert: int = 2,
) -> dict[str, Any]:
    """Flat facts from answers (already keyword-filled), findings and the vital signs
    read from the complaint text (used only where the crew has not measured them)."""
    facts: dict[str, Any] = answers.model_dump()
    for name in VITALS:
        facts[name] = None
    if findings is not None:
        facts.update(_finding_facts(findings, lead_groups=lead_groups))
    for name, value in (text_vitals or {}).items():
        if facts.get(name) is None:
            facts[name] = value
    for name in FINDING_INPUTS:
        facts.setdefault(name, None)
    facts["shock_index"] = shock_index(facts["hr"], facts["sbp"])
    facts["qsofa"] = qsofa(facts, alert=qsofa_alert)
    age = answers.age_years
    # rounded so an age given as days / 365.25 converts back to whole days exactly
    facts["age_days"] = None if age is None else round(age * DAYS_PER_YEAR, 6)
    facts["sbp_floor_age"] = sbp_floor(age_years=age, bands=floor_bands)
    lkw = findings.last_known_well if findings and findings.last_known_well else answers.onset_at
    facts["hours_since_lkw"] = None
    if lkw is not None:
        elapsed_s = (now - lkw).total_seconds()
        if elapsed_s < -future_tolerance_s:
            field = "last_known_well" if findings and findings.last_known_well else "onset_at"
            raise TriageError("onset / last known well is in the future", field=field)
        facts["hours_since_lkw"] = max(0.0, elapsed_s) / SECONDS_PER_HOUR
    return facts


def input_name(fact: str, *, with_findings: bool) -> str | None:
    """The answer or finding the engine should ask for to learn a fact (None: not askable)."""
    if fact in ("age_days", "sbp_floor_age"):
        return "age_years"
    if fact in ("shock_index", "qsofa"):
        return None  # read from vital signs the crew reports anyway; nothing to ask
    if fact == "hours_since_lkw":
        return "last_known_well" if with_findings else "onset_at"
    if fact in FINDING_INPUTS:
        return FINDING_INPUTS[fact] if with_findings else None
    return fact
