"""The intake harness's cheap paths: bodies rendered ahead, clears held in a due queue,
what sets slow calls apart, and the sweep's rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from loadtests.calls import BodyTemplate, SimCall, call_body
from loadtests.dueq import DueQueue
from loadtests.figures import pathway_and_queued_shares, what_slow_calls_share
from loadtests.fixes import FixProfile, fix_sequence
from loadtests.presentations import BY_NAME
from loadtests.sweep import best_rate, markdown, parse_rates, table_rows, verdict


def _call(name: str, index: int = 7) -> SimCall:
    rng = random.Random(index)
    return SimCall(run_id="01234567", index=index, at_s=0.0, answer_delay_s=rng.uniform(2, 8),
                   presentation=BY_NAME[name], district_id="D1", lon=116.4, lat=39.9,
                   fixes=tuple(fix_sequence(lon=116.4, lat=39.9, rng=rng,
                                            profile=FixProfile(aml_share=1.0))))


@pytest.mark.parametrize("name", ["chest_pain", "cardiac_arrest", "booking", "trauma"])
@pytest.mark.parametrize("answered", [datetime(2026, 12, 6, 8, 1, 2, 345678, tzinfo=UTC),
                                      datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)])
def test_a_rendered_template_is_the_call_body_at_that_moment(name: str,
                                                             answered: datetime) -> None:
    call = _call(name)
    expected = call_body(call=call, fixes=call.fixes, answered_at=answered,
                         received_at=answered - timedelta(seconds=call.answer_delay_s))
    assert orjson.loads(BodyTemplate.of(call=call, fixes=call.fixes).render(answered)) \
        == orjson.loads(orjson.dumps(expected))


def test_due_items_come_out_once_due_in_order() -> None:
    q: DueQueue[str] = DueQueue()
    assert q.next_due() is None and q.take_due(100.0) == []
    q.put(2.0, "b")
    q.put(1.0, "a")
    q.put(2.0, "c")
    assert q.next_due() == 1.0 and len(q) == 3
    assert q.take_due(0.5) == []
    assert q.take_due(2.0) == ["a", "b", "c"]
    assert len(q) == 0


def test_slow_calls_are_told_apart_by_their_attributes() -> None:
    records = [(10.0, {"pathway": "plain", "outcome": "assigned"})] * 8 + [
        (50.0, {"pathway": "pathway", "outcome": "assigned"}),
        (60.0, {"pathway": "pathway", "outcome": "queued"})]
    f = what_slow_calls_share(records, above=20.0)
    assert (f["calls"], f["slow"]) == (10, 2)
    assert f["by"]["pathway"] == {"pathway": {"all": 0.2, "slow": 1.0},
                                  "plain": {"all": 0.8, "slow": 0.0}}
    assert f["by"]["outcome"]["queued"] == {"all": 0.1, "slow": 0.5}
    assert what_slow_calls_share([], above=None) == {"above": None, "calls": 0, "slow": 0,
                                                     "by": {}}
    assert pathway_and_queued_shares(f) == {"pathway": (1.0, 0.2), "queued": (0.5, 0.1)}
    assert pathway_and_queued_shares(what_slow_calls_share(records, above=100.0)) == {}


def test_sweep_rates_are_parsed_ascending_and_checked() -> None:
    assert parse_rates("20, 5,10,5") == [5.0, 10.0, 20.0]
    for bad in ("", "5,x", "0,5", "-1"):
        with pytest.raises(ValueError):
            parse_rates(bad)


def _row(rate: float, passed: bool) -> dict[str, Any]:
    ms = {"p50": 10.0, "p95": 20.0, "p99": 24.0 if passed else 40.0}
    return {"offered_per_s": rate, "achieved_per_s": rate, "intake_ms": ms,
            "to_assignment_ms": ms, "cpu_ms_per_call": {"service": 9.0, "pg": 8.0,
                                                        "redis": 0.5, "harness": 0.4},
            "verify_cpu_ms_per_call": 0.2, "errors": 0,
            "invariants": {"lost": 0, "duplicated": 0, "double_assignments": 0},
            "passed": passed, "missed": [] if passed else ["intake_p99_ms"],
            "slow": what_slow_calls_share(
                [(30.0, {"pathway": "pathway", "outcome": "assigned"}),
                 (10.0, {"pathway": "plain", "outcome": "assigned"})], above=20.0)}


def test_the_sweep_names_the_highest_rate_that_met_the_targets() -> None:
    rows = [_row(5, False), _row(10, True), _row(20, True), _row(40, False)]
    assert best_rate(rows) == 20 and best_rate([_row(5, False)]) is None
    result = {"rows": rows, "config": {"seconds": 10.0}, "p99_target_ms": 25.0,
              "highest_rate_meeting_targets": 20.0, "missed_below_highest": [5.0]}
    assert "20 calls/s" in verdict(result) and "Lower rates that missed: 5/s" in verdict(result)
    md = markdown(result).splitlines()
    assert len([line for line in md if line.startswith("| ")]) == 1 + len(rows)
    assert table_rows(rows)[3]["targets"] == "missed intake_p99_ms"
    assert table_rows(rows)[1]["intake p50/p95/p99 ms"] == "10.0 / 20.0 / 24.0"
    assert "- 10/s, 1 calls above p95 (20.0 ms): pathway 100% (of all 50%), queued 0% " \
           "(of all 0%)" in md
