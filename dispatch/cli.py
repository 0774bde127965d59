"""`dispatch serve | demo | migrate | load | token`."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

import asyncpg
import orjson
import typer
import uvicorn

from dispatch.auth import issue_token
from dispatch.config import Settings
from dispatch.db.migrate import migrate as run_migrations
from dispatch.db.pool import init_connection
from dispatch.domain import Role
from dispatch.errors import InvalidInput
from dispatch.metrics.intervals import IndicatorConfig
from dispatch.metrics.queries import compute_period_report
from dispatch.metrics.report import write_report
from dispatch.refdata import load_reference
from dispatch.users import add_user

app = typer.Typer(help="dispatch: 120 emergency medical dispatch and handover backend",
                  no_args_is_help=True)
user_app = typer.Typer(help="people who sign in to the screens", no_args_is_help=True)
app.add_typer(user_app, name="user")

DEMO_DATA = "nanjing_demo.geojson"


def _logging() -> None:
    logging.basicConfig(level=os.environ.get("DISPATCH_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def demo_collection() -> dict[str, object]:
    """The shipped Nanjing demo data set."""
    text = (resources.files("dispatch.data") / DEMO_DATA).read_bytes()
    result: dict[str, object] = orjson.loads(text)
    return result


async def _load(settings: Settings, collection: dict[str, object]) -> dict[str, int]:
    from dispatch.app import database_url

    conn = await asyncpg.connect(database_url(settings))
    try:
        await run_migrations(conn=conn, schema=settings.db_schema)
        await conn.execute(f'SET search_path TO "{settings.db_schema}", public')
        await init_connection(conn)
        return await load_reference(conn=conn, collection=collection)
    finally:
        await conn.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8120,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Run the service (embedded PostgreSQL and Redis when no URLs are set)."""
    _logging()
    # websockets-sansio: uvicorn's current websocket protocol ("websockets" is its deprecated
    # legacy one, ~10% more CPU per crew message in the handover benchmark).
    uvicorn.run("dispatch.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level="info", ws="websockets-sansio",
                ws_per_message_deflate=Settings().ws_per_message_deflate)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8120,
) -> None:
    """Load the Nanjing demo data, print tokens, and run the service."""
    _logging()
    settings = Settings()
    counts = asyncio.run(_load(settings, demo_collection()))
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
    users = asyncio.run(_demo_users(settings))
    typer.echo("sign-in users (name / password):")
    for (name, role, extra), password in users:
        where = f" ({', '.join(extra.values())})" if extra else ""
        typer.echo(f"  {role.value:10s} {name} / {password}{where}")
    typer.echo(f"open http://{host}:{port}/ (console: /console, ED board: /ed, crew: /crew;"
               f" API: /docs)")
    typer.echo("try: a chest-pain call clicked next to station ST001 (118.845, 32.034) goes to"
               " V001 (crew-V001) and pre-alerts H02 (ed-H02)")
    uvicorn.run("dispatch.app:create_app", factory=True, host=host, port=port,
                log_level="info", ws="websockets-sansio",
                ws_per_message_deflate=settings.ws_per_message_deflate)


# One sign-in user per role for the demo: (name, role, binding). The crew and the hospital
# go together: a chest-pain call next to V001's station (ST001) gets V001, and H02 is the
# PCI centre nearest to it, so one call runs across all three screens.
DEMO_USERS: list[tuple[str, Role, dict[str, str]]] = [
    ("dispatcher", Role.DISPATCHER, {}), ("admin", Role.ADMIN, {}),
    ("crew-V001", Role.CREW, {"vehicle_id": "V001"}),
    ("ed-H02", Role.HOSPITAL, {"hospital_id": "H02"})]


async def _demo_users(
    settings: Settings,
) -> list[tuple[tuple[str, Role, dict[str, str]], str]]:
    """(Re)create the demo users with fresh random passwords; return them with the passwords."""
    created = []
    conn = await _connect(settings)
    try:
        for name, role, extra in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            await add_user(conn=conn, name=name, role=role, password=password, **extra)
            created.append(((name, role, extra), password))
    finally:
        await conn.close()
    return created


async def _connect(settings: Settings) -> asyncpg.Connection:
    """A migrated connection on the service's schema."""
    from dispatch.app import database_url

    conn = await asyncpg.connect(database_url(settings))
    await run_migrations(conn=conn, schema=settings.db_schema)
    await conn.execute(f'SET search_path TO "{settings.db_schema}", public')
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
        conn = await _connect(Settings())
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
        from dispatch.app import database_url

        conn = await asyncpg.connect(database_url(settings))
        try:
            return await run_migrations(conn=conn, schema=settings.db_schema)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    typer.echo(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


@app.command()
def load(
    file: Annotated[Path | None, typer.Argument(help="GeoJSON FeatureCollection")] = None,
    demo_data: Annotated[bool, typer.Option("--demo", help="load the Nanjing demo set")] = False,
) -> None:
    """Load stations, vehicles, hospitals and districts from GeoJSON."""
    _logging()
    if file is None and not demo_data:
        raise typer.BadParameter("give a FILE or --demo")
    collection = demo_collection() if file is None else orjson.loads(file.read_bytes())
    counts = asyncio.run(_load(Settings(), collection))
    typer.echo(orjson.dumps(counts).decode())


@app.command()
def report(
    start: Annotated[datetime, typer.Option("--from", help="period start (ISO 8601; UTC if "
                                            "no zone)")],
    end: Annotated[datetime, typer.Option("--to", help="period end, exclusive")],
    out: Annotated[Path, typer.Option("--out", help="directory for index.html and the charts")],
    departure_from: Annotated[str, typer.Option(help="dispatched | answered")] = "dispatched",
) -> None:
    """Write the period's indicators as an HTML page with charts."""
    _logging()
    if departure_from not in ("dispatched", "answered"):
        raise typer.BadParameter("--departure-from is 'dispatched' or 'answered'")
    settings = Settings()
    start, end = _aware(start), _aware(end)
    if end <= start:
        raise typer.BadParameter("--to must be after --from")
    # judged as of now: departures and pick-ups that can still be on time are left out
    config = IndicatorConfig(departure_from="answered" if departure_from == "answered"
                             else "dispatched", as_of=datetime.now(UTC))

    async def run() -> Path:
        from dispatch.app import database_url

        conns = [
            await asyncpg.connect(database_url(settings))
            for _ in range(settings.indicator_connections)
        ]
        try:
            for conn in conns:
                await conn.execute(f'SET search_path TO "{settings.db_schema}", public')
                await init_connection(conn)
            period = await compute_period_report(
                conn=conns[0], helpers=conns[1:], start=start, end=end, config=config
            )
        finally:
            for conn in conns:
                await conn.close()
        return write_report(report=period, out_dir=out)

    page = asyncio.run(run())
    typer.echo(f"report written: {page}")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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
