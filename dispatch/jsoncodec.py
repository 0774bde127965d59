"""orjson with the few types it does not know by itself (asyncpg's UUID subclass)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(content: Any) -> bytes:
    """Serialise to JSON bytes (datetimes as ISO 8601, UUIDs as strings)."""
    return orjson.dumps(content, default=_default, option=orjson.OPT_NON_STR_KEYS)
