"""Typed settings from DISPATCH_* environment variables, built once in create_app().

Each domain's settings are a class of their own (`DatabaseSettings`, `AuthSettings`,
`DispatchSettings` ...); `Settings` composes them all (it is each of them) and reads the
environment, every variable named `DISPATCH_<FIELD>`. A module takes only its part:
`settings.auth`, `settings.dispatch`, `settings.display` ..., or declares the part's class
where it takes settings (so `Settings` may still be passed whole, and the module can read
nothing else). All frozen: nobody changes what another module reads.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatch.domain import CoordSystem
from dispatch.geo.policy import RankingPolicy

__all__ = [
    "DEV_JWT_SECRET", "AuthSettings", "BookingSettings", "CoverageSettings", "DatabaseSettings",
    "DispatchSettings", "DisplaySettings", "EtaSettings", "HandoverSettings", "IntakeSettings",
    "PlaceholderSecret", "RedisSettings", "ServerSettings", "Settings", "require_own_secret",
]

# The secret the code ships with: public, so anyone could sign a token with it. Only
# `dispatch demo` (throwaway users on one machine) runs with it; serving refuses it.
DEV_JWT_SECRET = "change-me-dispatch-dev-secret-32bytes!"

_FROZEN = ConfigDict(frozen=True)


class DatabaseSettings(BaseModel):
    """PostgreSQL: where, how many connections, how long to wait."""

    model_config = _FROZEN

    # With no URL set the service starts an embedded PostgreSQL (see dispatch.embedded).
    database_url: str | None = None
    # Isolation for tests and side-by-side deployments; default: a plain production layout.
    db_schema: str = "public"
    data_dir: str | None = Field(default=None, description="embedded PostgreSQL data directory")
    # Connections opened and warmed before the first request, and kept (dispatch.
    # pool_warmup; at most db_pool_max). By default the whole pool: a burst that grows the
    # pool during traffic pays each new connection's start-up and its backend's cold first
    # statements (10-50 ms quiet, hundreds under load) and turns a hiccup into a pile-up.
    db_pool_min: int = Field(default=20, ge=1)
    db_pool_max: int = 20
    # Connections one indicator request uses, each computing a time slice of the period in
    # the same snapshot: PostgreSQL aggregates a statement's arrays in one process.
    indicator_connections: int = Field(default=2, ge=1, le=8)
    # Each statement, and each new connection's start-up, gives up after this (a frozen
    # PostgreSQL answers 503 instead of hanging); a wait for a pooled connection after
    # `db_acquire_timeout_s`.
    db_command_timeout_s: float = Field(default=10.0, gt=0)
    db_acquire_timeout_s: float = Field(default=5.0, gt=0)
    migrate_on_start: bool = True

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None


class RedisSettings(BaseModel):
    """Redis: where, under which key prefix, how long to wait, how long the streams are."""

    model_config = _FROZEN

    # With no URL set the service runs an in-process Redis (see dispatch.embedded).
    redis_url: str | None = None
    redis_prefix: str = "dispatch"
    redis_timeout_s: float = 5.0
    stream_maxlen: int = 100_000

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None


class AuthSettings(BaseModel):
    """Bearer tokens: the key they are signed with, their issuer and lifetime."""

    model_config = _FROZEN

    jwt_secret: str = Field(default=DEV_JWT_SECRET, min_length=32)
    jwt_issuer: str = "dispatch"
    token_ttl_s: int = 12 * 3600


class ServerSettings(BaseModel):
    """What the HTTP and websocket front accepts."""

    model_config = _FROZEN

    max_body_bytes: int = 256 * 1024
    # permessage-deflate on the websockets (passed to uvicorn by `dispatch serve` and the
    # load-test harness). Off by default: handover frames are a few hundred bytes of JSON,
    # so a crew at 1 Hz sends and receives ~5 kbit/s, well within even a poor mobile link
    # (GPRS carries ~40), and deflate would save about half of that. Compressing every frame
    # for every screen is what it costs: ~13% of an instance's CPU at 2,000 crew msgs/s,
    # plus the screens' and tablets' CPU to inflate it (docs/benchmarks.md, "Handover").
    # Turn it on where clients pay per byte or share a narrow link (satellite, tethering).
    ws_per_message_deflate: bool = False


class IntakeSettings(BaseModel):
    """Taking a call: held AML reports and the caller's number."""

    model_config = _FROZEN

    # AML reports that arrive before their call are held this long for intake to attach.
    aml_hold_s: float = 300.0
    # Caller numbers (dispatch.phone): the centre's country, and its area code (e.g. "25",
    # Nanjing) for a landline given without one, so 84561234 is the caller of 025 8456 1234.
    phone_region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    phone_area_code: str | None = Field(default=None, pattern=r"^[1-9][0-9]{1,3}$")


