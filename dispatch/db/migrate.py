"""Numbered plain-SQL migrations, applied once each, in order, recorded in a table."""

from __future__ import annotations

import logging
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

# Serialises concurrent start-ups of several instances migrating one schema; other
# schemas in the same database (tests, side-by-side deployments) do not wait.
_MIGRATION_LOCK_CLASS = 0x64697370  # "disp"


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every migrations/NNNN_*.sql, in order."""
    folder = resources.files("dispatch.db") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


async def migrate(*, conn: asyncpg.Connection, schema: str) -> list[str]:
    """Apply pending migrations into `schema`; return the versions applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))",
                           _MIGRATION_LOCK_CLASS, schema)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
            log.info("applied migration %s to schema %s", version, schema)
    return applied_now
