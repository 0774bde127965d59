"""Idempotency-Key: tell a client's retry from a different request reusing its key.

A key names one request. The first call stores the SHA-256 of its body in canonical form
next to the key; a later call with the key is a retry only if its body hashes the same,
and is otherwise refused (IETF draft-ietf-httpapi-idempotency-key-header, section 2.7:
422 for a key reused with a different payload; Stripe refuses it too). Canonical means
parsed: key order, whitespace, number spelling (1 / 1.0) and a timestamp's zone offset
do not make two bodies different, and a field left out equals its default sent as such.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from dispatch.errors import InvalidInput

IDEMPOTENCY_FIELD = "Idempotency-Key"


def _canonical(value: Any) -> Any:
    """The same value with every aware timestamp in UTC (one instant, one spelling) and
    every set sorted (a set's iteration order differs between processes)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=_dumps)
    return value


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def request_fingerprint(body: BaseModel) -> str:
    """Hex SHA-256 of the parsed request body in canonical form."""
    canonical = _canonical(body.model_dump(mode="python"))
    return hashlib.sha256(_dumps(canonical)).hexdigest()


def check_replay(*, key: str, stored: str | None, fingerprint: str) -> None:
    """Refuse a key reused with another body. A row stored before fingerprints were kept
    (None) has nothing to compare against and is taken as the same request."""
    if stored is not None and stored != fingerprint:
        raise InvalidInput(
            f"Idempotency-Key {key!r} was already used for a different request body; "
            "a retry must resend the same body, a new call needs a new key",
            field=IDEMPOTENCY_FIELD)
