"""What the rule tables can tell apart in a set of facts (pure).

Every leaf of the condition language compares one fact with a constant, with another
fact, or asks whether the fact is known (dispatch.triage.conditions). So the outcome of
every rule, and of the band selection, depends on the facts only through

- whether each fact is known (None or not),
- the result of each comparison of a fact with a constant,
- the result of each comparison of a fact with another fact (both known).

That tuple is the facts' signature. Two sets of facts with one signature give the same
rule outcomes, and the same missing facts, so the engine evaluates the tables once per
signature. A crew's vital signs at 1 Hz (heart rate 88, 91, 87 ...) nearly always fall
in the band they were in, and its calls are re-triaged every few seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dispatch.triage.conditions import compare, comparison, constant_value, leaves, plain

__all__ = ["FactSigner", "Signature"]

Signature = tuple[Any, ...]


class FactSigner:
    """The signature of facts under one set of conditions (a protocol's tables)."""

    def __init__(
        self,
        conditions: Iterable[Mapping[str, Any] | None],
        *,
        constants: Mapping[str, Any],
        definitions: Mapping[str, Any],
    ) -> None:
        # per fact, its comparisons with constants (each once); and (fact, op, other fact)
        thresholds: dict[str, list[tuple[str, Any]]] = {}
        pairs: set[tuple[str, str, str]] = set()
        for cond in (c for c in conditions if c is not None):
            for leaf in leaves(cond, definitions=definitions):
                name = leaf["fact"]
                tests = thresholds.setdefault(name, [])
                if "present" in leaf:
                    continue  # known or not is always part of the signature
                op, operand = comparison(leaf)
                if isinstance(operand, dict) and "fact" in operand:
                    thresholds.setdefault(operand["fact"], [])
                    pairs.add((name, op, operand["fact"]))
                    continue
                value = constant_value(operand, constants=constants)
                # a comparison with null is UNKNOWN whatever the fact
                if value is not None and (op, value) not in tests:
                    tests.append((op, value))
        self._plan = tuple((name, tuple(thresholds[name])) for name in sorted(thresholds))
        self._pair_plan = tuple(sorted(pairs))

    @property
    def facts(self) -> tuple[str, ...]:
        """The facts any condition reads."""
        return tuple(name for name, _ in self._plan)

    def sign(self, facts: Mapping[str, Any]) -> Signature | None:
        """The facts' signature, or None when it cannot be formed (an unhashable value, or
        one the tables' comparisons do not accept: the engine then evaluates in full)."""
        get = facts.get
        try:
            # most facts are unknown on a call: those skip plain() and the comparisons
            parts: list[Any] = [None if (value := get(name)) is None else _signed(value, tests)
                                for name, tests in self._plan]
            for name, op, other in self._pair_plan:
                left, right = plain(facts.get(name)), plain(facts.get(other))
                parts.append(None if left is None or right is None
                             else compare(op, left, right))
            signature = tuple(parts)
            hash(signature)
        except TypeError:
            return None
        return signature


def _signed(value: Any, tests: tuple[tuple[str, Any], ...]) -> tuple[bool, ...] | None:
    """A known fact's part of the signature: each of its comparisons' results."""
    value = plain(value)
    return None if value is None else tuple([compare(op, value, c) for op, c in tests])
