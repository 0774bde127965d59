"""Verified tokens are remembered, never beyond what verifying them again would accept:
not after `exp`, not before `nbf`, not under another secret or issuer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from dispatch import auth
from dispatch.auth import Unauthenticated, issue_token, verify_token
from dispatch.domain import Role

SECRET = "a-secret-of-the-centre-long-enough-0001"
OTHER = "a-secret-of-the-centre-long-enough-0002"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens PyJWT decoded (an empty cache to start with)."""
    monkeypatch.setattr(auth, "_VERIFIED", auth.LRU(size=4))
    seen: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return seen


def _token(ttl_s: int = 3600, **claims: Any) -> str:
    if claims:
        now = int(time.time())
        return jwt.encode({"sub": "d", "role": "dispatcher", "iss": "dispatch", "iat": now,
                           "exp": now + ttl_s, **claims}, SECRET, algorithm="HS256")
    return issue_token(secret=SECRET, issuer="dispatch", subject="d", role=Role.DISPATCHER,
                       now=datetime.now(UTC), ttl_s=ttl_s)


def test_a_token_is_decoded_once(decodes: list[str]) -> None:
    token = _token()
    first = verify_token(token=token, secret=SECRET, issuer="dispatch")
    again = verify_token(token=token, secret=SECRET, issuer="dispatch")
    assert first == again and first.role is Role.DISPATCHER
    assert decodes == [token]


def test_an_expired_token_is_refused_though_it_was_verified(decodes: list[str]) -> None:
    token = _token(ttl_s=1)
    verify_token(token=token, secret=SECRET, issuer="dispatch")
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(Unauthenticated, match="token expired"):
        verify_token(token=token, secret=SECRET, issuer="dispatch")


def test_a_changed_secret_or_issuer_does_not_find_the_old_verification(
    decodes: list[str],
) -> None:
    token = _token()
    verify_token(token=token, secret=SECRET, issuer="dispatch")
    with pytest.raises(Unauthenticated, match="invalid token"):
        verify_token(token=token, secret=OTHER, issuer="dispatch")
    with pytest.raises(Unauthenticated, match="invalid token"):
        verify_token(token=token, secret=SECRET, issuer="elsewhere")
    assert len(decodes) == 3


def test_a_token_not_yet_valid_is_refused_every_time(decodes: list[str]) -> None:
    token = _token(nbf=int(time.time()) + 60)
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="not yet valid"):
            verify_token(token=token, secret=SECRET, issuer="dispatch")
    assert len(decodes) == 2


def test_a_remembered_token_is_refused_outside_its_window(
    decodes: list[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = _token()
    verify_token(token=token, secret=SECRET, issuer="dispatch")
    # this process's clock jumps back before iat: the token is decoded (and judged) again
    real = time.time()
    monkeypatch.setattr(time, "time", lambda: real - 3600)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _Clock(real - 3600))
    with pytest.raises(Unauthenticated, match="not yet valid"):
        verify_token(token=token, secret=SECRET, issuer="dispatch")
    assert len(decodes) == 2


def test_the_cache_is_bounded(decodes: list[str]) -> None:
    for i in range(10):
        verify_token(token=_token(ttl_s=3600 + i), secret=SECRET, issuer="dispatch")
    assert len(auth._VERIFIED) == 4


class _Clock:
    """datetime for PyJWT with `now` fixed at a POSIX time."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self, tz: Any = None) -> datetime:
        return datetime.fromtimestamp(self.at, tz)
