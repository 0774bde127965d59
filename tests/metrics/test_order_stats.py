"""order_stats: PostgreSQL's binary arrays decoded, and percentiles by selection equal to the
sorting definition (indicators.percentile_cont) to the bit."""

from __future__ import annotations

import random
import struct

import asyncpg
import numpy as np
import pytest

from dispatch.metrics import order_stats
from dispatch.metrics.indicators import PERCENTILES, percentile_cont
from tests.conftest import DATABASE_URL as DSN


@pytest.mark.parametrize(
    "values",
    [[], [0.0], [1.5, -2.25, 1e-6, 86399.999999], [3.0] * 5],
    ids=["empty", "zero", "mixed", "ties"],
)
async def test_decodes_what_postgresql_sends(values: list[float]) -> None:
    conn = await asyncpg.connect(DSN)
    try:
        data = await conn.fetchval("SELECT array_send($1::float8[])", values)
    finally:
        await conn.close()
    decoded = order_stats.decode_float8_array(data)
    assert decoded.dtype == np.float64
    assert decoded.tolist() == values


async def test_refuses_an_array_with_nulls() -> None:
    conn = await asyncpg.connect(DSN)
    try:
        data = await conn.fetchval("SELECT array_send(ARRAY[1.0, NULL]::float8[])")
    finally:
        await conn.close()
    with pytest.raises(ValueError, match="NULL"):
        order_stats.decode_float8_array(data)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 1000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_equal_the_sorting_definition(n: int, seed: int) -> None:
    rng = random.Random(seed)
    values = [round(rng.expovariate(1 / 300), rng.choice([0, 3, 6])) for _ in range(n)]
    got = order_stats.percentiles(np.array(values), PERCENTILES)
    assert got == tuple(percentile_cont(values=values, fraction=f) for f in PERCENTILES)


def test_percentiles_of_nothing_are_none() -> None:
    assert order_stats.percentiles(np.empty(0), PERCENTILES) == (None, None, None)


def test_percentiles_interpolate_between_neighbours() -> None:
    # 40, 90, 180, 190: p50 at position 1.5 -> 135; p90 at 2.7 -> 187; p95 at 2.85 -> 188.5
    assert order_stats.percentiles(np.array([190.0, 40.0, 180.0, 90.0]), PERCENTILES) == (
        135.0,
        187.0,
        188.5,
    )


def test_count_within_counts_the_limit_itself() -> None:
    values = np.array([59.9, 60.0, 60.1, 10.0])
    assert order_stats.count_within(values, 60.0) == 3
    assert order_stats.count_within(values, 0.0) == 0


FLOAT8_OID = 701


def _array_send(values: list[float], *, dims: int = 1, has_nulls: int = 0) -> bytes:
    """array_send's binary format, written out by hand (PostgreSQL's arrayfuncs.c)."""
    if not values and dims == 1:
        return struct.pack(">iii", 0, 0, FLOAT8_OID)
    head = struct.pack(">iii", dims, has_nulls, FLOAT8_OID)
    shape = struct.pack(">ii", len(values), 1) + struct.pack(">ii", 1, 1) * (dims - 1)
    return head + shape + b"".join(struct.pack(">id", 8, v) for v in values)


@pytest.mark.parametrize("values", [[], [0.0], [1.5, -2.25, 1e-6, 86399.999999], [3.0] * 5])
def test_decodes_the_binary_format(values: list[float]) -> None:
    decoded = order_stats.decode_float8_array(_array_send(values))
    assert decoded.dtype == np.float64
    assert decoded.tolist() == values


@pytest.mark.parametrize(("dims", "has_nulls"), [(2, 0), (1, 1)])
def test_refuses_other_shapes_and_nulls(dims: int, has_nulls: int) -> None:
    with pytest.raises(ValueError) as info:
        order_stats.decode_float8_array(_array_send([1.0, 2.0], dims=dims, has_nulls=has_nulls))
    assert str(info.value) == "expected a one-dimensional float8 array without NULLs"


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.9, 0.95, 1.0])
def test_percentile_at_the_ends_and_between(fraction: float) -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    [got] = order_stats.percentiles(np.array(values), [fraction])
    assert got == 1.0 + 4.0 * fraction  # the order statistics are 1..5, evenly spaced
