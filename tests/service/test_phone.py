"""Caller numbers: every spelling of one number reads the same (dispatch.phone)."""

from __future__ import annotations

import pytest

from dispatch.phone import normalise_number


@pytest.mark.parametrize("spelling", [
    "+86 25 8456 1234", "02584561234", "025-8456-1234", "0086 25 8456 1234", "+862584561234",
])
def test_a_landline_reads_the_same_with_or_without_the_country_code(spelling: str) -> None:
    assert normalise_number(spelling) == "02584561234"


def test_a_local_landline_gets_the_centres_area_code() -> None:
    assert normalise_number("84561234", area_code="25") == "02584561234"
    # without a configured area code it is kept as dialled, never guessed
    assert normalise_number("84561234") == "84561234"


@pytest.mark.parametrize("spelling", [
    "13912345678", "+8613912345678", "8613912345678", "0086 139 1234 5678", "139-1234-5678",
])
def test_mobiles_read_as_the_switch_gives_them(spelling: str) -> None:
    assert normalise_number(spelling) == "13912345678"


def test_other_numbers_are_kept() -> None:
    assert normalise_number("120") == "120"
    assert normalise_number("120", area_code="25") == "120"  # a service number, not a landline
    assert normalise_number("+44 20 7946 0958") == "+442079460958"
    # a mobile range the metadata does not know still loses +86
    assert normalise_number("+8610000000000") == "10000000000"


def test_the_intake_reads_a_number_as_normalise_number_does_each_time() -> None:
    from types import SimpleNamespace

    from dispatch.flows.aml import caller_number

    spellings = ["+86 25 8456 1234", "84561234", "13912345678", "+442079460958", "120",
                 "not a number"]
    for region, area_code in [("CN", None), ("CN", "25"), ("GB", None)]:
        rt = SimpleNamespace(settings=SimpleNamespace(intake=SimpleNamespace(
            phone_region=region, phone_area_code=area_code)))
        for _ in range(2):  # the second reading is remembered: the same answer
            assert [caller_number(rt=rt, number=s) for s in spellings] == [  # type: ignore[arg-type]
                normalise_number(s, region=region, area_code=area_code) for s in spellings]
