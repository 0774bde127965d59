"""Client of an OSRM-compatible `table` service: send the blocks, gather the matrix.

The URLs and the parsing of each answer are dispatch.geo.osrm (pure); this module only
sends the requests, concurrently, each with an explicit timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import orjson

from dispatch.geo.osrm import (
    DEFAULT_MAX_COORDINATES,
    DEFAULT_TIMEOUT_S,
    OsrmError,
    assemble,
    parse_durations,
    table_blocks,
)


async def _block(
    *,
    client: httpx.AsyncClient,
    url: str,
    rows: int,
    cols: int,
    timeout_s: float,
) -> list[list[float | None]]:
    """Fetch and parse one block."""
    try:
        resp = await client.get(url, timeout=timeout_s)
    except httpx.TimeoutException as exc:
        raise OsrmError(f"routing service timed out after {timeout_s} s") from exc
    except httpx.HTTPError as exc:
        raise OsrmError(f"routing service unreachable: {exc}") from exc
    if resp.status_code != 200:
        # OSRM answers 400 with a JSON code (InvalidQuery, NoSegment, TooBig...): surface it.
        try:
            detail = orjson.loads(resp.content).get("code")
        except (orjson.JSONDecodeError, AttributeError):
            detail = resp.text[:200]
        raise OsrmError(f"routing service HTTP {resp.status_code}: {detail}")
    return parse_durations(resp.content, rows=rows, cols=cols)


async def table_durations(
    *,
    client: httpx.AsyncClient,
    base_url: str,
    sources: Sequence[tuple[float, float]],
    destinations: Sequence[tuple[float, float]],
    profile: str = "driving",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_coordinates: int = DEFAULT_MAX_COORDINATES,
) -> list[list[float | None]]:
    """Routed travel times (s), rows = sources, columns = destinations; None where unroutable."""
    blocks = table_blocks(base_url=base_url, sources=sources, destinations=destinations,
                          profile=profile, max_coordinates=max_coordinates)
    if not sources:
        return []
    if not destinations:
        return [[] for _ in sources]
    try:
        async with asyncio.TaskGroup() as tg:  # one failure cancels the other requests
            tasks = [
                tg.create_task(
                    _block(client=client, url=url, rows=len(sb), cols=len(db), timeout_s=timeout_s)
                )
                for sb, db, url in blocks
            ]
    except* OsrmError as group:
        raise group.exceptions[0] from group
    return assemble(blocks=blocks, answers=[t.result() for t in tasks], rows=len(sources),
                    cols=len(destinations))
