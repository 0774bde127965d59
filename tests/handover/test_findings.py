"""Crew frames as triage findings, and when they are worth a re-triage (tables, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatch.handover.findings import (
    RETRIAGE_EVERY,
    FindingsFold,
    RetriagePolicy,
    conditions_of,
    merge_findings,
)
from dispatch.triage import Findings
from dispatch.triage.inputs import Avpu, EcgRhythm, Injury

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def vitals(**values: Any) -> dict[str, Any]:
    return {"type": "vitals", **values}


def injuries(*items: tuple[str, str], mechanism: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "injuries",
                             "injuries": [{"region": r, "kind": k} for r, k in items]}
    if mechanism is not None:
        frame["mechanism"] = mechanism
    return frame


# (case, frames oldest first, attribute, expected)
MERGE: list[tuple[str, list[dict[str, Any]], str, Any]] = [
    ("latest value wins", [vitals(hr=80), vitals(hr=120)], "hr", 120),
    ("a missing value keeps the earlier one", [vitals(hr=80, spo2=91), vitals(hr=90)],
     "spo2", 91),
    ("a null value keeps the earlier one", [vitals(sbp=100), vitals(sbp=None)], "sbp", 100),
    ("temperature floored at the table's 20 °C", [vitals(temp_c=17.5)], "temp_c", 20.0),
    ("temperature kept above the floor", [vitals(temp_c=38.4)], "temp_c", 38.4),
    ("AVPU letter to the triage word", [vitals(avpu="P")], "avpu", Avpu.PAIN),
    ("GCS", [vitals(gcs=15), vitals(gcs=9)], "gcs", 9),
    ("ECG STEMI", [{"type": "ecg", "rhythm": "sinus", "stemi": True,
                    "st_elevation_leads": ["V2", "V3"]}], "ecg.stemi", True),
    ("ECG rhythm renamed", [{"type": "ecg", "rhythm": "atrial_fibrillation"}], "ecg.rhythm",
     EcgRhythm.AF),
    ("ECG flutter is 'other'", [{"type": "ecg", "rhythm": "atrial_flutter"}], "ecg.rhythm",
     EcgRhythm.OTHER),
    ("ECG 3rd-degree block", [{"type": "ecg", "rhythm": "av_block_3"}], "ecg.rhythm",
     EcgRhythm.HIGH_GRADE_AV_BLOCK),
    ("ECG unknown rhythm is 'other'", [{"type": "ecg", "rhythm": "torsades"}], "ecg.rhythm",
     EcgRhythm.OTHER),
    ("ECG leads", [{"type": "ecg", "rhythm": "sinus", "st_elevation_leads": ["II", "III"]}],
     "ecg.st_elevation_leads", frozenset({"II", "III"})),
    ("the later ECG replaces the earlier", [{"type": "ecg", "rhythm": "sinus", "stemi": True},
                                            {"type": "ecg", "rhythm": "sinus", "stemi": False}],
     "ecg.stemi", False),
    ("stroke LAMS", [{"type": "stroke", "lams": 4}], "stroke.lams", 4),
    ("stroke BE-FAST face -> facial droop", [{"type": "stroke", "befast": {"face": True}}],
     "stroke.facial_droop", True),
    ("stroke BE-FAST arm", [{"type": "stroke", "befast": {"arm": False}}],
     "stroke.arm_weakness", False),
    ("stroke BE-FAST speech", [{"type": "stroke", "befast": {"speech": True}}],
     "stroke.speech_difficulty", True),
    ("stroke BE-FAST balance", [{"type": "stroke", "befast": {"balance": True}}],
     "stroke.balance_loss", True),
    ("stroke BE-FAST eyes", [{"type": "stroke", "befast": {"eyes": False}}],
     "stroke.vision_loss", False),
    ("stroke RACE", [{"type": "stroke", "race": 6}], "stroke.race", 6),
    ("ECG image", [{"type": "ecg", "rhythm": "sinus", "image_ref": "ecg/7.png"}],
     "ecg.image_ref", "ecg/7.png"),
    ("stroke last known well", [{"type": "stroke", "lams": 2,
                                 "last_known_well": "2025-03-01T05:10:00+00:00"}],
     "last_known_well", datetime(2025, 3, 1, 5, 10, tzinfo=UTC)),
    ("penetrating chest", [injuries(("chest", "penetrating"))], "injuries",
     frozenset({Injury.PENETRATING_HEAD_NECK_TORSO})),
    ("penetrating limb is minor", [injuries(("lower_limb", "penetrating"))], "injuries",
     frozenset({Injury.MINOR})),
    ("skull deformity", [injuries(("head", "deformity"))], "injuries",
     frozenset({Injury.SKULL_DEFORMITY})),
    ("pelvic fracture", [injuries(("pelvis", "suspected_fracture"))], "injuries",
     frozenset({Injury.PELVIC_FRACTURE})),
    ("limb amputation read as proximal", [injuries(("upper_limb", "amputation"))], "injuries",
     frozenset({Injury.AMPUTATION_PROXIMAL})),
    ("open pelvic fracture", [injuries(("pelvis", "open_fracture"))], "injuries",
     frozenset({Injury.PELVIC_FRACTURE})),
    ("leg amputation read as proximal", [injuries(("lower_limb", "amputation"))], "injuries",
     frozenset({Injury.AMPUTATION_PROXIMAL})),
    ("burn with trauma", [injuries(("chest", "burn"))], "injuries",
     frozenset({Injury.BURN_WITH_TRAUMA})),
    ("a deformed limb counts as a fracture", [injuries(("upper_limb", "deformity"))],
     "injuries", frozenset({Injury.SINGLE_FRACTURE})),
    ("haemorrhage needs a tourniquet", [injuries(("lower_limb", "haemorrhage"))], "injuries",
     frozenset({Injury.BLEEDING_NEEDS_TOURNIQUET})),
    ("one fracture", [injuries(("lower_limb", "suspected_fracture"))], "injuries",
     frozenset({Injury.SINGLE_FRACTURE})),
    ("two fractures", [injuries(("lower_limb", "suspected_fracture"),
                                ("upper_limb", "open_fracture"))], "injuries",
     frozenset({Injury.TWO_PROXIMAL_LONG_BONE_FRACTURES})),
    ("head bruise is a head strike", [injuries(("head", "bruise"))], "injuries",
     frozenset({Injury.HEAD_STRIKE})),
    ("mechanism words normalised", [injuries(("chest", "bruise"), mechanism="Road traffic")],
     "mechanism", "road_traffic"),
    ("unknown mechanism dropped", [injuries(("chest", "bruise"), mechanism="meteor")],
     "mechanism", None),
    ("treatments are not findings", [{"type": "treatment", "drug": "aspirin"}, vitals(hr=70)],
     "hr", 70),
]


def _get(findings: Findings, path: str) -> Any:
    value: Any = findings
    for part in path.split("."):
        value = getattr(value, part)
    return value


@pytest.mark.parametrize(("case", "frames", "path", "expected"), MERGE,
                         ids=[c[0] for c in MERGE])
def test_merge_findings(case: str, frames: list[dict[str, Any]], path: str,
                        expected: Any) -> None:
    findings = merge_findings(frames)
    assert findings is not None, case
    assert _get(findings, path) == expected, case


@pytest.mark.parametrize("frames", [
    [],
    [{"type": "treatment", "drug": "aspirin"}],
    [vitals(hr=None)],
    [{"type": "status", "status": "en_route"}],
], ids=["nothing", "treatment only", "empty vitals", "not a finding"])
def test_merge_findings_without_findings_is_none(frames: list[dict[str, Any]]) -> None:
    assert merge_findings(frames) is None


def _fold(frames: list[dict[str, Any]], order: list[int]) -> FindingsFold:
    """Frame i measured at T0 + i s, stored as row 100 - i, folded in `order`."""
    fold = FindingsFold()
    for i in order:
        fold.add((T0 + timedelta(seconds=i), 100 - i), frames[i])
    return fold


@pytest.mark.parametrize(("case", "frames", "path", "expected"), MERGE,
                         ids=[c[0] for c in MERGE])
def test_fold_in_any_order_is_merge_findings(case: str, frames: list[dict[str, Any]],
                                             path: str, expected: Any) -> None:
    # Frames arrive out of their measured order (buffered resends, other instances).
    for order in (list(range(len(frames))), list(reversed(range(len(frames))))):
        fold = _fold(frames, order)
        assert fold.findings() == merge_findings(frames), case
        assert (fold.count, fold.max_id) == (len(frames), 100), case


def test_an_empty_fold_holds_nothing() -> None:
    fold = FindingsFold()
    assert (fold.count, fold.max_id, fold.findings()) == (0, 0, None)


def test_fold_same_time_frames_go_by_row_id() -> None:
    fold = FindingsFold()
    fold.add((T0, 7), vitals(hr=100))
    fold.add((T0, 5), vitals(hr=60))  # stored earlier: merge_findings reads it first
    assert fold.findings() == merge_findings([vitals(hr=60), vitals(hr=100)])


def test_fold_is_none_without_findings_and_updates_after_a_new_frame() -> None:
    fold = FindingsFold()
    fold.add((T0, 1), {"type": "treatment", "drug": "aspirin"})
    assert fold.findings() is None
    fold.add((T0, 2), vitals(hr=70))
    first = fold.findings()
    assert first is not None and first.hr == 70
    fold.add((T0 + timedelta(seconds=1), 3), vitals(hr=75))
    second = fold.findings()
    assert second is not None and second.hr == 75  # a changed input is not served stale


# (frames, condition keys in first-seen order)
CONDITIONS: list[tuple[list[dict[str, Any]], list[str]]] = [
    ([], []),
    ([vitals(hr=40)], []),
    ([{"type": "ecg", "rhythm": "sinus", "stemi": True}], ["stemi"]),
    ([{"type": "ecg", "rhythm": "vf"}], ["cardiac_arrest"]),
    ([{"type": "ecg", "rhythm": "asystole"}], ["cardiac_arrest"]),
    ([{"type": "ecg", "rhythm": "pea"}], ["cardiac_arrest"]),
    ([{"type": "ecg", "rhythm": "vt"}], []),  # VT is arrest only when the crew says so
    ([{"type": "ecg", "rhythm": "vf"}, {"type": "ecg", "rhythm": "sinus", "stemi": True},
      {"type": "ecg", "rhythm": "sinus", "stemi": True}], ["cardiac_arrest", "stemi"]),
    # other frames first do not end the search; a second arrest rhythm adds nothing
    ([vitals(hr=0), {"type": "ecg", "rhythm": "asystole"}, {"type": "ecg", "rhythm": "vf"}],
     ["cardiac_arrest"]),
]


@pytest.mark.parametrize(("frames", "expected"), CONDITIONS)
def test_conditions_of(frames: list[dict[str, Any]], expected: list[str]) -> None:
    assert conditions_of(frames) == expected


LATER = T0 + RETRIAGE_EVERY
SOON = T0 + RETRIAGE_EVERY - timedelta(seconds=1)
RAN = RetriagePolicy(last_run=T0)
# (case, policy, frame, now, run?, pending after)
DECIDE: list[tuple[str, RetriagePolicy, dict[str, Any] | None, datetime, bool, bool]] = [
    ("first vitals run at once", RetriagePolicy(), vitals(hr=90), T0, True, False),
    ("vitals within the interval wait", RAN, vitals(hr=95), SOON, False, True),
    ("vitals after the interval run", RAN, vitals(hr=95), LATER, True, False),
    ("a waiting change runs on any later frame", RetriagePolicy(last_run=T0, pending=True),
     None, LATER, True, False),
    ("a waiting change still waits early", RetriagePolicy(last_run=T0, pending=True),
     None, SOON, False, True),
    ("nothing waiting, nothing new", RAN, None, LATER, False, False),
    ("ECG always", RAN, {"type": "ecg", "stemi": True}, SOON, True, False),
    ("stroke always", RAN, {"type": "stroke", "lams": 4}, SOON, True, False),
    ("injuries always", RAN, injuries(("chest", "penetrating")), SOON, True, False),
    ("treatment never", RAN, {"type": "treatment", "drug": "aspirin"}, LATER, False, False),
    ("GCS falls: at once", RetriagePolicy(last_run=T0, gcs=15), vitals(gcs=8), SOON, True,
     False),
    ("same GCS: waits", RetriagePolicy(last_run=T0, gcs=15), vitals(gcs=15, hr=80), SOON,
     False, True),
    ("AVPU changes: at once", RetriagePolicy(last_run=T0, avpu="A"), vitals(avpu="V"), SOON,
     True, False),
    ("GCS and AVPU both change: at once", RetriagePolicy(last_run=T0, gcs=15, avpu="A"),
     vitals(gcs=9, avpu="P"), SOON, True, False),
    ("vitals without consciousness keep GCS", RetriagePolicy(last_run=T0, gcs=15),
     vitals(hr=130), SOON, False, True),
]


@pytest.mark.parametrize(("case", "policy", "frame", "now", "run", "pending"), DECIDE,
                         ids=[c[0] for c in DECIDE])
def test_retriage_policy(case: str, policy: RetriagePolicy, frame: dict[str, Any] | None,
                         now: datetime, run: bool, pending: bool) -> None:
    got, after = policy.decide(frame=frame, now=now)
    assert got is run, case
    assert after.pending is pending, case
    assert after.last_run == (now if run else policy.last_run), case
    # Consciousness is remembered: a frame's GCS / AVPU replace the policy's, absent ones keep it.
    for name in ("gcs", "avpu"):
        sent = (frame or {}).get(name) if (frame or {}).get("type") == "vitals" else None
        assert getattr(after, name) == (getattr(policy, name) if sent is None else sent), case


def test_retriage_policy_remembers_consciousness() -> None:
    _, after = RetriagePolicy().decide(frame=vitals(gcs=14, avpu="V"), now=T0)
    assert (after.gcs, after.avpu) == (14, "V")
    run, again = after.decide(frame=vitals(gcs=14), now=T0 + timedelta(seconds=1))
    assert run is False and (again.gcs, again.avpu) == (14, "V")
