"""Pure parts added with the websocket city day: the listing check, the undelivered-frame
check and the vitals frames (which the service's own parser must accept)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from dispatch.domain import Acuity
from dispatch.handover.frames import parse_crew_frame
from dispatch.handover.messages import VitalsMsg
from dispatch.phone import normalise_number
from loadtests.calls import SimCall, new_run_id
from loadtests.city import build_city
from loadtests.figures import AckedFrame, Invariants, listing_check, undelivered
from loadtests.intake import _times_to_assignment, make_calls
from loadtests.vitals import PICTURES, vitals_frame
from loadtests.wslinks import ws_url
from tests.service.city import city as service_city

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



def _two_runs_of_one_seed() -> list[list[SimCall]]:
    ref = service_city(n_vehicles=3)
    city = build_city(
        districts={"features": [f for f in ref["features"]
                                if f["properties"]["type"] == "district"]},
        stations=[], hospitals=[], vehicles=[])
    runs = [new_run_id(), new_run_id()]
    assert runs[0] != runs[1] and all(r.isdigit() and len(r) == 8 for r in runs)
    return [make_calls(api_city=city, count=50, rng=random.Random(1), emergency_only=True,
                       run_id=r) for r in runs]


def test_runs_never_share_keys_or_caller_numbers() -> None:
    """Two runs of the same seed: every Idempotency-Key and caller number differs, and each
    number is one the service accepts and stores as sent (so the read-back finds it)."""
    calls = _two_runs_of_one_seed()
    keys = [{c.key for c in cs} for cs in calls]
    numbers = [{c.caller_number for c in cs} for cs in calls]
    assert len(keys[0]) == len(numbers[0]) == 50
    assert not keys[0] & keys[1] and not numbers[0] & numbers[1]
    for n in numbers[0] | numbers[1]:
        assert re.fullmatch(r"[0-9]{3,32}", n) and normalise_number(n) == n


def test_an_assignment_before_the_request_is_not_a_latency() -> None:
    """Only this run's calls are timed, and a `dispatched` stamped before the request left
    (another run's call, or a service clock behind ours) is counted apart, never negative."""
    sent = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)

    def view(dispatched_after_s: float) -> dict[str, Any]:
        at = (sent + timedelta(seconds=dispatched_after_s)).isoformat()
        return {"timeline": [{"id": 1, "kind": "dispatched", "received_at": at}]}

    calls = {"mine-late": view(2.5), "mine-before": view(-20.765), "never": {"timeline": []},
             "not-mine": view(-50.0)}
    times, never, before = _times_to_assignment(
        calls=calls, assigned_at_intake={"at-intake": 0.01},
        sent_wall={"mine-late": sent, "mine-before": sent, "never": sent})
    assert sorted(times) == [0.01, 2.5]
    assert (never, before) == (1, 1)
