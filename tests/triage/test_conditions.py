"""The rule tables' condition language: comparisons, Kleene logic, and the table checker."""

from __future__ import annotations

import itertools
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.errors import TriageError
from dispatch.triage.conditions import (
    Outcome,
    Truth,
    check,
    compare,
    evaluate,
    facts_named,
    leaves,
    plain,
)

CONSTANTS = {"window_h": 4.5, "limit": 90}
DEFINITIONS: dict[str, Any] = {
    "adult": {"fact": "age", "ge": 18},
    "not_adult": {"not": {"ref": "adult"}},
}


def ev(cond: dict[str, Any], **facts: Any) -> Outcome:
    return evaluate(cond, facts=facts, constants=CONSTANTS, definitions=DEFINITIONS)


COMPARISONS = [
    # (op, left, right, expected): each ordering operator on both sides of equality
    ("eq", 3, 3, True), ("eq", 3, 4, False),
    ("ne", 3, 4, True), ("ne", 3, 3, False), ("ne", "a", "b", True),
    ("lt", 89, 90, True), ("lt", 90, 90, False), ("lt", 91, 90, False),
    ("le", 89, 90, True), ("le", 90, 90, True), ("le", 91, 90, False),
    ("gt", 91, 90, True), ("gt", 90, 90, False), ("gt", 89, 90, False),
    ("ge", 91, 90, True), ("ge", 90, 90, True), ("ge", 89, 90, False),
    ("in", "b", frozenset({"a", "b"}), True), ("in", "c", frozenset({"a", "b"}), False),
    ("has_any", frozenset({"x", "y"}), frozenset({"y", "z"}), True),
    ("has_any", frozenset({"x"}), frozenset({"y", "z"}), False),
    ("has_any", frozenset(), frozenset({"y"}), False),
]


@pytest.mark.parametrize(("op", "left", "right", "expected"), COMPARISONS)
def test_compare(op: str, left: Any, right: Any, expected: bool) -> None:
    assert compare(op, left, right) is expected


def test_an_unknown_comparison_is_an_error() -> None:
    with pytest.raises(TriageError, match="'approx'"):
        compare("approx", 1, 1)


class Colour(Enum):
    RED = "red"


def test_plain_values() -> None:
    assert plain(Colour.RED) == "red"
    assert plain([Colour.RED, "blue"]) == frozenset({"red", "blue"})
    assert plain(("a", "a")) == frozenset({"a"})
    assert plain({"a"}) == frozenset({"a"})
    assert plain(7) == 7 and plain(None) is None


def test_ne_leaf_over_facts_and_enums() -> None:
    cond = {"fact": "colour", "ne": "red"}
    assert ev(cond, colour=Colour.RED) == Outcome(Truth.FALSE)
    assert ev(cond, colour="blue") == Outcome(Truth.TRUE)
    assert ev(cond) == Outcome(Truth.UNKNOWN, frozenset({"colour"}))
    # against another fact: unknown names that other fact
    pair = {"fact": "hr", "ne": {"fact": "sbp"}}
    assert ev(pair, hr=80, sbp=80).truth is Truth.FALSE
    assert ev(pair, hr=80, sbp=120).truth is Truth.TRUE
    assert ev(pair, hr=80) == Outcome(Truth.UNKNOWN, frozenset({"sbp"}))


def test_leaf_operands() -> None:
    assert ev({"fact": "h", "le": {"const": "window_h"}}, h=4.5).truth is Truth.TRUE
    assert ev({"fact": "h", "le": {"const": "window_h"}}, h=4.6).truth is Truth.FALSE
    assert ev({"fact": "sbp", "lt": {"const": "limit"}}, sbp=89).truth is Truth.TRUE
    # a list operand compares as a set
    assert ev({"fact": "inj", "has_any": ["pelvis", "femur"]}, inj=["femur"]).truth is Truth.TRUE
    # `present` is always known
    assert ev({"fact": "booking", "present": True}) == Outcome(Truth.FALSE)
    assert ev({"fact": "booking", "present": False}) == Outcome(Truth.TRUE)
    assert ev({"fact": "booking", "present": True}, booking="dialysis") == Outcome(Truth.TRUE)
    assert ev({"fact": "booking", "present": False}, booking="dialysis") == Outcome(Truth.FALSE)


def test_references() -> None:
    assert ev({"ref": "adult"}, age=18).truth is Truth.TRUE
    assert ev({"ref": "not_adult"}, age=17).truth is Truth.TRUE
    assert ev({"ref": "not_adult"}) == Outcome(Truth.UNKNOWN, frozenset({"age"}))


_T, _F = {"fact": "t", "eq": 1}, {"fact": "f", "eq": 1}


def _unknown(name: str) -> dict[str, Any]:
    return {"fact": name, "eq": 1}


KLEENE = {Truth.TRUE: _T, Truth.FALSE: _F}


@pytest.mark.parametrize(("a", "b"), list(itertools.product(Truth, repeat=2)))
def test_all_any_not_follow_kleene(a: Truth, b: Truth) -> None:
    # Kleene's strong logic on the order FALSE < UNKNOWN < TRUE: all = min, any = max
    parts = [KLEENE.get(a, _unknown("u1")), KLEENE.get(b, _unknown("u2"))]
    facts = {"t": 1, "f": 0}
    names = {"u1"} if a is Truth.UNKNOWN else set()
    names |= {"u2"} if b is Truth.UNKNOWN else set()
    conj = ev({"all": parts}, **facts)
    disj = ev({"any": parts}, **facts)
    assert conj.truth is min(a, b, key=lambda t: t.value)
    assert disj.truth is max(a, b, key=lambda t: t.value)
    # missing names exactly the unknown parts' facts, and only while undecided
    assert conj.missing == (frozenset(names) if conj.truth is Truth.UNKNOWN else frozenset())
    assert disj.missing == (frozenset(names) if disj.truth is Truth.UNKNOWN else frozenset())
    negated = ev({"not": parts[0]}, **facts)
    flip = {Truth.TRUE: Truth.FALSE, Truth.FALSE: Truth.TRUE, Truth.UNKNOWN: Truth.UNKNOWN}
    assert negated.truth is flip[a]
    assert negated.missing == (frozenset({"u1"}) if a is Truth.UNKNOWN else frozenset())


