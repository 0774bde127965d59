"""`GET /v1/audit`: who read or changed what, for auditors, page by page or as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from starlette.responses import Response

from dispatch.api.deps import PoolDep, PrincipalDep
from dispatch.api.json import JSON
from dispatch.db.audit import audit_page
from dispatch.db.events import audit
from dispatch.domain import Role
from dispatch.errors import InvalidInput
from dispatch.fields import Instant
from dispatch.jsoncodec import dumps

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_SHANGHAI = ZoneInfo("Asia/Shanghai")
CSV_COLUMNS = ("id", "at", "actor", "role", "action", "call_id", "vehicle_id", "hospital_id",
               "detail")


@router.get("", summary="The audit log: reads of patient data, refusals and changes")
async def read_audit(
    pool: PoolDep, principal: PrincipalDep,
    call_id: UUID | None = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=100,
                                        description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    format: Literal["json", "csv"] = "json",  # noqa: A002
) -> Response:
    """Rows in [from, to) (either bound optional), oldest first, `limit` a page, filtered
    by `call_id` (rows naming the call, and list reads that showed it) and `actor`.
    `next_cursor` (JSON) or the `X-Next-Cursor` header (CSV) fetches the next page. For
    auditors and admins; the read is itself audited."""
    principal.require(Role.AUDITOR)
    if since is not None and until is not None and until <= since:
        raise InvalidInput("'to' must be after 'from'", field="to")
    after = parse_cursor(cursor) if cursor else None
    async with pool.acquire() as conn:
        rows = await audit_page(conn=conn, call_id=call_id, actor=actor, since=since,
                                until=until, after=after, limit=limit)
        await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                    action="read_audit", detail={
                        "call_id": None if call_id is None else str(call_id), "actor": actor,
                        "from": None if since is None else since.isoformat(),
                        "to": None if until is None else until.isoformat(),
                        "cursor": cursor, "rows": len(rows)})
    entries = [dict(r) for r in rows]
    next_cursor = (f"{entries[-1]['at'].isoformat()}|{entries[-1]['id']}"
                   if len(entries) == limit else None)
    if format == "csv":
        headers = {"X-Next-Cursor": next_cursor} if next_cursor else None
        return Response(to_csv(entries), media_type="text/csv",
                        headers=headers)
    return JSON({"entries": entries, "next_cursor": next_cursor})


def parse_cursor(cursor: str) -> tuple[datetime, int]:
    """The (at, id) of the last row of the previous page."""
    try:
        at, _, row_id = cursor.partition("|")
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("no time zone")
        parsed_id = int(row_id)
        if not 0 < parsed_id < 2**63:
            raise ValueError(f"row id {row_id} out of range")
        return parsed, parsed_id
    except ValueError as exc:
        raise InvalidInput(f"bad cursor: {exc}", field="cursor") from exc


def to_csv(entries: Sequence[Mapping[str, Any]]) -> str:
    """One line per row, times in Asia/Shanghai, `detail` as JSON text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow([
            e["id"], e["at"].astimezone(_SHANGHAI).isoformat(), e["actor"], e["role"],
            e["action"], e["call_id"] or "", e["vehicle_id"] or "", e["hospital_id"] or "",
            dumps(e["detail"]).decode()])
    return out.getvalue()
