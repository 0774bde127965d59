"""Crew frames as triage findings, and when they are worth a re-triage (pure).

The tablet's vocabulary (dispatch.handover.messages) is richer than the triage engine's
(dispatch.triage.Findings): this module maps one onto the other, keeps the latest value
of each finding, and says whether a new frame can change the triage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dispatch.triage import Findings

__all__ = [
    "CONDITION_RHYTHMS",
    "RETRIAGE_EVERY",
    "FindingsFold",
    "FrameKey",
    "RetriagePolicy",
    "conditions_of",
    "merge_findings",
]

# Frames whose every arrival can move the patient to another pathway or centre: a STEMI
# ECG sends a chest pain patient to a PCI centre (ESC STEMI guideline 2017: direct
# transfer to the cath lab), a stroke scale to a thrombectomy centre (AHA/ASA 2019:
# LAMS >= 4 suggests large vessel occlusion), injuries to a trauma centre (ACS field
# triage guideline 2021).
ALWAYS_RETRIAGE = frozenset({"ecg", "stroke", "injuries"})
# Vital signs come at up to 1 Hz; one triage costs about a millisecond. Re-triage on
# them at most this often per call, except when consciousness changes (GCS / AVPU carry
# level I-II thresholds in vitals.json: GRADING_2011, AVPU_2004).
RETRIAGE_EVERY = timedelta(seconds=5)
_CONSCIOUSNESS = ("gcs", "avpu")

_AVPU = {"A": "alert", "V": "voice", "P": "pain", "U": "unresponsive"}
_RHYTHM = {
    "sinus": "sinus",
    "sinus_tachycardia": "sinus_tachycardia",
    "sinus_bradycardia": "sinus_bradycardia",
    "atrial_fibrillation": "af",
    "atrial_flutter": "other",
    "svt": "svt",
    "vt": "vt",
    "vf": "vf",
    "av_block_2": "high_grade_av_block",
    "av_block_3": "high_grade_av_block",
    "asystole": "asystole",
    "pea": "pea",
    "paced": "other",
    "other": "other",
}
# Rhythms of cardiac arrest (ERC guidelines 2021: shockable VF/pulseless VT, and
# non-shockable asystole/PEA); VT is reported as arrest only when the crew says so.
CONDITION_RHYTHMS = frozenset({"vf", "asystole", "pea"})
_TORSO = frozenset({"head", "neck", "chest", "abdomen", "back"})
_MECHANISMS = frozenset({
    "road_traffic", "motorcycle_or_bicycle", "pedestrian_struck", "fall", "assault",
    "stab_or_gunshot", "crush", "burn", "other",
})
_VITALS = ("hr", "sbp", "dbp", "spo2", "rr", "gcs", "glucose_mmol", "pain")


def _injury_codes(injuries: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """Crew injuries as the field-triage criteria of dispatch.triage (ACS, 2021)."""
    codes: set[str] = set()
    fractures = 0
    for item in injuries:
        region, kind = item.get("region"), item.get("kind")
        if kind == "penetrating" and region in _TORSO:
            codes.add("penetrating_head_neck_torso")
        elif kind == "deformity" and region == "head":
            codes.add("skull_deformity")
        elif kind in ("suspected_fracture", "open_fracture") and region == "pelvis":
            codes.add("pelvic_fracture")
        elif kind == "amputation" and region in ("upper_limb", "lower_limb"):
            # A crew cannot always tell proximal from distal; the safer reading wins.
            codes.add("amputation_proximal")
        elif kind == "haemorrhage":
            codes.add("bleeding_needs_tourniquet")
        elif kind == "burn":
            codes.add("burn_with_trauma")
        elif kind in ("suspected_fracture", "open_fracture", "deformity"):
            fractures += 1
        elif region == "head":
            codes.add("head_strike")
        else:
            codes.add("minor")
    if fractures >= 2:
        codes.add("two_proximal_long_bone_fractures")
    elif fractures == 1:
        codes.add("single_fracture")
    return frozenset(codes)


def _frame_values(frame: Mapping[str, Any]) -> dict[str, Any]:
    """The findings one crew frame sets (a later frame's value replaces an earlier one's)."""
    values: dict[str, Any] = {}
    kind = frame.get("type")
    if kind == "vitals":
        for name in _VITALS:
            if frame.get(name) is not None:
                values[name] = frame[name]
        # The triage table starts at 20 °C; lower readings are still hypothermia.
        if frame.get("temp_c") is not None:
            values["temp_c"] = max(20.0, float(frame["temp_c"]))
        if frame.get("avpu") is not None:
            values["avpu"] = _AVPU[str(frame["avpu"])]
    elif kind == "ecg":
        values["ecg"] = {
            "rhythm": _RHYTHM.get(str(frame.get("rhythm")), "other"),
            "st_elevation_leads": frozenset(frame.get("st_elevation_leads") or ()),
            "stemi": bool(frame.get("stemi")),
            "image_ref": frame.get("image_ref"),
        }
    elif kind == "stroke":
        befast = frame.get("befast") or {}
        values["stroke"] = {
            "lams": frame.get("lams"),
            "race": frame.get("race"),
            "facial_droop": befast.get("face"),
            "arm_weakness": befast.get("arm"),
            "speech_difficulty": befast.get("speech"),
            "balance_loss": befast.get("balance"),
            "vision_loss": befast.get("eyes"),
        }
        if frame.get("last_known_well") is not None:
            values["last_known_well"] = frame["last_known_well"]
    elif kind == "injuries":
        values["injuries"] = _injury_codes(frame.get("injuries") or ())
        mechanism = str(frame.get("mechanism") or "").strip().lower().replace(" ", "_")
        if mechanism in _MECHANISMS:
            values["mechanism"] = mechanism
    return values


def merge_findings(frames: Sequence[Mapping[str, Any]]) -> Findings | None:
    """The latest value of every finding in these crew frames (oldest first), or None."""
    values: dict[str, Any] = {}
    for frame in frames:
        values.update(_frame_values(frame))
    if not values:
        return None
    return Findings.model_validate(values)


# A frame's place in the order merge_findings reads frames in: (measured at, stored row id).
FrameKey = tuple[datetime, int]


class FindingsFold:
    """merge_findings of a call's frames, kept up to date one frame at a time.

    Every finding keeps the key of the frame that set it and is replaced only by a frame
    with a later key, so frames may be added in any order (a tablet's buffered frames
    after a reconnect, frames stored by another instance) and the result is still that of
    merge_findings over all of them in (occurred_at, id) order. `count` and `max_id` say
    which frames it holds: the caller checks them against the stored frames.
    """

    __slots__ = ("_findings", "_values", "count", "max_id")

    def __init__(self) -> None:
        self._values: dict[str, tuple[FrameKey, Any]] = {}
        self._findings: Findings | None = None
        self.count = 0
        self.max_id = 0

    def add(self, key: FrameKey, frame: Mapping[str, Any]) -> None:
        """Fold in one stored frame (each frame once: `count` counts them)."""
        for name, value in _frame_values(frame).items():
            kept = self._values.get(name)
            if kept is None or key > kept[0]:
                self._values[name] = (key, value)
                self._findings = None
        self.count += 1
        self.max_id = max(self.max_id, key[1])

    def findings(self) -> Findings | None:
        """What merge_findings would return for the frames folded in."""
        if self._findings is None and self._values:
            self._findings = Findings.model_validate(
                {name: value for name, (_, value) in self._values.items()})
        return self._findings


def conditions_of(frames: Sequence[Mapping[str, Any]]) -> list[str]:
    """FHIR condition keys the crew's ECGs support (dispatch.handover.fhir.CONDITIONS)."""
    keys: list[str] = []
    for frame in frames:
        if frame.get("type") != "ecg":
            continue
        if frame.get("stemi") and "stemi" not in keys:
            keys.append("stemi")
        if frame.get("rhythm") in CONDITION_RHYTHMS and "cardiac_arrest" not in keys:
            keys.append("cardiac_arrest")
    return keys


