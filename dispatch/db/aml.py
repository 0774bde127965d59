"""AML messages held until their call exists."""

from __future__ import annotations

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
