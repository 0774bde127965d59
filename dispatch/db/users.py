"""The users who sign in to the screens (migration 0016)."""

from __future__ import annotations

import asyncpg


async def upsert_user(
    *,
    conn: asyncpg.Connection,
    name: str,
    role: str,
    password_hash: str,
    vehicle_id: str | None,
    hospital_id: str | None,
) -> None:
    """Create the user, or replace an existing one's role, binding and password."""
    await conn.execute(
        """INSERT INTO users (name, role, vehicle_id, hospital_id, password_hash)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role,
               vehicle_id = EXCLUDED.vehicle_id, hospital_id = EXCLUDED.hospital_id,
               password_hash = EXCLUDED.password_hash, updated_at = now()""",
        name, role, vehicle_id, hospital_id, password_hash)


async def get_user(*, conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT name, role, vehicle_id, hospital_id, password_hash FROM users WHERE name = $1",
        name)
    return row


async def set_password_hash(*, conn: asyncpg.Connection, name: str, password_hash: str) -> None:
    """Store a re-hash (argon2 parameters raised since the user's last sign-in)."""
    await conn.execute("UPDATE users SET password_hash = $2, updated_at = now() WHERE name = $1",
                       name, password_hash)
