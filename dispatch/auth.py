"""Bearer JWTs with a role and, for crews and hospitals, the vehicle or hospital they act for."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from dispatch.domain import Role
from dispatch.errors import DispatchError, Forbidden
from dispatch.lru import LRU

_ALGORITHM = "HS256"


class Unauthenticated(DispatchError):
    """No token, or one that is expired, forged or malformed."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    vehicle_id: str | None = None
    hospital_id: str | None = None

    def require(self, *roles: Role) -> None:
        """Raise Forbidden unless the principal holds one of `roles` (admin holds all)."""
        if self.role is Role.ADMIN or self.role in roles:
            return
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"role '{self.role.value}' may not do this; needs one of: {allowed}")

    def require_dispatcher(self) -> None:
        self.require(Role.DISPATCHER)

    def require_gateway(self) -> None:
        self.require(Role.GATEWAY, Role.DISPATCHER)

    def require_vehicle(self, vehicle_id: str) -> None:
        """Crews act only for their own vehicle; dispatchers and admins for any."""
        if self.role in (Role.ADMIN, Role.DISPATCHER):
            return
        if self.role is Role.CREW and self.vehicle_id == vehicle_id:
            return
        raise Forbidden(f"this token is not bound to vehicle '{vehicle_id}'")

    def require_hospital(self, hospital_id: str) -> None:
        """Hospitals see only their own patients; dispatchers and admins see all."""
        if self.role in (Role.ADMIN, Role.DISPATCHER):
            return
        if self.role is Role.HOSPITAL and self.hospital_id == hospital_id:
            return
        raise Forbidden(f"this token is not bound to hospital '{hospital_id}'")


def issue_token(
    *,
    secret: str,
    issuer: str,
    subject: str,
    role: Role,
    now: datetime,
    ttl_s: int,
    vehicle_id: str | None = None,
    hospital_id: str | None = None,
) -> str:
    """Sign a token; crews must name a vehicle and hospitals a hospital."""
    if role is Role.CREW and not vehicle_id:
        raise ValueError("a crew token must be bound to a vehicle")
    if role is Role.HOSPITAL and not hospital_id:
        raise ValueError("a hospital token must be bound to a hospital")
    claims: dict[str, object] = {
        "sub": subject,
        "role": role.value,
        "iss": issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
    }
    if vehicle_id:
        claims["vehicle_id"] = vehicle_id
    if hospital_id:
        claims["hospital_id"] = hospital_id
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that verified, and the instants [not_before, expires) it stays valid in."""

    principal: Principal
    not_before: float
    expires: int


# Every request carries its bearer token and decoding one (HMAC, base64, JSON, claims) was
# the largest part of the framework's cost per request; a console or crew tablet sends the
# same token for hours. Keyed on the secret and issuer too: a changed secret or issuer never
# finds what the old one verified. Only successes are kept, and a hit outside its validity
# decodes again, so every refusal still comes from PyJWT with its own reason.
_VERIFIED: LRU[tuple[str, str, str], _Verified] = LRU(size=4096)


def verify_token(*, token: str, secret: str, issuer: str) -> Principal:
    """Decode and check a token; raise Unauthenticated with the reason otherwise."""
    key = (token, secret, issuer)
    known = _VERIFIED.get(key)
    if known is not None and known.not_before <= time.time() < known.expires:
        return known.principal
    principal, claims = _decode(token=token, secret=secret, issuer=issuer)
    # PyJWT checked these are integers (int() of them) and that iat, nbf <= now < exp
    starts = [int(claims[name]) for name in ("iat", "nbf") if name in claims]
    _VERIFIED.put(key, _Verified(principal=principal, not_before=max(starts, default=0),
                                 expires=int(claims["exp"])))
    return principal


def _decode(*, token: str, secret: str, issuer: str) -> tuple[Principal, dict[str, Any]]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            issuer=issuer,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    try:
        role = Role(str(claims.get("role")))
    except ValueError as exc:
        raise Unauthenticated("token carries no valid role") from exc
    principal = Principal(
        subject=str(claims["sub"]),
        role=role,
        vehicle_id=claims.get("vehicle_id"),
        hospital_id=claims.get("hospital_id"),
    )
    if role is Role.CREW and not principal.vehicle_id:
        raise Unauthenticated("crew token is not bound to a vehicle")
    if role is Role.HOSPITAL and not principal.hospital_id:
        raise Unauthenticated("hospital token is not bound to a hospital")
    return principal, claims
