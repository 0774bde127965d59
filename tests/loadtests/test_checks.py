"""Pure parts added with the websocket city day: the listing check, the undelivered-frame
check and the vitals frames (which the service's own parser must accept)."""

from __future__ import annotations

import random

import orjson
import pytest

from dispatch.domain import Acuity
from dispatch.handover.messages import VitalsMsg, parse_crew_frame
from loadtests.figures import AckedFrame, Invariants, listing_check, undelivered
from loadtests.vitals import PICTURES, vitals_frame
from loadtests.wslinks import ws_url

NUMBERS = {"k1": "13900000001", "k2": "13900000002", "k3": "13900000003"}


@pytest.mark.parametrize(("acknowledged", "listed", "lost", "duplicated", "unacked"), [
    # every acknowledged call listed once
    ({"k1": ["a"], "k2": ["b"]}, [("a", NUMBERS["k1"]), ("b", NUMBERS["k2"])], [], [], []),
    # acknowledged but absent from the listing
    ({"k1": ["a"], "k2": ["b"]}, [("a", NUMBERS["k1"])], ["b"], [], []),
    # one caller stored twice although the harness saw one id
    ({"k1": ["a"]}, [("a", NUMBERS["k1"]), ("x", NUMBERS["k1"])], [], ["k1 stored 2 times"],
     ["x"]),
    # a key answered with two ids (a retry that created a second call)
    ({"k1": ["a", "c"]}, [("a", NUMBERS["k1"]), ("c", NUMBERS["k1"])], [],
     ["k1", "k1 stored 2 times"], []),
    # stored, never answered (the request timed out): not lost, not duplicated
    ({"k1": ["a"]}, [("a", NUMBERS["k1"]), ("z", NUMBERS["k3"])], [], [], ["z"]),
    # other callers in the period (another run) are ignored
    ({"k1": ["a"]}, [("a", NUMBERS["k1"]), ("o", "13800000000")], [], [], []),
])
def test_listing_check(acknowledged: dict[str, list[str]], listed: list[tuple[str, str]],
                       lost: list[str], duplicated: list[str], unacked: list[str]) -> None:
    assert listing_check(acknowledged=acknowledged, number_of=NUMBERS,
                         listed=listed) == (lost, duplicated, unacked)


@pytest.mark.parametrize(("acked", "seen", "expected"), [
    ([], {}, []),
    ([AckedFrame("7", "c1", "H01")], {"H01": {"7"}}, []),
    ([AckedFrame("7", "c1", "H01")], {}, ["7 (c1 -> H01)"]),
    # shown on another centre's screen is not delivered
    ([AckedFrame("7", "c1", "H01")], {"H02": {"7"}}, ["7 (c1 -> H01)"]),
    ([AckedFrame("7", "c1", "H01"), AckedFrame("8", "c1", "H01")], {"H01": {"8"}},
     ["7 (c1 -> H01)"]),
])
def test_undelivered(acked: list[AckedFrame], seen: dict[str, set[str]],
                     expected: list[str]) -> None:
    assert undelivered(acked=acked, seen=seen) == expected


@pytest.mark.parametrize(("seen", "expected"), [
    # re-routed before the crew heard: shown at the new centre, which the timeline names
    ({"H02": {"7"}}, []),
    # shown at a centre the call was never routed to
    ({"H03": {"7"}}, ["7 (c1 -> H01)"]),
    ({}, ["7 (c1 -> H01)"]),
])
def test_undelivered_follows_reroutes(seen: dict[str, set[str]], expected: list[str]) -> None:
    assert undelivered(acked=[AckedFrame("7", "c1", "H01")], seen=seen,
                       routed={"c1": {"H01", "H02"}}) == expected


def test_undelivered_breaks_the_invariants_and_unacknowledged_does_not() -> None:
    assert not Invariants(acknowledged=1, undelivered=["7 (c1 -> H01)"]).ok
    inv = Invariants(acknowledged=1, unacknowledged=["z"])
    assert inv.ok and inv.to_dict()["unacknowledged"] == 1


@pytest.mark.parametrize("acuity", list(Acuity))
def test_vitals_frames_are_accepted_and_follow_the_acuity(acuity: Acuity) -> None:
    rng = random.Random(int(acuity))
    frames = [vitals_frame(acuity=acuity, rng=rng, call_id="6c1f5c4e-0000-4000-8000-000000000001",
                           msg_id=f"m-{i}", at_iso="2025-06-02T10:00:00+08:00")
              for i in range(500)]
    for f in frames:
        msg = parse_crew_frame(orjson.dumps(f))
        assert isinstance(msg, VitalsMsg)
        assert msg.dbp is not None and msg.sbp is not None and msg.dbp < msg.sbp
    mean_hr = sum(f["hr"] for f in frames) / len(frames)
    assert mean_hr == pytest.approx(PICTURES[acuity].hr[0], abs=3)


def test_sicker_patients_look_sicker() -> None:
    assert PICTURES[Acuity.I].spo2[0] < PICTURES[Acuity.IV].spo2[0]
    assert PICTURES[Acuity.I].sbp[0] < PICTURES[Acuity.IV].sbp[0]


@pytest.mark.parametrize(("base", "url"), [
    ("http://127.0.0.1:8120", "ws://127.0.0.1:8120/v1/ws/crew"),
    ("https://dispatch.example", "wss://dispatch.example/v1/ws/crew"),
])
def test_ws_url(base: str, url: str) -> None:
    assert ws_url(base, "crew") == url
