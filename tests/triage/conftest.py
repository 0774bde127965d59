"""Triage tests start from an empty rule-outcome cache."""

from __future__ import annotations

import pytest

from dispatch.triage.protocol import load_protocol


@pytest.fixture(autouse=True)
def _fresh_rule_outcomes() -> None:
    """The engine keeps rule outcomes per facts signature (dispatch.triage.signature) in the
    cached protocol. Cleared before each test, so no test is answered from another's
    outcomes, and a changed engine (a mutation run forks after the cache is warm) is
    evaluated rather than looked up."""
    load_protocol().outcomes.clear()
