"""The small condition language the rule tables are written in, with three-valued logic.

A condition is JSON:
    {"fact": "sbp", "lt": 90}                 leaf: compare one fact with a value
    {"fact": "hr", "gt": {"fact": "sbp"}}     ... or with another fact
    {"fact": "hours_since_lkw", "le": {"const": "thrombolysis_window_h"}}
    {"fact": "injuries", "has_any": ["pelvic_fracture"]}
    {"fact": "booking_reason", "present": true}
    {"all": [...]}, {"any": [...]}, {"not": {...}}, {"ref": "adult"}

Unknown facts (None) make a leaf UNKNOWN, and `all`/`any`/`not` follow Kleene's logic,
so the engine can tell "no" from "not asked" and list exactly the facts that would
decide a rule. That is how missing data errs to the higher level without guessing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dispatch.errors import TriageError

COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "has_any")
KEYS = frozenset({"fact", "present", *COMPARISONS})


class Truth(Enum):
    FALSE = 0
    UNKNOWN = 1
    TRUE = 2


@dataclass(frozen=True, slots=True)
class Outcome:
    """A condition's value and, when UNKNOWN, the facts that would decide it."""

    truth: Truth
    missing: frozenset[str] = frozenset()


_TRUE = Outcome(Truth.TRUE)
_FALSE = Outcome(Truth.FALSE)
# `not`: a decided outcome flips (and has no missing facts); UNKNOWN stays as it is
_FLIPPED = {Truth.TRUE: _FALSE, Truth.FALSE: _TRUE}


_SCALARS = frozenset({type(None), bool, int, float, str})


def plain(value: Any) -> Any:
    """Enum members compare by their value, as the tables store them."""
    if type(value) in _SCALARS:  # most facts and operands: nothing to convert
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set | tuple | list):
        return frozenset(plain(v) for v in value)
    return value


def _resolve(
    operand: Any, *, facts: Mapping[str, Any], constants: Mapping[str, Any]
) -> tuple[Any, str | None]:
    """An operand's value and, if it names a fact, that fact."""
    if isinstance(operand, dict) and "fact" in operand:
        name = operand["fact"]
        return plain(facts.get(name)), name
    return constant_value(operand, constants=constants), None


def constant_value(operand: Any, *, constants: Mapping[str, Any]) -> Any:
    """The value of an operand that names no fact: a named constant, or a literal."""
    if isinstance(operand, dict) and "const" in operand:
        return constants[operand["const"]]
    return plain(operand)


def compare(op: str, left: Any, right: Any) -> bool:
    """Apply one comparison to known values."""
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    if op == "ge":
        return bool(left >= right)
    if op == "in":
        return left in right
    if op == "has_any":
        return bool(frozenset(left) & frozenset(right))
    raise TriageError(f"unknown comparison {op!r}")


def _leaf(
    cond: Mapping[str, Any], *, facts: Mapping[str, Any], constants: Mapping[str, Any]
) -> Outcome:
    """Evaluate a single-fact leaf."""
    name = cond["fact"]
    value = plain(facts.get(name))
    if "present" in cond:
        # "was it answered?" is always known
        return _TRUE if (value is not None) == bool(cond["present"]) else _FALSE
    if value is None:
        return Outcome(Truth.UNKNOWN, frozenset({name}))
    op, operand = comparison(cond)
    right, right_fact = _resolve(operand, facts=facts, constants=constants)
    if right is None:
        return Outcome(Truth.UNKNOWN, frozenset({right_fact or name}))
    return _TRUE if compare(op, value, right) else _FALSE


def evaluate(
    cond: Mapping[str, Any],
    *,
    facts: Mapping[str, Any],
    constants: Mapping[str, Any],
    definitions: Mapping[str, Any],
) -> Outcome:
    """Evaluate a condition over facts in Kleene's three-valued logic."""
    if "ref" in cond:
        return evaluate(
            definitions[cond["ref"]], facts=facts, constants=constants, definitions=definitions
        )
    if "not" in cond:
        inner = evaluate(cond["not"], facts=facts, constants=constants, definitions=definitions)
        return _FLIPPED.get(inner.truth, inner)
    if "all" in cond or "any" in cond:
        is_all = "all" in cond
        decisive = Truth.FALSE if is_all else Truth.TRUE
        unknown: list[Outcome] = []
        for c in cond["all" if is_all else "any"]:
            part = evaluate(c, facts=facts, constants=constants, definitions=definitions)
            if part.truth is decisive:
                # decided whatever the other parts are, and a decided outcome lists no
                # missing facts: the rest need not be evaluated
                return _FALSE if is_all else _TRUE
            if part.truth is Truth.UNKNOWN:
                unknown.append(part)
        if unknown:
            return Outcome(Truth.UNKNOWN, frozenset().union(*(p.missing for p in unknown)))
        return _TRUE if is_all else _FALSE
    return _leaf(cond, facts=facts, constants=constants)


def leaves(cond: Mapping[str, Any], *, definitions: Mapping[str, Any]
           ) -> Iterator[Mapping[str, Any]]:
    """Every single-fact leaf of a condition, following references into the definitions."""
    if "ref" in cond:
        yield from leaves(definitions[cond["ref"]], definitions=definitions)
    elif "not" in cond:
        yield from leaves(cond["not"], definitions=definitions)
    elif "all" in cond or "any" in cond:
        for part in cond["all" if "all" in cond else "any"]:
            yield from leaves(part, definitions=definitions)
    else:
        yield cond


def comparison(leaf: Mapping[str, Any]) -> tuple[str, Any]:
    """A comparing leaf's comparison and operand (not for a `present` leaf)."""
    (op,) = (k for k in leaf if k in COMPARISONS)
    return op, leaf[op]


def facts_named(cond: Mapping[str, Any], *, definitions: Mapping[str, Any]) -> frozenset[str]:
    """Every fact a condition reads (for validating tables)."""
    names: set[str] = set()
    for leaf in leaves(cond, definitions=definitions):
        names.add(leaf["fact"])
        if "present" not in leaf:
            _, operand = comparison(leaf)
            if isinstance(operand, dict) and "fact" in operand:
                names.add(operand["fact"])
    return frozenset(names)


def check(
    cond: Any, *, constants: Mapping[str, Any], definitions: Mapping[str, Any], where: str
) -> None:
    """Raise TriageError if a condition is malformed (run once when tables load)."""
    if not isinstance(cond, dict) or not cond:
        raise TriageError(f"{where}: a condition must be a non-empty object")
    if "ref" in cond:
        if cond["ref"] not in definitions:
            raise TriageError(f"{where}: unknown definition {cond['ref']!r}")
        return
    if "not" in cond:
        check(cond["not"], constants=constants, definitions=definitions, where=where)
        return
    for key in ("all", "any"):
        if key in cond:
            if not isinstance(cond[key], list) or not cond[key]:
                raise TriageError(f"{where}: {key!r} needs a non-empty list")
            for c in cond[key]:
                check(c, constants=constants, definitions=definitions, where=where)
            return
    if "fact" not in cond or set(cond) - KEYS or len(set(cond) - {"fact"}) != 1:
        raise TriageError(f"{where}: a leaf is {{'fact': name, <one comparison>: value}}")
    for op in COMPARISONS:
        operand = cond.get(op)
        if isinstance(operand, dict) and "const" in operand and operand["const"] not in constants:
            raise TriageError(f"{where}: unknown constant {operand['const']!r}")
