"""End-of-run checks through the public API: every acknowledged call is listed once in its
period (GET /v1/calls?from=&to=, page by page), no key got two calls, no vehicle was on two
calls at once (from each call's timeline).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loadtests.client import Api
from loadtests.figures import (
    Invariants,
    VehicleEvent,
    double_assignments,
    listing_check,
    lost_and_duplicated,
)

PAGE = 1000  # the listing's largest page


@dataclass(frozen=True)
class ReadBack:
    """What the end-of-run read found."""

    calls: dict[str, dict[str, Any]]  # call id -> the call view with its timeline
    invariants: Invariants
    listed: int = 0  # calls in the period listing (None-window runs: 0)
    pages: int = 0


async def list_period(*, api: Api, since: datetime, until: datetime,
                      page: int = PAGE) -> tuple[list[dict[str, Any]], int]:
    """Every call received in [since, until), oldest first, and the pages it took."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"from": since.isoformat(), "to": until.isoformat(), "limit": str(page)}
        if cursor is not None:
            params["cursor"] = cursor
        r = await api.request("GET", "/v1/calls", label="verify_list", params=params)
        if r is None or r.status_code != 200:
            raise RuntimeError(f"listing failed: {r.status_code if r else 'transport'}"
                               f" {r.text[:200] if r else ''}")
        body = r.json()
        pages += 1
        out.extend(body["calls"])
        cursor = body.get("next_cursor")
        if cursor is None:
            return out, pages


async def read_back(
    *, api: Api, acknowledged: Mapping[str, Sequence[str]], concurrency: int = 16,
    undelivered: Sequence[str] = (), number_of: Mapping[str, str] | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> ReadBack:
    """Check the invariants; with `window` and `number_of`, lost/duplicated from the listing.

    The listing is the service's own account of the period: a call it stored twice for one
    caller shows there even when the harness only ever saw one id. Each listed call's
    timeline is then read for the double-assignment check.
    """
    listed: list[dict[str, Any]] = []
    pages = 0
    unacknowledged: list[str] = []
    if window is not None and number_of is not None:
        # received_at is the caller's ring time: a minute of margin covers clock skew.
        margin = timedelta(minutes=1)
        listed, pages = await list_period(api=api, since=window[0] - margin,
                                          until=window[1] + margin)
        lost, duplicated, unacknowledged = listing_check(
            acknowledged=acknowledged, number_of=number_of,
            listed=[(str(c["id"]), str(c["caller_number"])) for c in listed])
        ids = sorted({str(c["id"]) for c in listed
                      if str(c["caller_number"]) in set(number_of.values())})
    else:
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
    if window is None or number_of is None:
        lost, duplicated = lost_and_duplicated(acknowledged=acknowledged,
                                               readable=lambda c: c in calls)
    events = [
        VehicleEvent(event_id=int(e["id"]), vehicle_id=e["vehicle_id"], call_id=cid,
                     kind=e["kind"])
        for cid, view in calls.items() for e in view.get("timeline", [])
        if e.get("vehicle_id") and e["kind"] in ("dispatched", "cleared", "unassigned")
    ]
    n_acked = len({cid for v in acknowledged.values() for cid in v})
    inv = Invariants(acknowledged=n_acked, lost=lost, duplicated=duplicated,
                     double_assignments=double_assignments(events),
                     undelivered=list(undelivered), unacknowledged=unacknowledged)
    return ReadBack(calls=calls, invariants=inv, listed=len(listed), pages=pages)


def first_event(view: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The first timeline event of a kind (by event id)."""
    found = [e for e in view.get("timeline", []) if e["kind"] == kind]
    return min(found, key=lambda e: int(e["id"])) if found else None


def parse_time(value: str | datetime) -> datetime:
    """A timeline timestamp (ISO string from JSON) as an aware datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
