"""An OSRM-compatible `table` service's requests and answers: routed durations between many points.

API: GET {base}/table/v1/{profile}/{lon,lat;lon,lat;...}?sources=0;1&destinations=2;3
&annotations=duration -> {"code": "Ok", "durations": [[s, ...], ...]} with null where no route
exists (http://project-osrm.org/docs/v5.24.0/api/#table-service). OSRM's `--max-table-size`
defaults to 100 coordinates per request, so big matrices are split into blocks that are
requested concurrently and reassembled.

Pure: the URLs of the blocks and the parsing of each answer. dispatch.routing.osrm sends them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson

from dispatch.errors import GeoError

DEFAULT_TIMEOUT_S = 2.0  # a recommendation must not wait long; the ETA model is the fallback
DEFAULT_MAX_COORDINATES = 100  # OSRM's default --max-table-size


class OsrmError(GeoError):
    """The routing service failed, timed out or answered something we cannot use."""


def _coord(lon: float, lat: float) -> str:
    """One coordinate in OSRM's `lon,lat` form (6 decimals ~ 0.1 m)."""
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        raise GeoError(f"invalid coordinate {lon},{lat}", field="coordinates")
    return f"{lon:.6f},{lat:.6f}"


def table_url(
    *,
    base_url: str,
    sources: Sequence[tuple[float, float]],
    destinations: Sequence[tuple[float, float]],
    profile: str = "driving",
) -> str:
    """The table request URL for one block (sources first, then destinations)."""
    coords = ";".join(_coord(lon, lat) for lon, lat in [*sources, *destinations])
    n = len(sources)
    src = ";".join(str(i) for i in range(n))
    dst = ";".join(str(n + i) for i in range(len(destinations)))
    return (
        f"{base_url.rstrip('/')}/table/v1/{profile}/{coords}"
        f"?sources={src}&destinations={dst}&annotations=duration"
    )


def parse_durations(body: bytes, *, rows: int, cols: int) -> list[list[float | None]]:
    """Validate a table answer and return its duration matrix."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OsrmError("routing service answered with invalid JSON") from exc
    if not isinstance(data, dict):
        raise OsrmError("routing service answer is not a JSON object")
    if data.get("code") != "Ok":
        raise OsrmError(f"routing service refused: {data.get('code')}: {data.get('message')}")
    matrix = data.get("durations")
    if not isinstance(matrix, list) or len(matrix) != rows:
        raise OsrmError("routing service answer has the wrong number of rows")
    out: list[list[float | None]] = []
    for row in matrix:
        if not isinstance(row, list) or len(row) != cols:
            raise OsrmError("routing service answer has the wrong number of columns")
        cells: list[float | None] = []
        for v in row:
            if v is None:
                cells.append(None)  # no route between these two points
            elif isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
                cells.append(float(v))
            else:
                raise OsrmError(f"routing service answered a bad duration {v!r}")
        out.append(cells)
    return out


def _chunks(n: int, size: int) -> list[range]:
    """Split range(n) into consecutive ranges of at most `size`."""
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def _block_sizes(n_src: int, n_dst: int, max_coordinates: int) -> tuple[int, int]:
    """Rows and columns per request so each request stays within the coordinate limit."""
    half = max_coordinates // 2
    if n_src + n_dst <= max_coordinates:
        return n_src, n_dst
    if n_src <= half:
        return n_src, max_coordinates - n_src
    if n_dst <= half:
        return max_coordinates - n_dst, n_dst
    return half, max_coordinates - half


# one request of a matrix: the source rows, the destination columns and its URL
Block = tuple[range, range, str]


def table_blocks(
    *,
    base_url: str,
    sources: Sequence[tuple[float, float]],
    destinations: Sequence[tuple[float, float]],
    profile: str = "driving",
    max_coordinates: int = DEFAULT_MAX_COORDINATES,
) -> list[Block]:
    """The requests that together give the whole matrix, each within the coordinate limit.
    Built whole before any is sent, so a bad coordinate fails before any request."""
    if max_coordinates < 2:
        raise GeoError("max_coordinates must be >= 2", field="max_coordinates")
    if not sources or not destinations:
        return []
    src_size, dst_size = _block_sizes(len(sources), len(destinations), max_coordinates)
    return [
        (
            sb,
            db,
            table_url(
                base_url=base_url,
                sources=[sources[i] for i in sb],
                destinations=[destinations[j] for j in db],
                profile=profile,
            ),
        )
        for sb in _chunks(len(sources), src_size)
        for db in _chunks(len(destinations), dst_size)
    ]


def assemble(
    *, blocks: Sequence[Block], answers: Sequence[list[list[float | None]]], rows: int,
    cols: int,
) -> list[list[float | None]]:
    """The whole matrix from each block's answer."""
    matrix: list[list[float | None]] = [[None] * cols for _ in range(rows)]
    for (sb, db, _), block in zip(blocks, answers, strict=True):
        for r, i in enumerate(sb):
            matrix[i][db.start : db.stop] = block[r]
    return matrix
