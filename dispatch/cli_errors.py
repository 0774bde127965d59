"""What the `dispatch` command says when it cannot do its job for a reason the user can fix
(the database is down, a setting or the GeoJSON is wrong): one line and exit status 1,
not a traceback. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit

import asyncpg
import redis.exceptions
from pydantic import ValidationError

from dispatch.config import PlaceholderSecret
from dispatch.db.migrate import MigrationChanged

T = TypeVar("T")

# What a connection attempt raises when the server is down, unreachable, refuses the
# credentials or has no such database.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.CannotConnectNowError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.AuthenticationError,
)


class CliFailure(Exception):
    """A failure the user can fix, said in one line."""


def server_address(url: str) -> str:
    """host:port/database of a URL, without its user or password."""
    parts = urlsplit(url)
    if not parts.hostname:  # a Unix socket (the embedded server): the path is the address
        return url.split("@")[-1]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname}{port}{parts.path}"


async def connecting(what: str, url: str, attempt: Awaitable[T]) -> T:
    """`attempt`'s result, or CliFailure naming the server if it cannot be reached."""
    try:
        return await attempt
    except CONNECT_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise CliFailure(f"cannot connect to {what} at {server_address(url)}: {reason}") from exc


def _settings_message(exc: ValidationError) -> str:
    # the input is left out: it may be the secret itself
    problems = "; ".join(
        f"DISPATCH_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
        for err in exc.errors()
    )
    return f"bad setting {problems}"


def failure_message(exc: BaseException) -> str | None:
    """The one line for a failure the user can fix; None for anything else."""
    if isinstance(exc, CliFailure | MigrationChanged | PlaceholderSecret):
        return str(exc)
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return _settings_message(exc)
    # the missing table may surface as what failed while unwinding (a helper connection)
    missing = next((e for e in _chain(exc) if isinstance(e, asyncpg.UndefinedTableError)), None)
    if missing is not None:
        return f"the database has no tables yet ({missing}): run `dispatch migrate` first"
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or while handling."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
