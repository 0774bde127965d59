"""Typed settings from DISPATCH_* environment variables, built once in create_app()."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatch.domain import CoordSystem
from dispatch.geo.policy import RankingPolicy

# The secret the code ships with: public, so anyone could sign a token with it. Only
# `dispatch demo` (throwaway users on one machine) runs with it; serving refuses it.
DEV_JWT_SECRET = "change-me-dispatch-dev-secret-32bytes!"


class PlaceholderSecret(Exception):
    """The service was asked to serve with the public development secret."""


def require_own_secret(settings: Settings) -> None:
    """Refuse to serve with DEV_JWT_SECRET: tokens signed with it prove nothing."""
    if settings.jwt_secret == DEV_JWT_SECRET:
        raise PlaceholderSecret(
            "DISPATCH_JWT_SECRET is not set: the built-in development secret is only for "
            "`dispatch demo`; set a random secret of 32 characters or more "
            "(e.g. `openssl rand -base64 48`)")


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="ignore")

    # With neither URL set the service starts an embedded PostgreSQL and an in-process
    # Redis (see dispatch.embedded); with them set, the real servers.
    database_url: str | None = None
    redis_url: str | None = None
    # Isolation for tests and side-by-side deployments: a PostgreSQL schema and a Redis key
    # prefix. Both default to a plain production layout.
    db_schema: str = "public"
    redis_prefix: str = "dispatch"
    data_dir: str | None = Field(default=None, description="embedded PostgreSQL data directory")

    jwt_secret: str = Field(default=DEV_JWT_SECRET, min_length=32)
    jwt_issuer: str = "dispatch"
    token_ttl_s: int = 12 * 3600

    db_pool_min: int = 2
    db_pool_max: int = 20
    # Connections one indicator request uses, each computing a time slice of the period in
    # the same snapshot: PostgreSQL aggregates a statement's arrays in one process.
    indicator_connections: int = Field(default=2, ge=1, le=8)
    # Each statement, and each new connection's start-up, gives up after this (a frozen
    # PostgreSQL answers 503 instead of hanging); a wait for a pooled connection after
    # `db_acquire_timeout_s`.
    db_command_timeout_s: float = Field(default=10.0, gt=0)
    db_acquire_timeout_s: float = Field(default=5.0, gt=0)
    redis_timeout_s: float = 5.0
    max_body_bytes: int = 256 * 1024

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

    # Non-emergency bookings: a booking whose window opens later than `booking_lead_s` from
    # now is planned onto the non-emergency fleet and dispatched when its vehicle must leave;
    # the scheduler looks every `booking_tick_s`. `booking_service_s`: loading plus handover.
    booking_lead_s: float = 1800.0
    booking_tick_s: float = 15.0
    booking_service_s: float = 900.0
    # AML reports that arrive before their call are held this long for intake to attach.
    aml_hold_s: float = 300.0
    # Caller numbers (dispatch.phone): the centre's country, and its area code (e.g. "25",
    # Nanjing) for a landline given without one, so 84561234 is the caller of 025 8456 1234.
    phone_region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    phone_area_code: str | None = Field(default=None, pattern=r"^[1-9][0-9]{1,3}$")
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
    stream_maxlen: int = 100_000
    # permessage-deflate on the websockets (passed to uvicorn by `dispatch serve` and the
    # load-test harness). Off by default: handover frames are a few hundred bytes of JSON,
    # so a crew at 1 Hz sends and receives ~5 kbit/s, well within even a poor mobile link
    # (GPRS carries ~40), and deflate would save about half of that. Compressing every frame
    # for every screen is what it costs: ~13% of an instance's CPU at 2,000 crew msgs/s,
    # plus the screens' and tablets' CPU to inflate it (docs/benchmarks.md, "Handover").
    # Turn it on where clients pay per byte or share a narrow link (satellite, tethering).
    ws_per_message_deflate: bool = False
    migrate_on_start: bool = True

    # ETA calibration from the centre's own trips (issue 4 item 4): refit every
    # `eta_recalibrate_s` (0: only when an admin asks) over the last `eta_calibration_days`;
    # a cell needs `eta_min_samples` plausible trips before its scale replaces the prior.
    eta_recalibrate_s: float = Field(default=900.0, ge=0)
    eta_calibration_days: int = Field(default=90, ge=1)
    eta_min_samples: int = Field(default=30, ge=1)
    # An OSRM-compatible routing service (DISPATCH_OSRM_URL); unset: the ETA model alone.
    # Only the top `osrm_shortlist` candidates are routed (Resgrid practice).
    osrm_url: str | None = None
    osrm_shortlist: int = Field(default=3, ge=1, le=25)
    osrm_timeout_s: float = Field(default=2.0, gt=0)
    # Coverage demand: emergency calls of the last `coverage_lookback_days` on H3 r8, plus
    # `coverage_prior_weight` expected calls on every cell of every district (so a district
    # with no history counts uniformly); cached in-process for `coverage_demand_ttl_s`.
    coverage_lookback_days: int = Field(default=90, ge=1)
    coverage_demand_ttl_s: float = Field(default=300.0, ge=0)
    coverage_prior_weight: float = Field(default=0.05, ge=0)
    # Share of a district's demand that must stay covered before its last vehicle moves up.
    moveup_district_threshold: float = Field(default=0.8, ge=0, le=1)
    # A receiving centre keeps sight of a patient this long after the handover, or after
    # the call closed without one (a cancelled call: not at all); then its board drops the
    # patient and its reads are refused (dispatch.handover.access).
    hospital_retention_s: float = Field(default=4 * 3600.0, ge=0)

    # The screens (dispatch/web), the report, the indicators' CSV and hours, and the ATMIST
    # text: times are shown in the centre's zone, never bare UTC; a
    # basemap is optional (a centre's network may have no internet: the vector layers from
    # the service's GeoJSON stand alone). AMap and Tencent tiles are GCJ-02: the pages
    # shift what they draw onto them when `map_tile_coord_system` says so.
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

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None