class DispatchSettings(BaseModel):
    """Finding, ranking and claiming a vehicle; the fleet's reports; the queue."""

    model_config = _FROZEN

    # Closest-unit search (Resgrid practice: cap the radius, ignore stale positions).
    search_start_m: float = 2_000.0
    search_max_m: float = 60_000.0
    search_candidates: int = 8
    max_position_age_s: float = 300.0
    recommend_top: int = 5
    # A location correction is sent to the assigned crew (`location_corrected`) when it
    # moves their expected ETA by more than this, inside the old radius or not.
    location_eta_notify_s: float = Field(default=60.0, ge=0)
    # True: the best vehicle is claimed at intake and the dispatcher may override it.
    # False: intake only recommends, and a dispatcher confirms with POST .../dispatch.
    auto_assign: bool = True
    # eta (ETA-ranked nearest), straight (straight-line nearest, for comparison) or coverage
    # (ETA-ranked, then the unit whose district keeps most, within `coverage_slack_s`).
    ranking_policy: RankingPolicy = RankingPolicy.ETA
    coverage_slack_s: float = Field(default=60.0, ge=0)
    # How often each instance checks that Redis still holds the live vehicle index.
    index_check_s: float = Field(default=5.0, gt=0)
    # How often one instance at a time sweeps the queue: any queued call that a suitable
    # available vehicle could take is assigned (the safety net for a drain that lost a
    # race, and for calls taken while Redis was down). Only with auto_assign.
    queue_sweep_s: float = Field(default=5.0, gt=0)
    # A source time (a crew's `at`) later than our clock by more than this is refused.
    max_clock_skew_s: float = Field(default=60.0, ge=0)
    # A clearing status (available, returning) that does not name its call is refused for
    # this long after the vehicle was given a mission: it is far likelier a repeat of the
    # report that freed the vehicle for that mission than the end of it.
    clear_grace_s: float = Field(default=30.0, ge=0)


class BookingSettings(BaseModel):
    """Non-emergency bookings.

    A booking whose window opens later than `booking_lead_s` from now is planned onto the
    non-emergency fleet and dispatched when its vehicle must leave; the scheduler looks
    every `booking_tick_s`. `booking_service_s`: loading plus handover."""

    model_config = _FROZEN

    booking_lead_s: float = 1800.0
    booking_tick_s: float = 15.0
    booking_service_s: float = 900.0


class EtaSettings(BaseModel):
    """Travel times: the calibration from the centre's own trips, and a routing engine."""

    model_config = _FROZEN

    # Refit every `eta_recalibrate_s` (0: only when an admin asks) over the last
    # `eta_calibration_days`; a cell needs `eta_min_samples` plausible trips before its
    # scale replaces the prior.
    eta_recalibrate_s: float = Field(default=900.0, ge=0)
    eta_calibration_days: int = Field(default=90, ge=1)
    eta_min_samples: int = Field(default=30, ge=1)
    # An OSRM-compatible routing service (DISPATCH_OSRM_URL); unset: the ETA model alone.
    # Only the top `osrm_shortlist` candidates are routed (Resgrid practice).
    osrm_url: str | None = None
    osrm_shortlist: int = Field(default=3, ge=1, le=25)
    osrm_timeout_s: float = Field(default=2.0, gt=0)


