"""create_app(): the FastAPI application; the lifespan owns every connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TypedDict

import asyncpg
import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    protocols,
    reference,
)
from dispatch.api.error_text import localise_error_handlers
from dispatch.api.errors import error_body, install_error_handlers, too_large_body
from dispatch.api.json import JSON
from dispatch.api.nul import RefuseNul
from dispatch.api.openapi import install_openapi
from dispatch.bus import Bus
from dispatch.config import Settings
from dispatch.db.migrate import migrate
from dispatch.db.pool import create_pool
from dispatch.embedded import embedded_database_url, embedded_redis
from dispatch.gc_tuning import tune_gc
from dispatch.geo.calibration import recalibrate_every
from dispatch.geo.coverage_service import CoverageService
from dispatch.geo.eta import EtaModel
from dispatch.geo.live_index import LiveIndex
from dispatch.handover import router as handover_router
from dispatch.handover import ws as handover_ws
from dispatch.handover.channels import Hub
from dispatch.handover.outbox import OutboxPublisher
from dispatch.handover.service import HandoverConfig, HandoverService
from dispatch.logs import RequestContext
from dispatch.metrics import router as metrics_router
from dispatch.metrics.prometheus import Metrics, RequestMetrics
from dispatch.orchestrator import Orchestrator
from dispatch.places import PlacesCache
from dispatch.redis_client import open_client
from dispatch.resp import RespEndpoint

log = logging.getLogger(__name__)


class State(TypedDict):
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    bus: Bus
    orchestrator: Orchestrator
    hub: Hub
    handover: HandoverService
    coverage: CoverageService
    metrics: Metrics


def open_redis(settings: Settings) -> aioredis.Redis:
    if settings.redis_url is None:
        redis: aioredis.Redis = embedded_redis()
        return redis
    # one server (redis://) or the master that Sentinels name (redis+sentinel://)
    return open_client(settings.redis_url, timeout_s=settings.redis_timeout_s,
                       max_connections=200)


def database_url(settings: Settings) -> str:
    return settings.database_url or embedded_database_url(settings.data_dir)


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
    pool = await create_pool(dsn=dsn, schema=settings.db_schema, min_size=settings.db_pool_min,
                             max_size=settings.db_pool_max,
                             command_timeout_s=settings.db_command_timeout_s,
                             acquire_timeout_s=settings.db_acquire_timeout_s)
    redis = open_redis(settings)
    # (connects on first use)
    bus = Bus(redis=redis, prefix=settings.redis_prefix, maxlen=settings.stream_maxlen,
              endpoint=None if settings.redis_url is None else RespEndpoint.from_url(
                  settings.redis_url, timeout_s=settings.redis_timeout_s))
    orchestrator: Orchestrator | None = None
    try:
        orchestrator = Orchestrator(
            pool=pool, bus=bus,
            index=LiveIndex(redis=redis, prefix=settings.redis_prefix),
            places=PlacesCache(pool=pool, redis=redis, prefix=settings.redis_prefix),
            settings=settings, eta_model=EtaModel.default(),
            routing=httpx.AsyncClient(timeout=settings.osrm_timeout_s)
            if settings.osrm_url else None)
        indexed = await orchestrator.rebuild_index()
        log.info("live index rebuilt from PostgreSQL: %d available vehicles", indexed)
        scheduler = asyncio.create_task(_booking_scheduler(orchestrator, settings.booking_tick_s))
        scheduler.add_done_callback(_report_crash)
        watchdog = asyncio.create_task(_index_watchdog(orchestrator, settings.index_check_s))
        watchdog.add_done_callback(_report_crash)
        sweeper = asyncio.create_task(_queue_sweeper(orchestrator, settings.queue_sweep_s))
        sweeper.add_done_callback(_report_crash)
        coverage_service = CoverageService(
            pool=pool, places=orchestrator.places,
            lookback_days=settings.coverage_lookback_days,
            demand_ttl_s=settings.coverage_demand_ttl_s,
            prior_weight=settings.coverage_prior_weight,
            district_threshold=settings.moveup_district_threshold)
        recalibrator: asyncio.Task[None] | None = None
        if settings.eta_recalibrate_s > 0:
            recalibrator = asyncio.create_task(recalibrate_every(
                target=orchestrator, interval_s=settings.eta_recalibrate_s,
                lookback_days=settings.eta_calibration_days,
                min_samples=settings.eta_min_samples, clock=lambda: datetime.now(UTC)))
            recalibrator.add_done_callback(_report_crash)
        config = HandoverConfig(time_zone=settings.display_timezone)
        outbox = OutboxPublisher(pool=pool, bus=bus, schema=settings.db_schema)
        hub = Hub(bus=bus, redis=redis, queue_size=config.queue_size)
        handover = HandoverService(pool=pool, bus=bus, orchestrator=orchestrator,
                                   outbox=outbox, config=config)
        await outbox.start()
        await hub.start()
        await handover.start()
        try:
            yield State(settings=settings, pool=pool, redis=redis, bus=bus,
                        orchestrator=orchestrator, hub=hub, handover=handover,
                        coverage=coverage_service, metrics=metrics or Metrics())
        finally:
            await handover.stop()
            await hub.stop()
            await outbox.stop()
            for task in (scheduler, watchdog, sweeper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if recalibrator is not None:
                recalibrator.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recalibrator
    finally:
        if orchestrator is not None and orchestrator.routing is not None:
            await orchestrator.routing.aclose()
        await bus.close()
        await redis.aclose()
        try:
            # let queries in flight finish, but never hold a shutdown for long
            await asyncio.wait_for(pool.close(), timeout=10.0)
        except TimeoutError:
            log.warning("database pool did not close in 10 s; terminating its connections")
            pool.terminate()


async def _index_watchdog(orchestrator: Orchestrator, every_s: float) -> None:
    """Rebuild the Redis GEO index from PostgreSQL whenever Redis has lost it."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if orchestrator.index.stale or not await orchestrator.index.is_built():
                n = await orchestrator.rebuild_index()
                log.warning("live index lost or missed writes; rebuilt %d vehicles from "
                            "PostgreSQL", n)
        except (asyncpg.PostgresError, OSError, RedisError, TimeoutError):
            log.exception("live index check failed; trying again in %.0f s", every_s)