@dataclass(frozen=True, slots=True)
class RetriagePolicy:
    """When a call's findings are due for a re-triage (one per call, per crew link)."""

    last_run: datetime | None = None
    pending: bool = False
    gcs: int | None = None
    avpu: str | None = None

    def decide(
        self, *, frame: Mapping[str, Any] | None, now: datetime
    ) -> tuple[bool, RetriagePolicy]:
        """Whether to re-triage now, and the policy after this frame (None: no new finding)."""
        pending = self.pending
        gcs, avpu = self.gcs, self.avpu
        urgent = False
        if frame is not None:
            kind = frame.get("type")
            if kind in ALWAYS_RETRIAGE:
                urgent = True
            elif kind == "vitals":
                pending = True
                new_gcs = frame["gcs"] if frame.get("gcs") is not None else gcs
                new_avpu = frame.get("avpu") if frame.get("avpu") is not None else avpu
                urgent = (new_gcs, new_avpu) != (gcs, avpu) and any(
                    frame.get(name) is not None for name in _CONSCIOUSNESS)
                gcs, avpu = new_gcs, new_avpu
        due = pending and (self.last_run is None or now - self.last_run >= RETRIAGE_EVERY)
        if urgent or due:
            return True, RetriagePolicy(last_run=now, pending=False, gcs=gcs, avpu=avpu)
        return False, RetriagePolicy(last_run=self.last_run, pending=pending, gcs=gcs, avpu=avpu)
