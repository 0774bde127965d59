"""Refused requests for patient data, recorded in the audit log: who, what, why.

A refusal is answered whatever happens here: a PostgreSQL that cannot take the row in
REFUSAL_AUDIT_TIMEOUT_S is logged, never turned into a 500 or a wait.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import asyncpg
import jwt

from dispatch.auth import Principal
from dispatch.db.events import audit

log = logging.getLogger(__name__)

# Paths whose answers carry patient data (calls, handover records, the live channels)
# or who read it (the audit log).
PATIENT_DATA_PATHS = ("/v1/calls", "/v1/incidents", "/v1/ws/", "/v1/audit")
REFUSAL_AUDIT_TIMEOUT_S = 2.0
_MAX_TEXT = 200


def concerns_patient_data(path: str) -> bool:
    return path.startswith(PATIENT_DATA_PATHS)


def claimed_subject(token: str | None) -> str | None:
    """The `sub` an unverifiable token claims (an expired token of a real user, a forgery):
    recorded as claimed, never trusted."""
    if not token:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return None if sub is None else str(sub)[:_MAX_TEXT]


def uuid_or_none(value: object) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


async def record_refusal(
    pool: asyncpg.Pool,
    *,
    principal: Principal | None,
    token: str | None,
    status: int,
    reason: str,
    method: str,
    path: str,
    call_id: UUID | None,
) -> None:
    """One `refused` audit row; the actor is the verified subject, else `anonymous` with
    the subject the token claims."""
    detail: dict[str, object] = {"status": status, "reason": reason[:_MAX_TEXT],
                                 "method": method, "path": path[:_MAX_TEXT]}
    if principal is None:
        detail["claimed_subject"] = claimed_subject(token)

    async def write() -> None:
        async with pool.acquire() as conn:
            await audit(
                conn=conn, action="refused", call_id=call_id, detail=detail,
                actor=principal.subject if principal else "anonymous",
                role=principal.role.value if principal else "none",
                vehicle_id=principal.vehicle_id if principal else None,
                hospital_id=principal.hospital_id if principal else None)

    try:
        await asyncio.wait_for(write(), timeout=REFUSAL_AUDIT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - the refusal is answered regardless
        log.warning("refusal of %s %s not audited: %r", method, path, exc)
