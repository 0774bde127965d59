"""Per call, the merged findings of its stored clinical frames, kept in memory.

A re-triage check needs merge_findings of every clinical frame a call has stored: at
1 Hz per crew, reading them all back each time would cost a statement per check. The
cache keeps each call's `FindingsFold` up to date with the frames this instance commits
and, being a cache only, checks it against what PostgreSQL holds at every look: frames
stored by another instance, a restart or an eviction make it read them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.handover import repo
from dispatch.handover.findings import FindingsFold, FrameKey
from dispatch.lru import LRU
from dispatch.triage import Findings

__all__ = ["FindingsCache"]


class FindingsCache:
    """At most `size` calls' folds (a few hundred bytes each); the least recently used go."""

    def __init__(self, *, size: int) -> None:
        self._folds: LRU[UUID, FindingsFold] = LRU(size=size)

    def fold_of(self, call_id: UUID) -> FindingsFold | None:
        """The fold kept for the call, whatever it holds (None: none kept)."""
        return self._folds.get(call_id)

    def committed(self, call_id: UUID, key: FrameKey, frame: Mapping[str, Any]) -> None:
        """Add a frame this instance just committed to its call's fold, if one is kept."""
        fold = self._folds.get(call_id)
        # A row id at or below the fold's largest may already be in it (read back from the
        # database): left out, the frame count check at the next look rebuilds the fold.
        if fold is not None and key[1] > fold.max_id:
            fold.add(key, frame)

    def kept(self, call_id: UUID, stored: tuple[int, int]) -> FindingsFold | None:
        """The cached fold of the call if it holds exactly its stored frames.

        Frames are never deleted, and the fold only holds committed frames, each once: when
        `stored` (how many are stored, the largest id) agrees, it holds exactly the
        stored frames, wherever they were received. Otherwise (another instance's frames,
        a restart, an eviction) None: the caller rebuilds it.
        """
        fold = self._folds.get(call_id)
        if fold is None or (fold.count, fold.max_id) != stored:
            return None
        return fold

    def rebuilt(
        self, call_id: UUID, frames: Sequence[tuple[datetime, int, dict[str, Any]]]
    ) -> FindingsFold:
        """Fold the call's stored frames (repo.finding_frames) and keep the fold."""
        fold = FindingsFold()
        for at, row_id, body in frames:
            fold.add((at, row_id), body)
        self._folds.put(call_id, fold)
        return fold

    async def findings(
        self, *, pool: asyncpg.Pool, call_id: UUID, stored: tuple[int, int]
    ) -> Findings | None:
        """merge_findings of the call's stored frames, from the cache when it holds them all
        (`stored`: RetriageInput.stored_frames of the call, read by the caller)."""
        fold = self.kept(call_id, stored)
        if fold is None:
            async with pool.acquire() as conn:
                fold = self.rebuilt(call_id, await repo.finding_frames(conn=conn,
                                                                       call_id=call_id))
        return fold.findings()

    def __len__(self) -> int:
        return len(self._folds)
