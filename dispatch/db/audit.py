"""Reading the audit log (written by dispatch.db.events.audit; append-only, 0018)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

AUDIT_COLUMNS = "id, at, actor, role, action, call_id, vehicle_id, hospital_id, detail"


async def audit_page(
    *,
    conn: asyncpg.Connection,
    call_id: UUID | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Audit rows in [since, until), oldest first, from after the (at, id) cursor.

    A call's rows are those naming it and the list reads (queue, history, console
    snapshot) whose detail lists it among the calls shown.
    """
    return await conn.fetch(
        f"""SELECT {AUDIT_COLUMNS} FROM audit_log
             WHERE ($1::uuid IS NULL OR call_id = $1
                    OR detail -> 'call_ids' @> jsonb_build_array($1::text))
               AND ($2::text IS NULL OR actor = $2)
               AND ($3::timestamptz IS NULL OR at >= $3)
               AND ($4::timestamptz IS NULL OR at < $4)
               AND ($5::timestamptz IS NULL OR (at, id) > ($5, $6::bigint))
             ORDER BY at, id LIMIT $7""",
        call_id, actor, since, until,
        after[0] if after else None, after[1] if after else None, limit,
    )
