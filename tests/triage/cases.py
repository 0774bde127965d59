"""Shared values for the triage tests: a fixed clock and the answer presets of a card."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))

# primary survey answered and normal
OK: dict[str, Any] = {"conscious": True, "breathing": True, "breathing_normally": True}
# a booking whose red-flag screen is complete and negative
SCREEN_CLEAR: dict[str, Any] = {
    "red_flag_new_symptoms": False,
    "red_flag_breathing": False,
    "red_flag_chest_pain": False,
    "red_flag_confusion": False,
    "red_flag_bleeding": False,
    "red_flag_needs_monitoring": False,
}


def hours_ago(hours: float) -> datetime:
    """A time `hours` before NOW."""
    return NOW - timedelta(hours=hours)


def days(n: float) -> float:
    """An age in years for a baby n days old."""
    return n / 365.25
