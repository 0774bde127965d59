"""Caller numbers in one canonical form, so a call and its AML messages find each other.

The switch gives the national form (13800000000, 02584561234); AML over HTTPS and SMS
gateways often give the international one (+8613800000000, +86 25 8456 1234). Google's
libphonenumber metadata (the `phonenumbers` package) knows each country's trunk prefix and
area-code lengths, so every spelling of one number reads the same.
"""

from __future__ import annotations

import re

import phonenumbers

_NON_DIGITS = re.compile(r"\D")
# A Chinese landline's subscriber part without its area code is 7 or 8 digits and never
# starts with 0 (trunk prefix) or 1 (mobiles and service numbers such as 120).
_LOCAL_LANDLINE = re.compile(r"[2-9]\d{6,7}")


def normalise_number(number: str, *, region: str = "CN", area_code: str | None = None) -> str:
    """The canonical form of a caller number.

    A valid number of `region` gives its national digits (mobiles 13912345678, landlines
    with the trunk prefix and area code 02584561234); a valid foreign number its E.164 form
    (+442079460958). A local landline dialled without its area code gets `area_code` (the
    centre's, e.g. "25"), when one is configured. Anything else (short service numbers,
    numbers the metadata does not know) is kept as its digits, so it still matches itself.
    """
    digits = _NON_DIGITS.sub("", number)
    if area_code and _LOCAL_LANDLINE.fullmatch(digits) and not number.lstrip().startswith("+"):
        number = f"0{area_code}{digits}"
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return _digits_without_country_code(digits)
    if not phonenumbers.is_valid_number(parsed):
        return _digits_without_country_code(digits)
    if phonenumbers.region_code_for_number(parsed) == region:
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        return _NON_DIGITS.sub("", national)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _digits_without_country_code(digits: str) -> str:
    """A number the metadata does not know (a new mobile range): without China's +86 /
    0086 on an 11-digit mobile, as the switch gives it."""
    if digits.startswith("0086"):
        return digits[4:]
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits
