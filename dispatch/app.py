"""create_app(): the FastAPI application; the lifespan owns every connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TypedDict

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from redis.exceptions import RedisError

from dispatch import web
from dispatch.accesslog import install_path_only_filter
from dispatch.api import (
    aml,
    audit,
    auth,
    calls,
    coverage,
    destinations,
    eta,
    fleet,
    handover,
    indicators,
    protocols,
    reference,
    triage,
    ws,
)
from dispatch.api.edge import Edge
from dispatch.api.error_text import localise_error_handlers
from dispatch.api.errors import error_body, install_error_handlers
from dispatch.api.json import JSON
from dispatch.api.lean import install as install_lean_routes
from dispatch.api.openapi import install_openapi
from dispatch.config import DatabaseSettings, Settings, require_own_secret
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.migrate import migrate
from dispatch.db.pool import create_pool
from dispatch.domain import VehicleKind
from dispatch.embedded import embedded_database_url, embedded_redis
from dispatch.flows.bookings import dispatch_due
from dispatch.flows.coverage import DemandCache
from dispatch.flows.crew_batches import CrewBatches
from dispatch.flows.eta_calibration import recalibrate_every
from dispatch.flows.fleet import rebuild_index
from dispatch.flows.queue import sweep_queue
from dispatch.geo.eta import EtaModel
from dispatch.handover.config import HandoverConfig
from dispatch.live_index import LiveIndex
from dispatch.metrics.clock_folder import fold_every
from dispatch.metrics.prometheus import Metrics
from dispatch.places import PlacesCache
from dispatch.pool_warmup import WarmStep, table_reads, warm_pool
from dispatch.realtime.bus import Bus
from dispatch.realtime.channels import Hub
from dispatch.realtime.outbox import OutboxPublisher
from dispatch.realtime.redis_client import open_client
from dispatch.realtime.resp import RespEndpoint
from dispatch.routing import travel_times
from dispatch.runtime import EtaModelRef, Runtime

log = logging.getLogger(__name__)


class State(TypedDict):
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    bus: Bus
    runtime: Runtime
    hub: Hub
    crew: CrewBatches
    coverage: DemandCache
    metrics: Metrics


def open_redis(settings: Settings) -> aioredis.Redis:
    if settings.redis_url is None:
        redis: aioredis.Redis = embedded_redis()
        return redis
    # one server (redis://) or the master that Sentinels name (redis+sentinel://)
    return open_client(settings.redis_url, timeout_s=settings.redis_timeout_s,
                       max_connections=200)


def database_url(database: DatabaseSettings) -> str:
    return database.database_url or embedded_database_url(database.data_dir)


@asynccontextmanager
async def open_services(
    settings: Settings, metrics: Metrics | None = None
) -> AsyncIterator[State]:
    """Open PostgreSQL and Redis, migrate, rebuild the live index; close them on exit."""
    dsn = database_url(settings)
    if settings.migrate_on_start:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn=conn, schema=settings.db_schema)
        finally:
            await conn.close()
    # the whole working set opened and warmed now (dispatch.pool_warmup), kept open
    warm = min(settings.db_pool_min, settings.db_pool_max)
    pool = await create_pool(dsn=dsn, schema=settings.db_schema, min_size=warm,
                             max_size=settings.db_pool_max,
                             command_timeout_s=settings.db_command_timeout_s,
                             acquire_timeout_s=settings.db_acquire_timeout_s)
    try:
        await warm_pool(pool, connections=warm, steps=_warm_steps(settings))
    except BaseException:
        pool.terminate()
        raise
    redis = open_redis(settings)
    # (connects on first use)
    endpoint = None if settings.redis_url is None else RespEndpoint.from_url(
        settings.redis_url, timeout_s=settings.redis_timeout_s)
    bus = Bus(redis=redis, prefix=settings.redis_prefix, maxlen=settings.stream_maxlen,
              endpoint=endpoint)
    index = LiveIndex(redis=redis, prefix=settings.redis_prefix, endpoint=endpoint)
    runtime: Runtime | None = None
    try:
        runtime = Runtime(
            pool=pool, bus=bus,
            outbox=OutboxPublisher(pool=pool, bus=bus, schema=settings.db_schema),
            index=index,
            places=PlacesCache(pool=pool, redis=redis, prefix=settings.redis_prefix),
            settings=settings, eta=EtaModelRef(EtaModel.default()),
            travel=travel_times(settings))
        indexed = await rebuild_index(rt=runtime)
        log.info("live index rebuilt from PostgreSQL: %d available vehicles", indexed)
        scheduler = asyncio.create_task(_booking_scheduler(runtime, settings.booking_tick_s))
        scheduler.add_done_callback(_report_crash)
        watchdog = asyncio.create_task(_index_watchdog(runtime, settings.index_check_s))
        watchdog.add_done_callback(_report_crash)
        sweeper = asyncio.create_task(_queue_sweeper(runtime, settings.queue_sweep_s))
        sweeper.add_done_callback(_report_crash)
        folder = asyncio.create_task(fold_every(pool), name="call_clocks fold")
        folder.add_done_callback(_report_crash)
        demand = DemandCache()
        recalibrator: asyncio.Task[None] | None = None
        if settings.eta_recalibrate_s > 0:
            recalibrator = asyncio.create_task(recalibrate_every(
                rt=runtime, interval_s=settings.eta_recalibrate_s,
                lookback_days=settings.eta_calibration_days,
                min_samples=settings.eta_min_samples, clock=lambda: datetime.now(UTC)))
            recalibrator.add_done_callback(_report_crash)
        config = HandoverConfig()
        hub = Hub(bus=bus, redis=redis, queue_size=config.queue_size)
        crew = CrewBatches(rt=runtime, config=config)
        await runtime.outbox.start()
        await hub.start()
        await crew.start()
        try:
            yield State(settings=settings, pool=pool, redis=redis, bus=bus,
                        runtime=runtime, hub=hub, crew=crew,
                        coverage=demand, metrics=metrics or Metrics())
        finally:
            await crew.stop()
            await hub.stop()
            await runtime.outbox.stop()
            for task in (scheduler, watchdog, sweeper, folder):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if recalibrator is not None:
                recalibrator.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recalibrator
    finally:
        if runtime is not None:
            await runtime.aclose()
        await bus.close()
        await index.close()
        await redis.aclose()
        try:
            # let queries in flight finish, but never hold a shutdown for long
            await asyncio.wait_for(pool.close(), timeout=10.0)
        except TimeoutError:
            log.warning("database pool did not close in 10 s; terminating its connections")
            pool.terminate()


def _warm_steps(settings: Settings) -> list[WarmStep]:
    """What each pooled connection runs before the first request: the schema's tables, and
    the read-only statements of the intake and of a crew's clear (no caller, no queue:
    they find nothing and write nothing)."""
    def since() -> datetime:
        return datetime.now(UTC)

    return [
        lambda conn: table_reads(conn, settings.db_schema),
        lambda conn: call_db.intake_prelude(conn=conn, caller_number="", since=since(),
                                            n_fixes=0, key=None),
        lambda conn: fleet_db.queued_calls_for_kind(conn=conn, kind=VehicleKind.ALS,
                                                    limit=1, booked_before=since()),
    ]


async def _index_watchdog(rt: Runtime, every_s: float) -> None:
    """Rebuild the Redis GEO index from PostgreSQL whenever Redis has lost it."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if rt.index.stale or not await rt.index.is_built():
                n = await rebuild_index(rt=rt)
                log.warning("live index lost or missed writes; rebuilt %d vehicles from "
                            "PostgreSQL", n)
        except (asyncpg.PostgresError, OSError, RedisError, TimeoutError):
            log.exception("live index check failed; trying again in %.0f s", every_s)


async def _queue_sweeper(rt: Runtime, every_s: float) -> None:
    """Assign queued calls that an available vehicle could take (see sweep_queue)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            n = await sweep_queue(rt=rt, now=datetime.now(UTC))
            if n:
                log.warning("queue sweep assigned %d call(s) that no drain had", n)
        except Exception:  # noqa: BLE001 - the safety net must outlive any one failure
            log.exception("queue sweep failed; trying again in %.0f s", every_s)


async def _booking_scheduler(rt: Runtime, tick_s: float) -> None:
    """Dispatch booked non-emergency transports when their vehicle must leave."""
    while True:
        try:
            n = await dispatch_due(rt=rt, now=datetime.now(UTC))
            if n:
                log.info("dispatched %d booked transport(s)", n)
        except (asyncpg.PostgresError, OSError, RedisError, TimeoutError):
            # PostgreSQL or Redis hiccup: the next tick tries again, nothing is lost
            log.exception("booking scheduler tick failed")
        await asyncio.sleep(tick_s)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s stopped", task.get_name(), exc_info=task.exception())


def create_app(settings: Settings | None = None, *, dev_secret: bool = False,
               after_start: Callable[[], None] | None = None) -> FastAPI:
    """The dispatch service. Settings come from DISPATCH_* variables unless given; their
    JWT secret must be the centre's own unless `dev_secret` (`dispatch demo` only).
    `after_start` runs once every connection is open (`dispatch serve` tunes the collector)."""
    settings = settings or Settings()
    if not dev_secret:
        require_own_secret(settings.auth)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with open_services(settings, metrics) as state:
            if after_start is not None:
                after_start()
            yield state

    app = FastAPI(title="dispatch", version="0.1.0", lifespan=lifespan,
                  default_response_class=JSON,
                  description="120 emergency medical dispatch and prehospital handover")
    install_error_handlers(app)
    install_openapi(app)
    localise_error_handlers(app)
    app.include_router(calls.router)
    app.include_router(fleet.router)
    app.include_router(reference.router)
    app.include_router(triage.router)
    app.include_router(destinations.router)
    app.include_router(handover.router)
    app.include_router(ws.router)
    app.include_router(aml.router)
    app.include_router(coverage.router)
    app.include_router(eta.router)
    app.include_router(indicators.router)
    app.include_router(audit.router)
    app.include_router(auth.router)
    app.include_router(protocols.router)
    install_lean_routes(app, [calls.router, fleet.router])
    web.mount(app)
    install_path_only_filter()

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    async def healthz() -> JSON:
        return JSON({"status": "ok"})

    @app.get("/readyz", tags=["ops"], summary="PostgreSQL and Redis answer")
    async def readyz(request: Request) -> JSON:
        # not ready is a 503 whatever the failure: a 500 here reads as a bug in the probe
        failed = []
        try:
            async with request.state.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception as exc:  # noqa: BLE001
            log.warning("readyz: PostgreSQL does not answer: %r", exc)
            failed.append("postgresql")
        try:
            await request.state.redis.ping()
        except Exception as exc:  # noqa: BLE001
            log.warning("readyz: Redis does not answer: %r", exc)
            failed.append("redis")
        if failed:
            return JSON(error_body("unavailable", None, f"not answering: {', '.join(failed)}"),
                        status_code=503, headers={"Retry-After": "2"})
        return JSON({"status": "ready"})

    # every answer and log line has the request id; bodies bounded, NUL refused
    app.add_middleware(Edge, limit=settings.max_body_bytes, metrics=lambda: metrics)
    return app
