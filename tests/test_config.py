"""Settings per domain, composed by `Settings`, every DISPATCH_* variable named as ever."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from dispatch import config
from dispatch.config import Settings

# Every variable the service has read, by name: deployments set these, so a rename is a
# breaking change and must be a deliberate edit here.
ENV_NAMES = frozenset({
    "DISPATCH_AML_HOLD_S", "DISPATCH_AUTO_ASSIGN", "DISPATCH_BOOKING_LEAD_S",
    "DISPATCH_BOOKING_SERVICE_S", "DISPATCH_BOOKING_TICK_S", "DISPATCH_CLEAR_GRACE_S",
    "DISPATCH_COVERAGE_DEMAND_TTL_S", "DISPATCH_COVERAGE_LOOKBACK_DAYS",
    "DISPATCH_COVERAGE_PRIOR_WEIGHT", "DISPATCH_COVERAGE_SLACK_S", "DISPATCH_DATABASE_URL",
    "DISPATCH_DATA_DIR", "DISPATCH_DB_ACQUIRE_TIMEOUT_S", "DISPATCH_DB_COMMAND_TIMEOUT_S",
    "DISPATCH_DB_POOL_MAX", "DISPATCH_DB_POOL_MIN", "DISPATCH_DB_SCHEMA",
    "DISPATCH_DISPLAY_TIMEZONE", "DISPATCH_ETA_CALIBRATION_DAYS", "DISPATCH_ETA_MIN_SAMPLES",
    "DISPATCH_ETA_RECALIBRATE_S", "DISPATCH_HOSPITAL_RETENTION_S", "DISPATCH_INDEX_CHECK_S",
    "DISPATCH_INDICATOR_CONNECTIONS", "DISPATCH_JWT_ISSUER", "DISPATCH_JWT_SECRET",
    "DISPATCH_LOCATION_ETA_NOTIFY_S", "DISPATCH_MAP_TILE_ATTRIBUTION",
    "DISPATCH_MAP_TILE_COORD_SYSTEM", "DISPATCH_MAP_TILE_URL", "DISPATCH_MAX_BODY_BYTES",
    "DISPATCH_MAX_CLOCK_SKEW_S", "DISPATCH_MAX_POSITION_AGE_S", "DISPATCH_MIGRATE_ON_START",
    "DISPATCH_MOVEUP_DISTRICT_THRESHOLD", "DISPATCH_OSRM_SHORTLIST", "DISPATCH_OSRM_TIMEOUT_S",
    "DISPATCH_OSRM_URL", "DISPATCH_PHONE_AREA_CODE", "DISPATCH_PHONE_REGION",
    "DISPATCH_QUEUE_SWEEP_S", "DISPATCH_RANKING_POLICY", "DISPATCH_RECOMMEND_TOP",
    "DISPATCH_REDIS_PREFIX", "DISPATCH_REDIS_TIMEOUT_S", "DISPATCH_REDIS_URL",
    "DISPATCH_SEARCH_CANDIDATES", "DISPATCH_SEARCH_MAX_M", "DISPATCH_SEARCH_START_M",
    "DISPATCH_STREAM_MAXLEN", "DISPATCH_TOKEN_TTL_S", "DISPATCH_WS_PER_MESSAGE_DEFLATE",
})

# Settings attribute -> its domain's class
PARTS: dict[str, type[BaseModel]] = {
    "database": config.DatabaseSettings, "redis": config.RedisSettings,
    "auth": config.AuthSettings, "server": config.ServerSettings,
    "intake": config.IntakeSettings, "dispatch": config.DispatchSettings,
    "bookings": config.BookingSettings, "eta": config.EtaSettings,
    "coverage": config.CoverageSettings, "handover": config.HandoverSettings,
    "display": config.DisplaySettings,
}

# A value other than the default for each field that is not a number or a flag.
SAMPLES: dict[str, str] = {
    "database_url": "postgresql://db.example:5432/dispatch", "db_schema": "centre_b",
    "data_dir": "/var/lib/dispatch", "redis_url": "redis://cache.example:6379/2",
    "redis_prefix": "centre_b", "jwt_secret": "s" * 40, "jwt_issuer": "centre-b",
    "phone_region": "HK", "phone_area_code": "10", "ranking_policy": "coverage",
    "osrm_url": "http://osrm.example:5000", "display_timezone": "Asia/Urumqi",
    "map_tile_url": "https://tiles.example/{z}/{x}/{y}.png",
    "map_tile_coord_system": "gcj02", "map_tile_attribution": "© tiles",
}


def _sample(part: type[BaseModel], name: str) -> str:
    """An environment value for `name` that its part accepts and that is not the default."""
    if name in SAMPLES:
        return SAMPLES[name]
    default: Any = part.model_fields[name].default
    if isinstance(default, bool):
        return str(not default).lower()
    for candidate in (default + 1, default / 2, default - 1):
        value = int(candidate) if isinstance(default, int) else candidate
        try:
            part.model_validate({name: value})
        except ValidationError:
            continue
        if value != default:
            return str(value)
    raise AssertionError(f"no sample value for {name}")


def test_every_variable_keeps_its_name() -> None:
    assert {f"DISPATCH_{name.upper()}" for name in Settings.model_fields} == ENV_NAMES


def test_the_parts_share_out_every_setting_once() -> None:
    owned = [name for part in PARTS.values() for name in part.model_fields]
    assert sorted(owned) == sorted(Settings.model_fields)
    assert set(PARTS.values()) == {
        getattr(config, n) for n in config.__all__ if n.endswith("Settings") and n != "Settings"}


def test_each_variable_reaches_its_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    expected: dict[tuple[str, str], Any] = {}
    for attr, part in PARTS.items():
        for name in part.model_fields:
            value = _sample(part, name)
            monkeypatch.setenv(f"DISPATCH_{name.upper()}", value)
            expected[attr, name] = part.model_validate({name: value}).__dict__[name]
    settings = Settings()
    for (attr, name), value in expected.items():
        part_settings = getattr(settings, attr)
        assert type(part_settings) is PARTS[attr]
        assert getattr(part_settings, name) == value, (attr, name)
        assert getattr(settings, name) == value  # the composed view reads the same
        assert PARTS[attr].model_fields[name].default != value, (attr, name)


def test_the_parts_are_frozen() -> None:
    settings = Settings(jwt_secret="k" * 40)
    with pytest.raises(ValidationError):
        settings.auth.jwt_secret = "x" * 40
    with pytest.raises(ValidationError):
        settings.db_schema = "other"  # type: ignore[misc]
    assert settings.auth is settings.auth  # built once


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from dispatch.cli_errors import failure_message

    monkeypatch.setenv("DISPATCH_DISPLAY_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError) as err:
        Settings()
    assert failure_message(err.value) == (
        "bad setting DISPATCH_DISPLAY_TIMEZONE: Value error, unknown time zone 'Mars/Olympus'")
