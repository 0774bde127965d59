"""Request bodies for service tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def call_body(
    lon: float, lat: float, *, accuracy_m: float = 20.0, answers: dict[str, Any] | None = None,
    complaint: str = "", number: str = "13800000000", source: str = "aml",
    system: str = "wgs84", now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return {
        "caller_number": number,
        "complaint": complaint,
        "answers": answers if answers is not None else {},
        "received_at": (now - timedelta(seconds=8)).isoformat(),
        "answered_at": (now - timedelta(seconds=3)).isoformat(),
        "fixes": [{"lon": lon, "lat": lat, "accuracy_m": accuracy_m, "source": source,
                   "coord_system": system, "observed_at": now.isoformat()}],
    }
