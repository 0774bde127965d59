"""Advanced Mobile Location (AML) messages: parse and validate what handsets send.

AML (ETSI TS 103 625; EENA "AML Specification" v1.x) makes a phone that dials an emergency
number send its own position, once it has a good fix or 20 s into the call, in one of two
forms:

- SMS, version 1: ``A"ML=1;lt=+55.74317;lg=-004.26881;rd=50;top=20130717141935;lc=90;pm=W;
  si=...;ei=...;mcc=234;mnc=30;ml=124``. Attributes: lt/lg latitude/longitude (WGS-84
  degrees), rd radius (m), top time of positioning (UTC, YYYYMMDDhhmmss), lc level of
  confidence (integer %), pm positioning method (G GNSS, W Wi-Fi, C cell, N none), si IMSI,
  ei IMEI, mcc/mnc network codes, ml message length (always the last attribute).
- HTTPS POST, form-encoded (the public AML/ELS HTTPS interface): v, emergency_number,
  location_latitude, location_longitude, location_accuracy (m), location_time (ms since the
  epoch, UTC), location_source (gps, wifi, cell, fused, unknown), location_confidence,
  device_number, device_imsi, device_imei, cell_network_mcc, cell_network_mnc, ...

AML coordinates are always WGS-84. Parsing is strict about the attributes it needs and the
values it reads (a wrong position sends an ambulance to the wrong place) and tolerant of
attributes it does not know (later versions add some; losing a location over one would be
worse). Every failure names the offending field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlencode

from dispatch.domain import FixSource
from dispatch.errors import GeoError
from dispatch.geo.fusion import ACCURACY_CONFIDENCE_PCT, Fix, rescale_radius

SMS_HEADER_KEY = 'A"ML'
SUPPORTED_SMS_VERSIONS = frozenset({"1"})

# When a message does not state its confidence, assume the Android location convention:
# accuracy is the radius of 68 % confidence (android.location.Location#getAccuracy).
DEFAULT_CONFIDENCE_PCT = 68
MAX_USABLE_CONFIDENCE_PCT = 99


class AmlParseError(GeoError):
    """An AML message that cannot be used; `field` names the attribute, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"AML {field}: {reason}", field=field)
        self.field: str = field
        self.reason = reason


class PositioningMethod(StrEnum):
    GNSS = "gnss"
    WIFI = "wifi"
    CELL = "cell"
    HYBRID = "hybrid"  # fused by the handset from several sources
    NONE = "none"  # no method reported, or "no location"


# SMS v1 pm codes (ETSI TS 103 625 / EENA AML spec v1; GridGears aml-sms-parser maps the
# same four). "F" (fused) is the AML v2 `ls` code, accepted here because handsets mix them.
_SMS_METHODS: dict[str, PositioningMethod] = {
    "G": PositioningMethod.GNSS,
    "W": PositioningMethod.WIFI,
    "C": PositioningMethod.CELL,
    "N": PositioningMethod.NONE,
    "F": PositioningMethod.HYBRID,
}

# HTTPS location_source values (AML/ELS HTTPS interface: gps, wifi, cell, unknown; Android
# ELS also reports fused).
_HTTPS_METHODS: dict[str, PositioningMethod] = {
    "gps": PositioningMethod.GNSS,
    "gnss": PositioningMethod.GNSS,
    "wifi": PositioningMethod.WIFI,
    "cell": PositioningMethod.CELL,
    "fused": PositioningMethod.HYBRID,
    "hybrid": PositioningMethod.HYBRID,
    "unknown": PositioningMethod.NONE,
}

_FIX_SOURCE: dict[PositioningMethod, FixSource] = {
    PositioningMethod.GNSS: FixSource.GNSS,
    PositioningMethod.WIFI: FixSource.WIFI,
    PositioningMethod.CELL: FixSource.CELL,
    PositioningMethod.HYBRID: FixSource.AML,
    PositioningMethod.NONE: FixSource.AML,
}

# Identifier shapes (3GPP TS 23.003): IMSI up to 15 digits, IMEI 15 digits (14 without the
# check digit), IMEISV 16 digits; MCC 3 digits; MNC 2 or 3 digits.
_IMSI = re.compile(r"\d{5,15}")
_IMEI = re.compile(r"\d{14,16}")
_MCC = re.compile(r"\d{3}")
_MNC = re.compile(r"\d{2,3}")
_TOP = re.compile(r"\d{14}")
_PHONE = re.compile(r"\+?\d{3,20}")


