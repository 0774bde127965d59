"""What this instance's crew connections share: group commit of their frames, positions
and re-triage reads, one pipeline for their ETA events, the consoles' position batch,
and the calls' findings cache. One per instance, started and stopped by the lifespan.

A frame is acknowledged only once its batch has committed; the batch's events are
published right after the commit (OutboxPublisher.publish: never dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from dispatch.handover import repo
from dispatch.handover.config import HandoverConfig
from dispatch.handover.findings_cache import FindingsCache
from dispatch.realtime.batching import Batcher, HeldConnection
from dispatch.realtime.outbox import Outgoing
from dispatch.runtime import Runtime

__all__ = ["NO_EVENT", "CrewBatches", "Ping", "frame_payload"]

# Clinical frames the console hears about too; vitals at 1 Hz go to the centre only.
_CONSOLE_KINDS = frozenset({"ecg", "stroke", "injuries", "treatment", "destination_request",
                            "activate_team"})
# The ack's event id of a frame with no stream event (yet): a position, a queued ETA.
NO_EVENT = "0"


@dataclass(frozen=True, slots=True)
class Ping:
    """What recording one position found: the vehicle exists; its row unless superseded."""

    exists: bool
    row: repo.PositionRow | None


def frame_payload(row: repo.CrewRow, stored: repo.CrewInsert) -> dict[str, Any]:
    """The bus message of a stored crew frame."""
    return {"kind": row.kind, **row.body, "call_id": str(row.call_id),
            "vehicle_id": row.vehicle_id, "event_id": stored.event_id}


class CrewBatches:
    """The writers, readers and publishers every crew connection of this instance shares."""

    def __init__(self, *, rt: Runtime, config: HandoverConfig) -> None:
        self.rt = rt
        self.config = config
        # Per call, merge_findings of its stored clinical frames (dispatch.handover.findings_cache).
        self.findings = FindingsCache(size=config.findings_cache_calls)
        self._positions: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._frames_conn = HeldConnection(pool=rt.pool)
        self._pings_conn = HeldConnection(pool=rt.pool)
        self._frames: Batcher[repo.CrewRow, repo.CrewInsert] = Batcher(
            name="handover-crew-frames", flush=self._write_frames, after=self._publish_frames,
            gather_s=config.commit_gather_s)
        self._pings: Batcher[repo.PositionSet, Ping] = Batcher(
            name="handover-positions-writer", flush=self._write_pings,
            gather_s=config.background_gather_s)
        # What the calls' re-triage checks read (about one per call every few seconds).
        self._retriage_conn = HeldConnection(pool=rt.pool)
        self._retriage_reads: Batcher[UUID, repo.RetriageInput | None] = Batcher(
            name="handover-retriage-reads", flush=self._read_retriage_inputs,
            gather_s=config.background_gather_s)
        # ETA updates from every crew connection, one Redis pipeline per batch.
        self._publisher: Batcher[tuple[str, dict[str, Any]], str] = Batcher(
            name="handover-publisher", flush=self._publish_batch)

    async def start(self) -> None:
        """Start the crew frame and position writers and the console position batcher."""
        await self._frames.start()
        await self._pings.start()
        await self._retriage_reads.start()
        await self._publisher.start()
        self._task = asyncio.create_task(self._batch_positions(), name="handover-positions")

    async def stop(self) -> None:
        """Stop the batcher and the writers."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._frames.stop()
        await self._pings.stop()
        await self._retriage_reads.stop()
        await self._publisher.stop()
        await self._frames_conn.release()
        await self._pings_conn.release()
        await self._retriage_conn.release()

    async def write_frame(self, row: repo.CrewRow) -> repo.CrewInsert:
        """Store a clinical frame with the other connections' in one statement; published
        right after the commit (_publish_frames)."""
        return await self._frames.submit(row)

    async def record_ping(self, ping: repo.PositionSet) -> Ping:
        """Store a position with the other connections' (the latest per vehicle stands)."""
        return await self._pings.submit(ping)

    async def retriage_input(self, call_id: UUID) -> repo.RetriageInput | None:
        """What a re-triage check reads of a call: one statement for many checks."""
        return await self._retriage_reads.submit(call_id)

    async def publish_eta(self, topic: str, payload: dict[str, Any]) -> str:
        """Publish an ETA event with the other connections'; its stream id (NO_EVENT: queued
        in the outbox, Redis refused it)."""
        return await self._publisher.submit((topic, payload))

    def show_position(self, vehicle_id: str, position: dict[str, Any]) -> None:
        """The vehicle's latest position, for the consoles' next `positions` message."""
        self._positions[vehicle_id] = position

    def show_eta(self, vehicle_id: str, position: dict[str, Any], eta: dict[str, Any]) -> None:
        """Add the ETA to the vehicle's position in the next batch (or in `position`, if that
        batch has gone out meanwhile)."""
        self._positions.setdefault(vehicle_id, position)["eta"] = eta

    async def _write_frames(self, rows: Sequence[repo.CrewRow]) -> list[repo.CrewInsert]:
        """One statement for a batch of crew frames; a frame sent twice is stored once."""
        first: dict[tuple[str, UUID, str], int] = {}
        unique: list[repo.CrewRow] = []
        index: list[int] = []
        for row in rows:
            key = (row.vehicle_id, row.call_id, row.msg_id)
            if key not in first:
                first[key] = len(unique)
                unique.append(row)
            index.append(first[key])
        async with self._frames_conn.use() as conn:
            stored = await repo.insert_crew_messages(conn=conn, rows=unique)
        for row, result in zip(unique, stored, strict=True):
            if result.created and result.event_id is not None \
                    and row.kind in repo.FINDING_KINDS:
                self.findings.committed(row.call_id, (row.occurred_at, result.event_id),
                                        row.body)
        out: list[repo.CrewInsert] = []
        answered: set[int] = set()
        for row, i in zip(rows, index, strict=True):
            if i in answered:
                # The same msg_id twice in one batch (a tablet on two links): the later one
                # is the resend, or a conflict if its content is not the first one's.
                first_row = unique[i]
                out.append(replace(stored[i], created=False, conflict=stored[i].conflict or (
                    (row.kind, row.body) != (first_row.kind, first_row.body))))
            else:
                out.append(stored[i])
            answered.add(i)
        return out

    async def _publish_frames(
        self, rows: Sequence[repo.CrewRow], stored: Sequence[repo.CrewInsert]
    ) -> None:
        """After a batch commits: the new frames to their centres (and some to the console)."""
        out: Outgoing = []
        for row, result in zip(rows, stored, strict=True):
            if not result.created:
                continue  # a resend: published the first time
            payload = frame_payload(row, result)
            if result.destination_id is not None:
                out.append((f"hospital:{result.destination_id}", payload))
            if row.kind in _CONSOLE_KINDS:
                out.append(("console", payload))
        await self.rt.outbox.publish(out)

    async def _write_pings(self, pings: Sequence[repo.PositionSet]) -> list[Ping]:
        """One statement for a batch of positions; per vehicle, the latest ping is kept."""
        latest: dict[str, repo.PositionSet] = {}
        for ping in pings:
            kept = latest.get(ping.vehicle_id)
            if kept is None or ping.at >= kept.at:
                latest[ping.vehicle_id] = ping
        unique = list(latest.values())
        async with self._pings_conn.use() as conn:
            rows = dict(zip([p.vehicle_id for p in unique],
                            await repo.set_positions(conn=conn, pings=unique), strict=True))
            missing = {v for v, row in rows.items() if row is None}
            if missing:
                missing -= await repo.existing_vehicles(conn=conn, ids=sorted(missing))
        return [Ping(exists=p.vehicle_id not in missing,
                     row=rows[p.vehicle_id] if latest[p.vehicle_id] is p else None)
                for p in pings]

    async def _read_retriage_inputs(
        self, call_ids: Sequence[UUID]
    ) -> list[repo.RetriageInput | None]:
        async with self._retriage_conn.use() as conn:
            return await repo.retriage_inputs(conn=conn, call_ids=call_ids)

    async def _publish_batch(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Publish what several connections submitted in one pipeline (no ids: queued)."""
        ids = await self.rt.outbox.publish(list(items))
        return [NO_EVENT] * len(items) if ids is None else ids

    async def _batch_positions(self) -> None:
        while True:
            await asyncio.sleep(self.config.positions_every_s)
            if not self._positions:
                continue
            batch, self._positions = list(self._positions.values()), {}
            await self.rt.outbox.publish([("console", {"kind": "positions", "vehicles": batch})])