async def _queue_sweeper(orchestrator: Orchestrator, every_s: float) -> None:
    """Assign queued calls that an available vehicle could take (see sweep_queue)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            n = await orchestrator.sweep_queue(now=datetime.now(UTC))
            if n:
                log.warning("queue sweep assigned %d call(s) that no drain had", n)
        except Exception:  # noqa: BLE001 - the safety net must outlive any one failure
            log.exception("queue sweep failed; trying again in %.0f s", every_s)


async def _booking_scheduler(orchestrator: Orchestrator, tick_s: float) -> None:
    """Dispatch booked non-emergency transports when their vehicle must leave."""
    while True:
        try:
            n = await orchestrator.dispatch_due_bookings(now=datetime.now(UTC))
            if n:
                log.info("dispatched %d booked transport(s)", n)
        except (asyncpg.PostgresError, OSError, RedisError, TimeoutError):
            # PostgreSQL or Redis hiccup: the next tick tries again, nothing is lost
            log.exception("booking scheduler tick failed")
        await asyncio.sleep(tick_s)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s stopped", task.get_name(), exc_info=task.exception())


class BodyLimit:
    """Refuse request bodies over `limit` bytes with a 413 before they are read whole."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = too_large_body(self.limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def create_app(settings: Settings | None = None) -> FastAPI:
    """The dispatch service. Settings come from DISPATCH_* variables unless given."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with open_services(settings, metrics) as state:
            tune_gc()
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
    app.include_router(destinations.router)
    app.include_router(handover_router.router)
    app.include_router(handover_ws.router)
    app.include_router(aml.router)
    app.include_router(coverage.router)
    app.include_router(eta.router)
    app.include_router(metrics_router.router)
    app.include_router(audit.router)
    app.include_router(auth.router)
    app.include_router(protocols.router)
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

    app.add_middleware(RefuseNul)  # inside BodyLimit: it reads the body whole
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=lambda: metrics)
    app.add_middleware(RequestContext)  # outermost: every answer and log line has the id
    return app