@dataclass(frozen=True, slots=True)
class AmlMessage:
    """One validated AML location report (WGS-84)."""

    version: str
    lat: float
    lon: float
    radius_m: float
    observed_at: datetime  # time of positioning, tz-aware UTC
    confidence_pct: int  # probability (%) that the handset is inside radius_m
    positioning_method: PositioningMethod
    imsi: str | None
    imei: str | None
    mcc: str | None
    mnc: str | None
    caller_number: str | None
    raw: str
    emergency_number: str | None = None  # the number dialled (HTTPS form only)
    # what was odd but not fatal (a declared length that does not match), kept with it
    warnings: tuple[str, ...] = ()

    @property
    def fix_source(self) -> FixSource:
        """The fix source this method maps to (hybrid or unreported -> AML)."""
        return _FIX_SOURCE[self.positioning_method]

    @property
    def accuracy_m(self) -> float:
        """radius_m rescaled to the confidence that fusion's Fix.accuracy_m uses."""
        # A claimed 100 % has no finite circle; read it as the strongest usable claim.
        from_pct = min(self.confidence_pct, MAX_USABLE_CONFIDENCE_PCT)
        return rescale_radius(self.radius_m, from_pct=from_pct, to_pct=ACCURACY_CONFIDENCE_PCT)

    def to_fix(self, *, fix_id: int | str) -> Fix:
        """This report as a fusion input."""
        return Fix(
            fix_id=fix_id,
            lon=self.lon,
            lat=self.lat,
            accuracy_m=self.accuracy_m,
            source=self.fix_source,
            observed_at=self.observed_at,
        )


# --- value readers shared by both forms -------------------------------------------------


