"""Signing in to the screens: users with argon2id password hashes, answered with a JWT.

The token is the same one `dispatch token` issues (dispatch.auth.issue_token): a user's
role and vehicle or hospital binding go into it, so every endpoint and websocket checks
a signed-in person exactly as it checks any other bearer.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatch.auth import Unauthenticated, issue_token
from dispatch.config import AuthSettings
from dispatch.db import users as users_db
from dispatch.domain import Role
from dispatch.errors import InvalidInput

__all__ = ["MIN_PASSWORD_CHARS", "Login", "add_user", "check_user", "log_in"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_PASSWORD_CHARS = 8
# Roles a person signs in with; the AML gateway is a machine and keeps its issued token.
_PERSON_ROLES = (Role.DISPATCHER, Role.CREW, Role.HOSPITAL, Role.ADMIN)

# argon2-cffi's defaults follow RFC 9106's second recommended option (argon2id, 64 MiB).
_HASHER = PasswordHasher()
# Verified against when the name is unknown, so a wrong name costs what a wrong password
# does and the answer time does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("not-a-password-of-anyone")


@dataclass(frozen=True, slots=True)
class Login:
    """A signed-in user's token and what the pages need to know with it."""

    token: str
    name: str
    role: Role
    vehicle_id: str | None
    hospital_id: str | None
    expires_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {"token": self.token, "token_type": "bearer", "name": self.name,
                "role": self.role.value, "vehicle_id": self.vehicle_id,
                "hospital_id": self.hospital_id, "expires_at": self.expires_at.isoformat()}


def check_user(
    *, name: str, role: Role, password: str, vehicle_id: str | None, hospital_id: str | None
) -> None:
    """Raise InvalidInput naming the field unless this is a user that may be created."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput("1-64 letters, digits, '.', '_' or '-'", field="name")
    if role not in _PERSON_ROLES:
        raise InvalidInput(f"role '{role.value}' is not for people", field="role")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"at least {MIN_PASSWORD_CHARS} characters", field="password")
    if (role is Role.CREW) != (vehicle_id is not None):
        raise InvalidInput("a crew user needs --vehicle, and only a crew user", field="vehicle")
    if (role is Role.HOSPITAL) != (hospital_id is not None):
        raise InvalidInput("a hospital user needs --hospital, and only a hospital user",
                           field="hospital")


async def add_user(
    *,
    conn: asyncpg.Connection,
    name: str,
    role: Role,
    password: str,
    vehicle_id: str | None = None,
    hospital_id: str | None = None,
) -> None:
    """Create or replace a user; InvalidInput for a bad name, password or binding."""
    check_user(name=name, role=role, password=password, vehicle_id=vehicle_id,
               hospital_id=hospital_id)
    password_hash = await asyncio.to_thread(_HASHER.hash, password)
    try:
        await users_db.upsert_user(conn=conn, name=name, role=role.value,
                                   password_hash=password_hash, vehicle_id=vehicle_id,
                                   hospital_id=hospital_id)
    except asyncpg.ForeignKeyViolationError as exc:
        field = "vehicle" if vehicle_id is not None else "hospital"
        raise InvalidInput(f"no such {field}: '{vehicle_id or hospital_id}'",
                           field=field) from exc


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def log_in(
    *, pool: asyncpg.Pool, auth: AuthSettings, name: str, password: str, now: datetime
) -> Login:
    """Check a name and password; the user's token, or Unauthenticated (same for either)."""
    async with pool.acquire() as conn:
        user = await users_db.get_user(conn=conn, name=name)
    # argon2 takes tens of milliseconds of CPU: off the event loop.
    ok = await asyncio.to_thread(_verify, user["password_hash"] if user else _DUMMY_HASH,
                                 password)
    if user is None or not ok:
        raise Unauthenticated("wrong name or password", field="password")
    if _HASHER.check_needs_rehash(user["password_hash"]):
        new_hash = await asyncio.to_thread(_HASHER.hash, password)
        async with pool.acquire() as conn:
            await users_db.set_password_hash(conn=conn, name=name, password_hash=new_hash)
    role = Role(user["role"])
    token = issue_token(secret=auth.jwt_secret, issuer=auth.jwt_issuer, subject=name,
                        role=role, now=now, ttl_s=auth.token_ttl_s,
                        vehicle_id=user["vehicle_id"], hospital_id=user["hospital_id"])
    return Login(token=token, name=name, role=role, vehicle_id=user["vehicle_id"],
                 hospital_id=user["hospital_id"],
                 expires_at=now.replace(microsecond=0) + timedelta(seconds=auth.token_ttl_s))
