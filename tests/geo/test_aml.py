"""AML (ETSI TS 103 625) SMS and HTTPS parsing: valid samples and malformed ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dispatch.domain import FixSource
from dispatch.errors import GeoError
from dispatch.geo.aml import (
    AmlMessage,
    AmlParseError,
    PositioningMethod,
    parse_aml_https,
    parse_aml_sms,
)
from dispatch.geo.fusion import Fix

# The example message of our brief (as in the public AML specification's example; its ml
# counts the characters before "ml=").
BRIEF_SAMPLE = (
    'A"ML=1;lt=+55.74317;lg=-004.26881;rd=50;top=20130717141935;lc=90;pm=W;'
    "si=123456789012345;ei=1234567890123456;mcc=234;mnc=30;ml=124"
)
# GridGears aml-sms-parser's test message (AmlMessageParserTest.java): ml counts the whole
# message, 128 characters.
GRIDGEARS_SAMPLE = (
    'A"ML=1;lt=+54.76397;lg=-0.18305;rd=50;top=20130717141935;lc=90;pm=W;'
    "si=123456789012345;ei=1234567890123456;mcc=234;mnc=30;ml=128"
)

_BASE = {
    "lt": "+32.04150",
    "lg": "118.77840",
    "rd": "15",
    "top": "20240301083015",
    "lc": "68",
    "pm": "G",
    "si": "460001234567890",
    "ei": "356708041746734",
    "mcc": "460",
    "mnc": "00",
}


def sms(drop: tuple[str, ...] = (), **values: str) -> str:
    """A v1 AML SMS with a correct whole-message ml, from _BASE with changes."""
    attrs = {**_BASE, **values}
    body = 'A"ML=1;' + "".join(f"{k}={v};" for k, v in attrs.items() if k not in drop)
    for digits in range(1, 4):
        candidate = f"{body}ml={len(body) + 3 + digits}"
        if len(candidate) == len(body) + 3 + digits:
            return candidate
    raise AssertionError("unreachable")


def test_brief_sample():
    msg = parse_aml_sms(BRIEF_SAMPLE)
    assert msg == AmlMessage(
        version="1",
        lat=55.74317,
        lon=-4.26881,
        radius_m=50.0,
        observed_at=datetime(2013, 7, 17, 14, 19, 35, tzinfo=UTC),
        confidence_pct=90,
        positioning_method=PositioningMethod.WIFI,
        imsi="123456789012345",
        imei="1234567890123456",
        mcc="234",
        mnc="30",
        caller_number=None,
        raw=BRIEF_SAMPLE,
    )
    assert msg.fix_source is FixSource.WIFI


def test_gridgears_sample_counts_the_whole_message():
    msg = parse_aml_sms(GRIDGEARS_SAMPLE)
    assert (msg.lat, msg.lon, msg.radius_m) == (54.76397, -0.18305, 50.0)
    # 1374070775000 ms is the time GridGears' test expects.
    assert msg.observed_at.timestamp() == 1374070775


def test_sender_becomes_the_caller_number_and_whitespace_is_ignored():
    msg = parse_aml_sms("  " + sms() + "\r\n", sender="+8613912345678")
    assert msg.caller_number == "+8613912345678"
    assert msg.observed_at == datetime(2024, 3, 1, 8, 30, 15, tzinfo=UTC)
    assert msg.observed_at.tzinfo is UTC


METHODS = [
    ("G", PositioningMethod.GNSS, FixSource.GNSS),
    ("W", PositioningMethod.WIFI, FixSource.WIFI),
    ("C", PositioningMethod.CELL, FixSource.CELL),
    ("F", PositioningMethod.HYBRID, FixSource.AML),
    ("N", PositioningMethod.NONE, FixSource.AML),
]


@pytest.mark.parametrize(("pm", "method", "source"), METHODS)
def test_positioning_methods(pm, method, source):
    msg = parse_aml_sms(sms(pm=pm))
    assert msg.positioning_method is method
    assert msg.fix_source is source


def test_optional_attributes_may_be_absent():
    msg = parse_aml_sms(sms(drop=("lc", "pm", "si", "ei", "mcc", "mnc")))
    assert msg.confidence_pct == 68
    assert msg.positioning_method is PositioningMethod.NONE
    assert (msg.imsi, msg.imei, msg.mcc, msg.mnc) == (None, None, None, None)


def test_unknown_attributes_are_tolerated():
    msg = parse_aml_sms(sms(xz="future-extension"))
    assert msg.lat == 32.0415


MALFORMED_SMS = [
    # (case, text, field named by the error)
    ("no header", sms().removeprefix('A"ML=1;'), 'A"ML'),
    ("version 9", sms().replace('A"ML=1', 'A"ML=9'), 'A"ML'),
    ("missing lt", sms(drop=("lt",)), "lt"),
    ("missing lg", sms(drop=("lg",)), "lg"),
    ("missing rd", sms(drop=("rd",)), "rd"),
    ("missing top", sms(drop=("top",)), "top"),
    ("empty lt", sms(lt=""), "lt"),
    ("lat out of range", sms(lt="+95.00000"), "lt"),
    ("lon out of range", sms(lg="-190.5"), "lg"),
    ("lat not a number", sms(lt="+g4.7d397"), "lt"),
    ("lat nan", sms(lt="nan"), "lt"),
    ("lon infinite", sms(lg="inf"), "lg"),
    ("radius zero", sms(rd="0"), "rd"),
    ("radius negative", sms(rd="-5"), "rd"),
    ("date only", sms(top="20130717"), "top"),
    ("impossible date", sms(top="20130230141935"), "top"),
    ("confidence fractional", sms(lc="99.9"), "lc"),
    ("confidence over 100", sms(lc="101"), "lc"),
    ("confidence zero", sms(lc="0"), "lc"),
    ("unknown method", sms(pm="Z"), "pm"),
    ("imsi letters", sms(si="46000ABC"), "si"),
    ("imei too short", sms(ei="12345"), "ei"),
    ("mcc two digits", sms(mcc="46"), "mcc"),
    ("duplicate attribute", sms(lc="68;lc=90"), "lc"),
    ("empty attribute", sms().replace(";lt=", ";;lt="), "message"),
    ("a==", sms().replace(";lt=", ";a==;lt="), "message"),
    ("truncated (no ml)", GRIDGEARS_SAMPLE[:90], "ml"),
    ("ml not last", sms().replace("mnc=00;", "") + ";mnc=00", "ml"),
]


@pytest.mark.parametrize(("case", "text", "field"), MALFORMED_SMS)
def test_malformed_sms_names_the_field(case, text, field):
    with pytest.raises(AmlParseError) as err:
        parse_aml_sms(text)
    assert err.value.field == field, (case, err.value.reason)
    assert err.value.reason
    assert field in str(err.value)


@pytest.mark.parametrize("declared", ["10", "12x", "999"])
def test_a_declared_length_that_does_not_match_is_a_warning_not_a_refusal(declared):
    # Real handsets, and the specification's own example, send ml values that count
    # otherwise: the location parses whole and is kept, with the mismatch noted.
    message = parse_aml_sms(GRIDGEARS_SAMPLE.replace("ml=128", f"ml={declared}"))
    whole = parse_aml_sms(GRIDGEARS_SAMPLE)
    assert (message.lat, message.lon, message.radius_m) == (whole.lat, whole.lon, whole.radius_m)
    assert len(message.warnings) == 1 and declared in message.warnings[0]
    assert whole.warnings == ()


def test_bad_sender_is_rejected():
    with pytest.raises(AmlParseError) as err:
        parse_aml_sms(sms(), sender="call me")
    assert err.value.field == "sender"


def test_parse_error_is_a_geo_error_not_a_value_error():
    assert issubclass(AmlParseError, GeoError)
    assert not issubclass(AmlParseError, ValueError)


HTTPS_OK = {
    "v": "3",
    "thunderbird_version": "1.0",
    "emergency_number": "120",
    "source": "call",
    "time": "1709281800000",
    "location_latitude": "32.04150",
    "location_longitude": "118.77840",
    "location_time": "1709281815250",
    "location_accuracy": "12.5",
    "location_source": "gps",
    "location_confidence": "0.68",
    "device_number": "+8613912345678",
    "device_model": "ABC 530",
    "device_imsi": "460001234567890",
    "device_imei": "356708041746734",
    "cell_network_mcc": "460",
    "cell_network_mnc": "00",
    "cell_home_mcc": "460",
    "cell_home_mnc": "00",
}


def test_https_form():
    msg = parse_aml_https(HTTPS_OK)
    assert msg.version == "3"
    assert (msg.lat, msg.lon, msg.radius_m) == (32.0415, 118.7784, 12.5)
    assert msg.observed_at == datetime(2024, 3, 1, 8, 30, 15, 250000, tzinfo=UTC)
    assert msg.confidence_pct == 68
    assert msg.positioning_method is PositioningMethod.GNSS
    assert msg.fix_source is FixSource.GNSS
    assert msg.caller_number == "+8613912345678"
    assert msg.emergency_number == "120"
    assert (msg.imsi, msg.imei, msg.mcc, msg.mnc) == (
        "460001234567890",
        "356708041746734",
        "460",
        "00",
    )
    assert "location_latitude=32.04150" in msg.raw


HTTPS_VARIANTS = [
    # (case, changes, attribute, expected)
    ("percent confidence", {"location_confidence": "90"}, "confidence_pct", 90),
    ("no confidence", {"location_confidence": None}, "confidence_pct", 68),
    ("wifi", {"location_source": "wifi"}, "positioning_method", PositioningMethod.WIFI),
    ("cell upper case", {"location_source": "CELL"}, "positioning_method", PositioningMethod.CELL),
    ("fused", {"location_source": "fused"}, "positioning_method", PositioningMethod.HYBRID),
    ("unknown", {"location_source": "unknown"}, "positioning_method", PositioningMethod.NONE),
    ("no source", {"location_source": None}, "positioning_method", PositioningMethod.NONE),
    ("no number", {"device_number": None}, "caller_number", None),
    ("short names", {"device_imsi": None, "imsi": "460009999999999"}, "imsi", "460009999999999"),
    ("short mcc", {"cell_network_mcc": None, "mcc": "454"}, "mcc", "454"),
]


def _with(changes: dict[str, str | None]) -> dict[str, str]:
    fields = {k: v for k, v in {**HTTPS_OK, **changes}.items() if v is not None}
    return fields


@pytest.mark.parametrize(("case", "changes", "attribute", "expected"), HTTPS_VARIANTS)
def test_https_variants(case, changes, attribute, expected):
    assert getattr(parse_aml_https(_with(changes)), attribute) == expected, case


MALFORMED_HTTPS = [
    ("missing version", {"v": None}, "v"),
    ("missing latitude", {"location_latitude": None}, "location_latitude"),
    ("blank latitude", {"location_latitude": "  "}, "location_latitude"),
    ("missing longitude", {"location_longitude": None}, "location_longitude"),
    ("missing accuracy", {"location_accuracy": None}, "location_accuracy"),
    ("missing time", {"location_time": None}, "location_time"),
    ("latitude out of range", {"location_latitude": "-91"}, "location_latitude"),
    ("longitude not finite", {"location_longitude": "NaN"}, "location_longitude"),
    ("accuracy negative", {"location_accuracy": "-1"}, "location_accuracy"),
    ("time as ISO text", {"location_time": "2024-03-01T08:30:15Z"}, "location_time"),
    ("time negative", {"location_time": "-5"}, "location_time"),
    ("time absurd", {"location_time": "9999999999999999"}, "location_time"),
    ("unknown source", {"location_source": "psychic"}, "location_source"),
    ("confidence too big", {"location_confidence": "250"}, "location_confidence"),
    ("confidence text", {"location_confidence": "high"}, "location_confidence"),
    ("imei letters", {"device_imei": "35670804174673X"}, "device_imei"),
    ("mnc too long", {"cell_network_mnc": "0001"}, "cell_network_mnc"),
    ("number with letters", {"device_number": "+86 call me"}, "device_number"),
]


@pytest.mark.parametrize(("case", "changes", "field"), MALFORMED_HTTPS)
def test_malformed_https_names_the_field(case, changes, field):
    with pytest.raises(AmlParseError) as err:
        parse_aml_https(_with(changes))
    assert err.value.field == field, (case, err.value.reason)


ACCURACY_CASES = [
    # (radius, confidence %, expected 68 % radius): Rayleigh rescaling
    ("15", "68", 15.0),
    ("50", "90", 50.0 * 1.5096 / 2.1460),
    ("50", "95", 50.0 * 1.5096 / 2.4477),
    ("30", "39", 30.0 * 1.5096 / 0.9936),
    ("50", "100", 50.0 * 1.5096 / 3.0349),  # 100 % is read as 99 %
]


@pytest.mark.parametrize(("rd", "lc", "expected"), ACCURACY_CASES)
def test_accuracy_is_rescaled_to_68_percent(rd, lc, expected):
    msg = parse_aml_sms(sms(rd=rd, lc=lc))
    assert msg.accuracy_m == pytest.approx(expected, rel=1e-3)


def test_to_fix():
    msg = parse_aml_sms(sms(pm="W", rd="40", lc="68"))
    fix = msg.to_fix(fix_id="aml-1")
    assert fix == Fix(
        fix_id="aml-1",
        lon=118.7784,
        lat=32.0415,
        accuracy_m=fix.accuracy_m,
        source=FixSource.WIFI,
        observed_at=datetime(2024, 3, 1, 8, 30, 15, tzinfo=UTC),
    )
    assert fix.accuracy_m == pytest.approx(40.0)


@pytest.mark.parametrize(("text", "pct"), [
    ("1.0", 100),  # up to 1 is a fraction
    ("1", 100),
    ("1.5", 2),  # above 1 is a percentage
    ("0.01", 1),
    ("100", 100),
])
def test_https_confidence_fraction_or_percent(text, pct):
    assert parse_aml_https(_with({"location_confidence": text})).confidence_pct == pct


@pytest.mark.parametrize("text", ["101", "0.004", "0"])
def test_https_confidence_past_the_ends_is_refused(text):
    with pytest.raises(AmlParseError) as err:
        parse_aml_https(_with({"location_confidence": text}))
    assert (err.value.field, err.value.reason) == (
        "location_confidence", f"confidence {text!r} out of range")


def test_short_field_names_and_blank_long_ones():
    msg = parse_aml_https(_with({"device_imei": " ", "imei": "356708041746734",
                                 "cell_network_mnc": None, "mnc": "01"}))
    assert (msg.imei, msg.mnc) == ("356708041746734", "01")


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"v": None}, "v", "missing"),
    ({"location_time": "soon"}, "location_time",
     "must be milliseconds since the epoch: 'soon'"),
    ({"location_time": "9999999999999999"}, "location_time",
     "time out of range: '9999999999999999'"),
    ({"location_source": "psychic"}, "location_source", "unknown location source 'psychic'"),
    ({"device_imsi": None, "imsi": "4600"}, "imsi", "malformed identifier '4600'"),
    ({"cell_network_mcc": "46"}, "cell_network_mcc", "malformed identifier '46'"),
    ({"emergency_number": "1-2-0"}, "emergency_number", "malformed identifier '1-2-0'"),
])
def test_https_refusals_say_why(changes, field, reason):
    with pytest.raises(AmlParseError) as err:
        parse_aml_https(_with(changes))
    assert (err.value.field, err.value.reason) == (field, reason)
    assert err.value.message == f"AML {field}: {reason}"


@pytest.mark.parametrize(("text", "field", "reason"), [
    (sms().removeprefix('A"ML=1;'), 'A"ML', 'message does not start with the A"ML= header'),
    (sms(lc="68;lc=90"), "lc", "attribute appears twice"),
    (sms().replace("mnc=00;", "") + ";mnc=00", "ml",
     "missing: ml must be the last attribute (message truncated?)"),
    (sms(drop=("rd",)), "rd", "missing"),
    (sms().replace(";lt=", ";=5;lt="), "message", "attribute 2 is not key=value: '=5'"),
    (sms().replace(";lt=", ";;lt="), "message", "attribute 2 is not key=value: ''"),
])
def test_sms_refusals_say_why(text, field, reason):
    with pytest.raises(AmlParseError) as err:
        parse_aml_sms(text)
    assert (err.value.field, err.value.reason) == (field, reason)


def test_sms_edges_of_optional_attributes():
    msg = parse_aml_sms(sms(si="", lc="1", pm=""))
    assert (msg.imsi, msg.confidence_pct) == (None, 1)
    assert msg.positioning_method is PositioningMethod.NONE


def test_the_declared_length_is_read_before_the_last_ml():
    # an unknown attribute ending in "ml" must not be taken for the length attribute
    body = sms().rsplit(";ml=", 1)[0] + ";xml=1;"
    counted_before = f"{body}ml={len(body)}"
    assert parse_aml_sms(counted_before).warnings == ()


@pytest.mark.parametrize(("lt", "lg"), [("-90", "-180"), ("+90", "180"), ("90.0", "-180.0")])
def test_the_range_edges_are_locations(lt, lg):
    msg = parse_aml_sms(sms(lt=lt, lg=lg, rd="0.5"))
    assert (msg.lat, msg.lon, msg.radius_m) == (float(lt), float(lg), 0.5)


@pytest.mark.parametrize(("values", "field"), [
    ({"lt": "90.5"}, "lt"), ({"lt": "-90.5"}, "lt"), ({"lg": "180.5"}, "lg"),
    ({"lg": "-180.5"}, "lg"), ({"rd": "wide"}, "rd"), ({"mnc": "0001"}, "mnc"),
])
def test_just_past_the_edges_is_refused(values, field):
    with pytest.raises(AmlParseError) as err:
        parse_aml_sms(sms(**values))
    assert err.value.field == field