def _float(field: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AmlParseError(field, f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise AmlParseError(field, f"non-finite value {text!r}")
    return value


def _latitude(field: str, text: str) -> float:
    value = _float(field, text)
    if not -90.0 <= value <= 90.0:
        raise AmlParseError(field, f"latitude {value} out of range [-90, 90]")
    return value


def _longitude(field: str, text: str) -> float:
    value = _float(field, text)
    if not -180.0 <= value <= 180.0:
        raise AmlParseError(field, f"longitude {value} out of range [-180, 180]")
    return value


def _radius(field: str, text: str) -> float:
    value = _float(field, text)
    if value <= 0.0:
        raise AmlParseError(field, f"radius must be positive, got {value}")
    return value


def _percent(field: str, text: str) -> int:
    if not text.isdigit():
        raise AmlParseError(field, f"confidence must be an integer percentage, got {text!r}")
    value = int(text)
    if not 1 <= value <= 100:
        raise AmlParseError(field, f"confidence {value} out of range [1, 100]")
    return value


def _optional_id(field: str, text: str | None, pattern: re.Pattern[str]) -> str | None:
    if text is None or text == "":
        return None
    if not pattern.fullmatch(text):
        raise AmlParseError(field, f"malformed identifier {text!r}")
    return text


# --- SMS --------------------------------------------------------------------------------


def _sms_attributes(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(text.split(";")):
        key, sep, value = item.partition("=")
        if not sep or not key or "=" in value:
            raise AmlParseError("message", f"attribute {index + 1} is not key=value: {item!r}")
        pairs.append((key, value))
    return pairs


def _length_warning(text: str, declared: str) -> str | None:
    """Why the declared length `ml` does not match the message, or None when it does.

    The specification counts the whole message including the ml attribute (GridGears
    aml-sms-parser checks the same); the example message of the published specification
    counts everything before "ml=", and real handsets send other counts still. A mismatch
    is no reason to lose a caller's location that parses whole (ml is last, so a truncated
    message fails elsewhere): it is accepted, and the warning kept with the message.
    """
    whole = len(text)
    before_ml = text.rfind("ml=")
    if not declared.isdigit():
        return f"ml {declared!r} is not a length; message has {whole} characters"
    if int(declared) not in (whole, before_ml):
        return f"ml declares {declared}, message has {whole} ({before_ml} before ml=)"
    return None


def _sms_time(text: str) -> datetime:
    if not _TOP.fullmatch(text):
        raise AmlParseError("top", f"time of positioning must be YYYYMMDDhhmmss, got {text!r}")
    try:
        naive = datetime.strptime(text, "%Y%m%d%H%M%S")  # noqa: DTZ007 - AML top is UTC
    except ValueError:
        raise AmlParseError("top", f"not a valid date and time: {text!r}") from None
    return naive.replace(tzinfo=UTC)


def parse_aml_sms(text: str, *, sender: str | None = None) -> AmlMessage:
    """Parse an AML SMS body; `sender` is the SMS originating address (the caller's number)."""
    body = text.strip()
    if not body.startswith(SMS_HEADER_KEY + "="):
        raise AmlParseError(SMS_HEADER_KEY, 'message does not start with the A"ML= header')
    pairs = _sms_attributes(body)
    attrs: dict[str, str] = {}
    for key, value in pairs:
        if key in attrs:
            raise AmlParseError(key, "attribute appears twice")
        attrs[key] = value
    version = attrs[SMS_HEADER_KEY]
    if version not in SUPPORTED_SMS_VERSIONS:
        raise AmlParseError(SMS_HEADER_KEY, f"unsupported AML SMS version {version!r}")
    if pairs[-1][0] != "ml":
        raise AmlParseError("ml", "missing: ml must be the last attribute (message truncated?)")
    length_warning = _length_warning(body, attrs["ml"])
    for required in ("lt", "lg", "rd", "top"):
        if not attrs.get(required):
            raise AmlParseError(required, "missing")
    pm = attrs.get("pm", "")
    if pm and pm not in _SMS_METHODS:
        raise AmlParseError("pm", f"unknown positioning method {pm!r}")
    lc = attrs.get("lc")
    return AmlMessage(
        version=version,
        lat=_latitude("lt", attrs["lt"]),
        lon=_longitude("lg", attrs["lg"]),
        radius_m=_radius("rd", attrs["rd"]),
        observed_at=_sms_time(attrs["top"]),
        confidence_pct=_percent("lc", lc) if lc else DEFAULT_CONFIDENCE_PCT,
        positioning_method=_SMS_METHODS[pm] if pm else PositioningMethod.NONE,
        imsi=_optional_id("si", attrs.get("si"), _IMSI),
        imei=_optional_id("ei", attrs.get("ei"), _IMEI),
        mcc=_optional_id("mcc", attrs.get("mcc"), _MCC),
        mnc=_optional_id("mnc", attrs.get("mnc"), _MNC),
        caller_number=_optional_id("sender", sender, _PHONE),
        raw=text,
        warnings=(length_warning,) if length_warning else (),
    )


# --- HTTPS ------------------------------------------------------------------------------


def _first(fields: Mapping[str, str], *names: str) -> tuple[str, str | None]:
    """The first of `names` present and non-empty: (its name, its stripped value)."""
    for name in names:
        value = fields.get(name)
        if value is not None and value.strip() != "":
            return name, value.strip()
    return names[0], None


def _required(fields: Mapping[str, str], name: str) -> str:
    _, value = _first(fields, name)
    if value is None:
        raise AmlParseError(name, "missing")
    return value


def _https_time(text: str) -> datetime:
    # Milliseconds since the Unix epoch, UTC (AML/ELS HTTPS interface).
    if not re.fullmatch(r"\d{1,16}(\.\d+)?", text):
        raise AmlParseError("location_time", f"must be milliseconds since the epoch: {text!r}")
    try:
        return datetime.fromtimestamp(float(text) / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise AmlParseError("location_time", f"time out of range: {text!r}") from None


def _https_confidence(text: str | None) -> int:
    if text is None:
        return DEFAULT_CONFIDENCE_PCT
    value = _float("location_confidence", text)
    # Implementations send either a fraction (0.68) or a percentage (68); a value up to 1
    # is read as a fraction because a confidence of 1 % is never reported.
    pct = round(value * 100.0) if value <= 1.0 else round(value)
    if not 1 <= pct <= 100:
        raise AmlParseError("location_confidence", f"confidence {text!r} out of range")
    return pct


def parse_aml_https(fields: Mapping[str, str]) -> AmlMessage:
    """Parse the form fields of an AML HTTPS POST."""
    source_name, source = _first(fields, "location_source")
    method = PositioningMethod.NONE
    if source is not None:
        if source.lower() not in _HTTPS_METHODS:
            raise AmlParseError(source_name, f"unknown location source {source!r}")
        method = _HTTPS_METHODS[source.lower()]
    imsi_name, imsi = _first(fields, "device_imsi", "imsi")
    imei_name, imei = _first(fields, "device_imei", "imei")
    mcc_name, mcc = _first(fields, "cell_network_mcc", "mcc")
    mnc_name, mnc = _first(fields, "cell_network_mnc", "mnc")
    _, caller = _first(fields, "device_number")
    _, dialled = _first(fields, "emergency_number")
    return AmlMessage(
        version=_required(fields, "v"),
        lat=_latitude("location_latitude", _required(fields, "location_latitude")),
        lon=_longitude("location_longitude", _required(fields, "location_longitude")),
        radius_m=_radius("location_accuracy", _required(fields, "location_accuracy")),
        observed_at=_https_time(_required(fields, "location_time")),
        confidence_pct=_https_confidence(_first(fields, "location_confidence")[1]),
        positioning_method=method,
        imsi=_optional_id(imsi_name, imsi, _IMSI),
        imei=_optional_id(imei_name, imei, _IMEI),
        mcc=_optional_id(mcc_name, mcc, _MCC),
        mnc=_optional_id(mnc_name, mnc, _MNC),
        caller_number=_optional_id("device_number", caller, _PHONE),
        raw=urlencode(list(fields.items())),
        emergency_number=_optional_id("emergency_number", dialled, _PHONE),
    )
