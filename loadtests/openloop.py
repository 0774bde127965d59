"""Open-loop send schedules: when each request is meant to leave, whatever came before.

Latency counts from the planned moment, so a service (or a harness) that falls behind shows
it instead of quietly sending less (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Literal

__all__ = ["Schedule", "drive", "send_offsets"]

Schedule = Literal["uniform", "poisson"]


def send_offsets(*, rate: float, count: int, schedule: Schedule = "uniform",
                 rng: random.Random | None = None) -> list[float]:
    """Seconds from the start at which request i goes out: i/rate (uniform), or a Poisson
    process of that rate (exponential gaps, from `rng`)."""
    if rate <= 0:
        raise ValueError("rate must be > 0")
    if schedule == "uniform":
        return [i / rate for i in range(count)]
    rng = rng or random.Random(1)
    out, t = [], 0.0
    for _ in range(count):
        out.append(t)
        t += rng.expovariate(rate)
    return out


async def drive(*, offsets: list[float], start: float, clock: Callable[[], float],
                launch: Callable[[int, float], None]) -> None:
    """Call `launch(i, meant_at)` at `start + offsets[i]` on `clock`; every request already
    due is launched at once when the loop was late (none is skipped or delayed further)."""
    for i, offset in enumerate(offsets):
        meant = start + offset
        delay = meant - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        launch(i, meant)