FACTS = ("a", "b", "c")
_leaf = st.builds(lambda name, op, value: {"fact": name, op: value},
                  st.sampled_from(FACTS), st.sampled_from(["eq", "ne", "lt", "ge"]),
                  st.integers(0, 2))
_conds = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.builds(lambda c: {"not": c}, inner),
        st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(_conds, st.fixed_dictionaries({n: st.one_of(st.none(), st.integers(0, 2))
                                      for n in FACTS}))
def test_three_valued_answers_are_sound(cond: dict[str, Any], partial: dict[str, Any]) -> None:
    # Whatever the unknown facts turn out to be, a TRUE or FALSE never changes; an UNKNOWN
    # names only facts that are unknown, and answering them all decides it.
    known = {k: v for k, v in partial.items() if v is not None}
    outcome = ev(cond, **known)
    unknown = [n for n in FACTS if n not in known]
    assert outcome.missing <= frozenset(unknown)
    assert (outcome.truth is Truth.UNKNOWN) == bool(outcome.missing)
    check(cond, constants=CONSTANTS, definitions=DEFINITIONS, where="generated")
    assert outcome.missing <= facts_named(cond, definitions=DEFINITIONS)
    for values in itertools.product(range(3), repeat=len(unknown)):
        full = ev(cond, **known, **dict(zip(unknown, values, strict=True)))
        assert full.truth is not Truth.UNKNOWN
        if outcome.truth is not Truth.UNKNOWN:
            assert full.truth is outcome.truth


def test_leaves_and_facts_named_follow_references() -> None:
    cond = {"all": [
        {"ref": "not_adult"},
        {"any": [{"fact": "hr", "gt": {"fact": "sbp"}}, {"fact": "booking", "present": True}]},
        {"not": {"fact": "spo2", "lt": {"const": "limit"}}},
    ]}
    assert [leaf["fact"] for leaf in leaves(cond, definitions=DEFINITIONS)] == [
        "age", "hr", "booking", "spo2"]
    assert facts_named(cond, definitions=DEFINITIONS) == frozenset(
        {"age", "hr", "sbp", "booking", "spo2"})


MALFORMED = [
    # (case, condition, what the message says)
    ("not an object", ["fact", "hr"], "non-empty object"),
    ("empty object", {}, "non-empty object"),
    ("unknown reference", {"ref": "child"}, "unknown definition 'child'"),
    ("bad negation", {"not": {}}, "non-empty object"),
    ("all not a list", {"all": {"fact": "hr", "gt": 1}}, "'all' needs a non-empty list"),
    ("empty any", {"any": []}, "'any' needs a non-empty list"),
    ("bad part", {"all": [{"fact": "hr", "gt": 1}, {"fact": "hr"}]}, "a leaf is"),
    ("deep bad part", {"any": [{"not": {"all": [{"ref": "nope"}]}}]}, "'nope'"),
    ("leaf without fact", {"gt": 1}, "a leaf is"),
    ("leaf without comparison", {"fact": "hr"}, "a leaf is"),
    ("two comparisons", {"fact": "hr", "gt": 1, "lt": 5}, "a leaf is"),
    ("unknown operator", {"fact": "hr", "approx": 1}, "a leaf is"),
    ("unknown key beside", {"fact": "hr", "gt": 1, "unit": "bpm"}, "a leaf is"),
    ("unknown constant", {"fact": "hr", "gt": {"const": "hr_max"}}, "unknown constant 'hr_max'"),
    ("unknown constant under ne", {"fact": "hr", "ne": {"const": "x"}}, "unknown constant 'x'"),
    ("unknown constant negated", {"not": {"fact": "hr", "gt": {"const": "y"}}},
     "unknown constant 'y'"),
    ("unknown constant in a list", {"any": [{"fact": "hr", "gt": {"const": "z"}}]},
     "unknown constant 'z'"),
]


@pytest.mark.parametrize(("case", "cond", "says"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_the_checker_refuses_malformed_conditions(case: str, cond: Any, says: str) -> None:
    with pytest.raises(TriageError) as err:
        check(cond, constants=CONSTANTS, definitions=DEFINITIONS, where="rule R-1")
    assert str(err.value).startswith("rule R-1: "), case
    assert says in str(err.value), case


WELL_FORMED = [
    {"fact": "hr", "gt": {"fact": "sbp"}},
    {"fact": "h", "le": {"const": "window_h"}},
    {"fact": "booking", "present": True},
    {"ref": "adult"},
    {"not": {"any": [{"fact": "a", "ne": 1}, {"all": [{"fact": "b", "in": [1, 2]}]}]}},
    # known constants deep inside: the checker carries the constants down
    {"not": {"fact": "h", "le": {"const": "window_h"}}},
    {"all": [{"any": [{"fact": "sbp", "lt": {"const": "limit"}}]}]},
]


@pytest.mark.parametrize("cond", WELL_FORMED)
def test_the_checker_accepts_well_formed_conditions(cond: dict[str, Any]) -> None:
    assert check(cond, constants=CONSTANTS, definitions=DEFINITIONS, where="rule R-1") is None
