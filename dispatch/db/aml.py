"""AML messages held until their call exists."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from dispatch.geo.aml import AmlMessage


async def insert_message(
    *, conn: asyncpg.Connection, message: AmlMessage, caller_number: str, form: str,
    call_id: UUID | None,
) -> int:
    value: int = await conn.fetchval(
        """INSERT INTO aml_messages (caller_number, call_id, form, raw, lon, lat, accuracy_m,
                                     source, observed_at, warnings)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
        caller_number, call_id, form, message.raw, message.lon, message.lat,
        message.accuracy_m, message.fix_source.value, message.observed_at,
        list(message.warnings),
    )
    return value


async def pending_for(
    *, conn: asyncpg.Connection, caller_number: str, since: datetime
) -> list[asyncpg.Record]:
    """Unattached messages from a number received since `since`, oldest first."""
    return await conn.fetch(
        """SELECT id, lon, lat, accuracy_m, source, observed_at FROM aml_messages
            WHERE caller_number = $1 AND call_id IS NULL AND received_at >= $2
            ORDER BY id""",
        caller_number, since,
    )


async def attach(*, conn: asyncpg.Connection, ids: list[int], call_id: UUID) -> list[int]:
    """Attach held messages to a call; return the ids this transaction won."""
    rows = await conn.fetch(
        """UPDATE aml_messages SET call_id = $2
            WHERE id = ANY($1::bigint[]) AND call_id IS NULL RETURNING id""",
        ids, call_id,
    )
    return [r["id"] for r in rows]
