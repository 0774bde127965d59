"""End-of-run checks through the public API: every acknowledged call is readable, no key got
two calls, no vehicle was on two calls at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loadtests.client import Api
from loadtests.figures import (
    Invariants,
    VehicleEvent,
    double_assignments,
    lost_and_duplicated,
)


@dataclass(frozen=True)
class ReadBack:
    """What the end-of-run read found."""

    calls: dict[str, dict[str, Any]]  # call id -> the call view with its timeline
    invariants: Invariants


async def read_back(
    *, api: Api, acknowledged: Mapping[str, Sequence[str]], concurrency: int = 16,
    undelivered: Sequence[str] = (),
) -> ReadBack:
    """GET every acknowledged call with its timeline and check the invariants."""
    ids = sorted({cid for v in acknowledged.values() for cid in v})
    calls: dict[str, dict[str, Any]] = {}
    sem = asyncio.Semaphore(concurrency)

    async def one(cid: str) -> None:
        async with sem:
            for _ in range(3):
                r = await api.request("GET", f"/v1/calls/{cid}", label="verify")
                if r is not None and r.status_code == 200:
                    calls[cid] = r.json()
                    return
                if r is not None and r.status_code == 404:
                    return

    await asyncio.gather(*(one(c) for c in ids))
    lost, duplicated = lost_and_duplicated(acknowledged=acknowledged,
                                           readable=lambda c: c in calls)
    events = [
        VehicleEvent(event_id=int(e["id"]), vehicle_id=e["vehicle_id"], call_id=cid,
                     kind=e["kind"])
        for cid, view in calls.items() for e in view.get("timeline", [])
        if e.get("vehicle_id") and e["kind"] in ("dispatched", "cleared", "unassigned")
    ]
    inv = Invariants(acknowledged=len(ids), lost=lost, duplicated=duplicated,
                     double_assignments=double_assignments(events),
                     undelivered=list(undelivered))
    return ReadBack(calls=calls, invariants=inv)


def first_event(view: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The first timeline event of a kind (by event id)."""
    found = [e for e in view.get("timeline", []) if e["kind"] == kind]
    return min(found, key=lambda e: int(e["id"])) if found else None


def parse_time(value: str | datetime) -> datetime:
    """A timeline timestamp (ISO string from JSON) as an aware datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
