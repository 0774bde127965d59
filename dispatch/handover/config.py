"""Limits and rates of the handover's real-time layer (values only)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HandoverConfig"]


@dataclass(frozen=True, slots=True)
class HandoverConfig:
    """Limits and rates of the real-time layer."""

    # Mission "closest-unit": routing is not recomputed on every ping; an ETA to the
    # centre every few seconds is as fresh as a screen can use (Resgrid practice ~90 s
    # for routed ETAs; ours is a cheap model, so 5 s).
    eta_every_s: float = 5.0
    # Consoles get every vehicle's latest position in one message this often.
    positions_every_s: float = 1.0
    queue_size: int = 1_000
    # Calls whose merged findings an instance keeps (a few hundred bytes each); a call
    # evicted, or never seen since a restart, is read back from PostgreSQL at its next check.
    findings_cache_calls: int = 4_096
    # Crew frames wait this long for others to share their statement.
    commit_gather_s: float = 0.005
    # Positions (1 Hz, the latest stands) and re-triage reads (after the ack) wait longer:
    # fewer, larger statements and commits, with no clinical frame waiting behind them.
    background_gather_s: float = 0.020
