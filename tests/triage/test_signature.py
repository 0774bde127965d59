"""The facts' signature: equal signatures give equal rule outcomes, and the engine's kept
outcomes never change a triage result."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.lru import LRU
from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage.conditions import evaluate
from dispatch.triage.facts import build_facts
from dispatch.triage.protocol import load_protocol
from dispatch.triage.signature import FactSigner
from tests.triage.cases import NOW

CONSTANTS = {"limit": 90}


def _signer(*conditions: dict[str, Any], definitions: dict[str, Any] | None = None) -> FactSigner:
    return FactSigner(conditions, constants=CONSTANTS, definitions=definitions or {})


def test_values_on_one_side_of_every_threshold_sign_alike() -> None:
    signer = _signer({"any": [{"fact": "sbp", "lt": {"const": "limit"}},
                              {"fact": "hr", "ge": 130}]})
    assert signer.sign({"sbp": 120, "hr": 88}) == signer.sign({"sbp": 131, "hr": 91})
    assert signer.sign({"sbp": 120, "hr": 88}) != signer.sign({"sbp": 89, "hr": 88})
    assert signer.sign({"sbp": 120, "hr": 129}) != signer.sign({"sbp": 120, "hr": 130})


def test_unknown_is_its_own_value() -> None:
    signer = _signer({"fact": "hr", "ge": 130}, {"fact": "age_years", "present": True})
    assert signer.sign({"hr": None}) != signer.sign({"hr": 80})
    assert signer.sign({"hr": 80, "age_years": None}) != signer.sign({"hr": 80, "age_years": 40})
    assert signer.facts == ("age_years", "hr")


def test_a_comparison_of_two_facts_signs_by_its_result() -> None:
    signer = _signer({"fact": "hr", "gt": {"fact": "sbp"}})
    assert signer.sign({"hr": 100, "sbp": 120}) == signer.sign({"hr": 119, "sbp": 120})
    assert signer.sign({"hr": 100, "sbp": 120}) != signer.sign({"hr": 121, "sbp": 120})
    assert signer.sign({"hr": 100, "sbp": None}) != signer.sign({"hr": 100, "sbp": 120})
    assert signer.facts == ("hr", "sbp")


def test_facts_reached_through_definitions_and_negations_are_read() -> None:
    signer = _signer({"not": {"ref": "adult"}},
                     definitions={"adult": {"fact": "age_years", "ge": 18}})
    assert signer.sign({"age_years": 17}) != signer.sign({"age_years": 30})
    assert signer.sign({"age_years": 30}) == signer.sign({"age_years": 70})


def test_an_unhashable_or_incomparable_value_gives_no_signature() -> None:
    signer = _signer({"fact": "hr", "ge": 130}, {"fact": "x", "has_any": ["a"]})
    assert signer.sign({"hr": "fast"}) is None
    assert signer.sign({"hr": 80, "x": [{"a": 1}]}) is None


def test_the_cache_is_bounded_and_computes_without_a_key() -> None:
    cache: LRU[str, int] = LRU(size=2)
    calls: list[int] = []

    def compute(value: int) -> int:
        calls.append(value)
        return value

    assert cache.get_or_compute("a", lambda: compute(1)) == 1
    assert cache.get_or_compute("a", lambda: compute(2)) == 1
    cache.get_or_compute("b", lambda: compute(3))
    cache.get_or_compute("c", lambda: compute(4))
    assert len(cache) == 2
    assert cache.get_or_compute("a", lambda: compute(5)) == 5  # evicted, computed again
    assert cache.get_or_compute(None, lambda: compute(6)) == 6
    assert cache.get_or_compute(None, lambda: compute(7)) == 7
    assert calls == [1, 3, 4, 5, 6, 7]


VITALS = st.fixed_dictionaries({
    "hr": st.one_of(st.none(), st.integers(20, 220)),
    "sbp": st.one_of(st.none(), st.integers(40, 240)),
    "dbp": st.one_of(st.none(), st.integers(20, 140)),
    "spo2": st.one_of(st.none(), st.integers(60, 100)),
    "rr": st.one_of(st.none(), st.integers(4, 60)),
    "gcs": st.one_of(st.none(), st.integers(3, 15)),
    "temp_c": st.one_of(st.none(), st.floats(30, 43)),
    "glucose_mmol": st.one_of(st.none(), st.floats(1, 30)),
})
AGES = st.one_of(st.none(), st.sampled_from([0.05, 0.5, 3, 9, 15, 40, 80]))


def _all_conditions() -> list[dict[str, Any]]:
    protocol = load_protocol()
    rules = protocol.rules + protocol.vitals_all_ages + tuple(
        r for b in protocol.bands for r in b.rules)
    conds = [c for r in rules for c in (r.when, r.scope, r.unknown_scope) if c is not None]
    return conds + [b.when for b in protocol.bands if b.when is not None]


def _facts(age: float | None, vitals: dict[str, Any]) -> dict[str, Any]:
    protocol = load_protocol()
    return build_facts(
        answers=Answers(age_years=age, chest_pain=True), findings=Findings(**vitals), now=NOW,
        floor_bands=protocol.sbp_floor_bands,
        future_tolerance_s=float(protocol.constants["onset_future_tolerance_s"]))


def _nudged(vitals: dict[str, Any], delta: int) -> dict[str, Any]:
    """The vital signs moved by `delta`, every other one the other way (kept in range):
    mostly in the same bands, with the gap between two of them changed."""
    bounds = {"hr": (20, 220), "sbp": (40, 240), "dbp": (20, 140), "spo2": (60, 100),
              "rr": (4, 60), "gcs": (3, 15), "temp_c": (30, 43), "glucose_mmol": (1, 30)}
    return {k: None if v is None
            else min(bounds[k][1], max(bounds[k][0], v + (delta if i % 2 else -delta)))
            for i, (k, v) in enumerate(vitals.items())}


@settings(max_examples=400, deadline=None)
@given(age=AGES, a=VITALS, delta=st.integers(-3, 3))
def test_shipped_tables_equal_signatures_give_equal_outcomes(
    age: float | None, a: dict[str, Any], delta: int
) -> None:
    protocol = load_protocol()
    fa, fb = _facts(age, a), _facts(age, _nudged(a, delta))
    same = [
        evaluate(c, facts=fa, constants=protocol.constants, definitions=protocol.definitions)
        == evaluate(c, facts=fb, constants=protocol.constants, definitions=protocol.definitions)
        for c in _all_conditions()
    ]
    if protocol.signer.sign(fa) == protocol.signer.sign(fb):
        assert all(same)


@settings(max_examples=150, deadline=None)
@given(age=AGES, vitals=st.lists(VITALS, min_size=2, max_size=4))
def test_kept_outcomes_never_change_a_result(
    age: float | None, vitals: list[dict[str, Any]]
) -> None:
    protocol = load_protocol()
    answers = Answers(age_years=age, chest_pain=True)
    vitals += [_nudged(v, 1) for v in vitals]  # neighbours: mostly kept outcomes
    warm = [retriage(answers, Findings(**v), complaint="chest pain", now=NOW) for v in vitals]
    cold = []
    for v in vitals:
        protocol.outcomes.clear()
        cold.append(retriage(answers, Findings(**v), complaint="chest pain", now=NOW))
    assert warm == cold


def test_vitals_in_the_same_bands_are_evaluated_once() -> None:
    protocol = load_protocol()
    protocol.outcomes.clear()
    answers = Answers(age_years=60, chest_pain=True)
    steady = [Findings(hr=hr, sbp=130, spo2=97, rr=16) for hr in (86, 90, 93)]
    results = [retriage(answers, f, complaint="chest pain", now=NOW) for f in steady]
    assert len(protocol.outcomes) == 1
    assert len({(r.acuity, r.pathway) for r in results}) == 1
    shocked = retriage(answers, Findings(hr=150, sbp=70, spo2=85, rr=36),
                       complaint="chest pain", now=NOW)
    assert len(protocol.outcomes) == 2
    assert shocked.acuity <= results[0].acuity
    assert {r.rule_id for r in shocked.reasons} > {r.rule_id for r in results[0].reasons}
    assert triage_call(answers, complaint="chest pain", now=NOW).protocol_version \
        == protocol.version


def _reference_sign(signer: FactSigner, facts: dict[str, Any]) -> Any:
    """sign() as first written: every fact through plain() and its comparisons."""
    from dispatch.triage.conditions import compare, plain

    parts: list[Any] = []
    try:
        for name, tests in signer._plan:
            value = plain(facts.get(name))
            parts.append(None if value is None
                         else tuple(compare(op, value, c) for op, c in tests))
        for name, op, other in signer._pair_plan:
            left, right = plain(facts.get(name)), plain(facts.get(other))
            parts.append(None if left is None or right is None else compare(op, left, right))
        signature = tuple(parts)
        hash(signature)
    except TypeError:
        return None
    return signature


def test_the_shipped_signer_signs_as_the_reference_on_random_facts() -> None:
    import random
    from enum import Enum

    class Colour(Enum):
        RED = "red"
        NONE = None

    signer = load_protocol().signer
    rng = random.Random(4)
    formed = 0
    for _ in range(500):
        facts: dict[str, Any] = {}
        for name, tests in signer._plan:
            consts = [c for _, c in tests] or [True]
            pick = rng.choice(consts)
            options: list[Any] = [pick, Colour.NONE]
            if isinstance(pick, int | float) and not isinstance(pick, bool):
                options += [pick - 1, pick + 1, float(pick)]
            elif isinstance(pick, list | tuple | frozenset):
                options += [list(pick)[:1], frozenset(pick)]
            facts[name] = rng.choice(options) if rng.random() < 0.15 else None
        if rng.random() < 0.1:  # an unhashable or incomparable value somewhere
            facts[rng.choice(signer.facts)] = rng.choice([{"x": 1}, Colour.RED, "text"])
        signed = signer.sign(facts)
        assert signed == _reference_sign(signer, facts)
        formed += signed is not None
    assert formed > 300  # the cases mostly formed a signature
