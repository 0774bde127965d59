"""Numbered plain-SQL migrations, applied once each, in order, recorded in a table.

Each applied version is recorded with the SHA-256 of its file. A file changed after it was
applied would leave databases migrated before and after the change different while both
claim the same version, so start-up refuses until the file is restored (a change goes in a
new migration). Versions recorded before checksums were kept get theirs on the first run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

# Serialises concurrent start-ups of several instances migrating one schema; other
# schemas in the same database (tests, side-by-side deployments) do not wait.
_MIGRATION_LOCK_CLASS = 0x64697370  # "disp"


class MigrationChanged(RuntimeError):
    """An applied migration's file no longer reads as it did when it was applied."""

    def __init__(self, schema: str, versions: Sequence[str]) -> None:
        self.versions = tuple(versions)
        super().__init__(
            f"applied migration(s) {', '.join(versions)} in schema {schema!r} changed since "
            "they were applied; restore the file(s) and put the change in a new migration"
        )


def checksum(sql: str) -> str:
    """SHA-256 of a migration's text (line endings as LF, so a checkout's do not matter)."""
    return hashlib.sha256(sql.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every migrations/NNNN_*.sql, in order."""
    folder = resources.files("dispatch.db") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


async def migrate(
    *, conn: asyncpg.Connection, schema: str, files: Sequence[tuple[str, str]] | None = None
) -> list[str]:
    """Apply pending migrations (`files`, default the package's) into `schema`; return the
    versions applied now. Raises MigrationChanged, applying nothing, if an applied one's
    file changed."""
    files = migration_files() if files is None else files
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
        await conn.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
        done = {r["version"]: r["checksum"]
                for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")}
        sums = {version: checksum(sql) for version, sql in files}
        changed = [v for v, s in sums.items() if done.get(v) not in (None, s)]
        if changed:
            raise MigrationChanged(schema, changed)
        backfill = [(v, sums[v]) for v, s in done.items() if s is None and v in sums]
        if backfill:
            await conn.executemany(
                "UPDATE schema_migrations SET checksum = $2 WHERE version = $1", backfill)
            log.info("recorded checksums of %d migrations applied earlier", len(backfill))
        for version, sql in files:
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                version, sums[version])
            applied_now.append(version)
            log.info("applied migration %s to schema %s", version, schema)
    return applied_now
