"""Exact order statistics of one interval over a group, by selection instead of sorting.

PostgreSQL's `percentile_cont` sorts every group's values, once per interval and again for
the total, and ordered-set aggregates do not run in parallel: at a million calls that was
most of the indicator query. The query now ships each group's values as one binary float8
array (`array_send(array_agg(...))`), and the percentiles are picked here with
`numpy.partition` (introselect, linear time). The values are the stored float8 seconds and
the interpolation is `indicators.percentile_cont`'s, so the figures are the same, to the bit,
as PostgreSQL's and the pure path's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Values = npt.NDArray[np.float64]

# The binary array format of array_send: a header of int32 ndim, has-nulls flag and element
# type, then per dimension int32 length and lower bound, then per element an int32 length
# (8 for a float8) and the big-endian value. The query filters NULLs out, so every element
# has the same size and the body is one strided read.
_HEADER = np.dtype(">i4")
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f8")])


def decode_float8_array(data: bytes) -> Values:
    """A one-dimensional float8[] without NULLs, in array_send's binary format, as an array."""
    ndim, has_nulls, _ = np.frombuffer(data, dtype=_HEADER, count=3)
    if ndim == 0:
        return np.empty(0, dtype=np.float64)
    if ndim != 1 or has_nulls:
        raise ValueError("expected a one-dimensional float8 array without NULLs")
    (length,) = np.frombuffer(data, dtype=_HEADER, count=1, offset=12)
    body = np.frombuffer(data, dtype=_ELEMENT, count=int(length), offset=20)
    return body["value"].astype(np.float64)


def percentiles(values: Values, fractions: Sequence[float]) -> tuple[float | None, ...]:
    """percentile_cont at each fraction: interpolated between the two nearest order
    statistics (PostgreSQL's definition), selected without a full sort."""
    n = len(values)
    if n == 0:
        return tuple(None for _ in fractions)
    positions = [f * (n - 1) for f in fractions]
    ranks = sorted({r for p in positions for r in (math.floor(p), math.ceil(p))})
    selected = np.partition(values, ranks)
    result = []
    for p in positions:
        low = float(selected[math.floor(p)])
        high = float(selected[math.ceil(p)])
        result.append(low + (high - low) * (p - math.floor(p)))
    return tuple(result)


def count_within(values: Values, limit: float) -> int:
    """How many values are at or under `limit`."""
    return int(np.count_nonzero(values <= limit))