class CoverageSettings(BaseModel):
    """Coverage demand and move-up."""

    model_config = _FROZEN

    # Emergency calls of the last `coverage_lookback_days` on H3 r8, plus
    # `coverage_prior_weight` expected calls on every cell of every district (so a district
    # with no history counts uniformly); cached in-process for `coverage_demand_ttl_s`.
    coverage_lookback_days: int = Field(default=90, ge=1)
    coverage_demand_ttl_s: float = Field(default=300.0, ge=0)
    coverage_prior_weight: float = Field(default=0.05, ge=0)
    # Share of a district's demand that must stay covered before its last vehicle moves up.
    moveup_district_threshold: float = Field(default=0.8, ge=0, le=1)


class HandoverSettings(BaseModel):
    """The receiving centres' sight of their patients."""

    model_config = _FROZEN

    # A receiving centre keeps sight of a patient this long after the handover, or after
    # the call closed without one (a cancelled call: not at all); then its board drops the
    # patient and its reads are refused (dispatch.handover.access).
    hospital_retention_s: float = Field(default=4 * 3600.0, ge=0)


class DisplaySettings(BaseModel):
    """What people read: the centre's time zone and the screens' basemap.

    The screens (dispatch/web), the report, the indicators' CSV and hours, and the ATMIST
    text show times in the centre's zone, never bare UTC. A basemap is optional (a
    centre's network may have no internet: the vector layers from the service's GeoJSON
    stand alone). AMap and Tencent tiles are GCJ-02: the pages shift what they draw onto
    them when `map_tile_coord_system` says so."""

    model_config = _FROZEN

    display_timezone: str = "Asia/Shanghai"
    map_tile_url: str | None = Field(default=None, description="e.g. https://t/{z}/{x}/{y}.png")
    map_tile_coord_system: CoordSystem = CoordSystem.WGS84
    map_tile_attribution: str = ""

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{value}'") from exc
        return value

    @field_validator("map_tile_coord_system")
    @classmethod
    def _tile_system(cls, value: CoordSystem) -> CoordSystem:
        if value is CoordSystem.BD09:
            raise ValueError("BD-09 tiles use their own projection; use wgs84 or gcj02 tiles")
        return value


_Part = TypeVar("_Part", bound=BaseModel)


class Settings(
    DatabaseSettings, RedisSettings, AuthSettings, ServerSettings, IntakeSettings,
    DispatchSettings, BookingSettings, EtaSettings, CoverageSettings, HandoverSettings,
    DisplaySettings, BaseSettings,
):
    """Everything the service reads from its environment: each domain's settings, one
    DISPATCH_* variable a field."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="ignore", frozen=True)

    def _part(self, part: type[_Part]) -> _Part:
        values: dict[str, Any] = {name: getattr(self, name) for name in part.model_fields}
        return part.model_construct(**values)  # validated already, as part of self

    @cached_property
    def database(self) -> DatabaseSettings:
        return self._part(DatabaseSettings)

    @cached_property
    def redis(self) -> RedisSettings:
        return self._part(RedisSettings)

    @cached_property
    def auth(self) -> AuthSettings:
        return self._part(AuthSettings)

    @cached_property
    def server(self) -> ServerSettings:
        return self._part(ServerSettings)

    @cached_property
    def intake(self) -> IntakeSettings:
        return self._part(IntakeSettings)

    @cached_property
    def dispatch(self) -> DispatchSettings:
        return self._part(DispatchSettings)

    @cached_property
    def bookings(self) -> BookingSettings:
        return self._part(BookingSettings)

    @cached_property
    def eta(self) -> EtaSettings:
        return self._part(EtaSettings)

    @cached_property
    def coverage(self) -> CoverageSettings:
        return self._part(CoverageSettings)

    @cached_property
    def handover(self) -> HandoverSettings:
        return self._part(HandoverSettings)

    @cached_property
    def display(self) -> DisplaySettings:
        return self._part(DisplaySettings)


class PlaceholderSecret(Exception):
    """The service was asked to serve with the public development secret."""


def require_own_secret(auth: AuthSettings) -> None:
    """Refuse to serve with DEV_JWT_SECRET: tokens signed with it prove nothing."""
    if auth.jwt_secret == DEV_JWT_SECRET:
        raise PlaceholderSecret(
            "DISPATCH_JWT_SECRET is not set: the built-in development secret is only for "
            "`dispatch demo`; set a random secret of 32 characters or more "
            "(e.g. `openssl rand -base64 48`)")
