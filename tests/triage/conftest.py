"""Triage tests start from empty caches: rule outcomes, keyword matches, text numbers."""

from __future__ import annotations

import pytest

from dispatch.triage import keywords, textnums
from dispatch.triage.protocol import load_protocol


@pytest.fixture(autouse=True)
def _fresh_rule_outcomes() -> None:
    """The engine keeps rule outcomes per facts signature (dispatch.triage.signature) in the
    cached protocol, and the text readers keep their readings per text (keywords'
    _analysed and _find_matches, textnums' read_numbers and read_card_numbers). Cleared
    before each test, so no test is answered from another's results, and a changed engine
    or reader (a mutation run forks after the caches are warm) is run rather than looked
    up."""
    load_protocol().outcomes.clear()
    keywords._analysed.cache_clear()
    keywords._find_matches.cache_clear()
    textnums.read_numbers.cache_clear()
    textnums.read_card_numbers.cache_clear()
