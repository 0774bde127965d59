"""Caller numbers in one canonical form, so a call and its AML messages find each other."""

from __future__ import annotations

import re

_NON_DIGITS = re.compile(r"\D")


def normalise_number(number: str) -> str:
    """Digits only, without China's country code (+86 / 0086) on mobile numbers.

    The switch gives the national form (13800000000); AML over HTTPS and SMS gateways
    often give the international one (+8613800000000).
    """
    digits = _NON_DIGITS.sub("", number)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits
