"""The garbage collector's settings for long-running processes (the service, the harness).

CPython collects its youngest generation after 700 net allocations of container objects.
A service instance at 1,000 crew frames a second allocates (and frees again within the
frame) tens of thousands of dicts a second: with the default, collections took ~15% of an
instance's CPU (py-spy, bench_handover), and each full collection walked every object the
process holds, a pause that every frame in flight waited for.
"""

from __future__ import annotations

import gc

__all__ = ["GEN0_THRESHOLD", "tune_gc"]

GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect less often, and never again scan what start-up left (modules, caches).

    Once per process: a process that starts the app again (the tests) keeps its first
    setting rather than freezing each app's garbage."""
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 == GEN0_THRESHOLD:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
