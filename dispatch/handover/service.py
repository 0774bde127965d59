"""The handover's service layer: crew and centre messages, snapshots, the record.

Each message is committed to PostgreSQL first, then acknowledged, then published. The
flows (dispatch.flows) keep the clocks and the queue (statuses, positions, re-triage); the state
machine (dispatch.handover.state) decides what a centre's actions mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from redis.exceptions import RedisError

from dispatch.auth import Principal
from dispatch.bus import Bus
from dispatch.db import calls as call_db
from dispatch.db import fleet as fleet_db
from dispatch.db.events import audit, timeline
from dispatch.domain import LIVE_STATUSES, EventKind, Role, VehicleKind, VehicleStatus
from dispatch.errors import Conflict, DispatchError, Forbidden, NotFound
from dispatch.flows.fleet import report_status
from dispatch.flows.reads import call_list, call_view
from dispatch.flows.retriage import retriage_call
from dispatch.handover import repo
from dispatch.handover.access import hospital_sees
from dispatch.handover.atmist import build_atmist
from dispatch.handover.batching import Batcher, HeldConnection
from dispatch.handover.capacity import report_capacity
from dispatch.handover.destinations import crew_request
from dispatch.handover.fhir import build_bundle
from dispatch.handover.findings import (
    ALWAYS_RETRIAGE,
    FindingsFold,
    FrameKey,
    RetriagePolicy,
    conditions_of,
)
from dispatch.handover.messages import (
    AckFrame,
    ActivateTeamMsg,
    CapacityMsg,
    CrewActivateTeamMsg,
    CrewMessage,
    DestinationRequestMsg,
    DiversionMsg,
    HandoverCompleteMsg,
    HospitalAckMsg,
    HospitalArrivedMsg,
    HospitalMessage,
    PositionMsg,
    ResumeMsg,
    StatusMsg,
)
from dispatch.handover.outbox import OutboxPublisher
from dispatch.handover.prealert import Outgoing, apply_event, hospital_may_see, patient_view
from dispatch.handover.state import (
    Acknowledge,
    ActivateTeam,
    Actor,
    Arrive,
    CompleteHandover,
    Event,
)
from dispatch.lru import LRU
from dispatch.runtime import Runtime
from dispatch.triage import Answers, Findings, retriage_on_card

__all__ = ["HANDOVER_KINDS", "CrewLink", "Handled", "HandoverConfig", "HandoverService"]

log = logging.getLogger(__name__)

# The handover's part of the timeline, shown with the record.
HANDOVER_KINDS = frozenset({
    EventKind.DESTINATION_CHOSEN.value, EventKind.CENTRE_ALERTED.value,
    EventKind.CENTRE_ACKNOWLEDGED.value, EventKind.TEAM_ACTIVATED.value,
    EventKind.AT_DESTINATION.value, EventKind.HANDOVER.value,
})
# Clinical frames the console hears about too; vitals at 1 Hz go to the centre only.
_CONSOLE_KINDS = frozenset({"ecg", "stroke", "injuries", "treatment", "destination_request",
                            "activate_team"})
_NO_EVENT = "0"


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
    # The centre's zone, for the clock times of the printable handover (DISPATCH_DISPLAY_TIMEZONE).
    time_zone: str = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Handled:
    """The ack to send once committed, then the work that follows it, in order."""

    ack: AckFrame
    then: tuple[Callable[[], Awaitable[None]], ...] = ()

    async def follow_up(self) -> None:
        """Run the work after the ack (publish, re-triage), one step after another."""
        for step in self.then:
            await step()


@dataclass
class CrewLink:
    """What one crew connection remembers between frames (never needed for correctness)."""

    vehicle_id: str
    policies: dict[UUID, RetriagePolicy] = field(default_factory=dict)
    eta_sent_at: dict[UUID, datetime] = field(default_factory=dict)
    # The latest ETA to the destination per call, shown with the vehicle's positions.
    etas: dict[UUID, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Ping:
    """What recording one position found: the vehicle exists; its row unless superseded."""

    exists: bool
    row: repo.PositionRow | None


def _frame_payload(row: repo.CrewRow, stored: repo.CrewInsert) -> dict[str, Any]:
    """The bus message of a stored crew frame."""
    return {"kind": row.kind, **row.body, "call_id": str(row.call_id),
            "vehicle_id": row.vehicle_id, "event_id": stored.event_id}


def _reused(msg_id: str) -> Conflict:
    return Conflict(f"msg_id {msg_id!r} already names another frame of this call "
                    "(a resend must repeat it unchanged; new content needs a new msg_id)",
                    field="msg_id")


def _refuse_reused(msg_id: str, stored: repo.CrewInsert) -> None:
    """A msg_id reused for other content is refused, never acknowledged as a resend."""
    if stored.conflict:
        raise _reused(msg_id)


class HandoverService:
    """Flows of the crew, hospital and console channels; one per instance."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        bus: Bus,
        runtime: Runtime,
        outbox: OutboxPublisher,
        config: HandoverConfig,
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.rt = runtime
        self.outbox = outbox
        self.config = config
        self._positions: dict[str, dict[str, Any]] = {}
        # Per call, merge_findings of its stored clinical frames, kept up to date by the
        # frames this instance writes. A cache only: each check compares it with the
        # frames PostgreSQL holds (_findings) and reads them back if it differs.
        self._folds: LRU[UUID, FindingsFold] = LRU(size=config.findings_cache_calls)
        self._task: asyncio.Task[None] | None = None
        self._frames_conn = HeldConnection(pool=pool)
        self._pings_conn = HeldConnection(pool=pool)
        self._frames: Batcher[repo.CrewRow, repo.CrewInsert] = Batcher(
            name="handover-crew-frames", flush=self._write_frames, after=self._publish_frames,
            gather_s=config.commit_gather_s)
        self._pings: Batcher[repo.PositionSet, _Ping] = Batcher(
            name="handover-positions-writer", flush=self._write_pings,
            gather_s=config.background_gather_s)
        # What the calls' re-triage checks read (about one per call every few seconds).
        self._retriage_conn = HeldConnection(pool=pool)
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

    # ------------------------------------------------------------------ crew

    async def crew_message(
        self, *, link: CrewLink, principal: Principal, msg: CrewMessage, now: datetime
    ) -> Handled:
        """Commit one crew frame; the caller sends the ack, then runs the follow-up."""
        assert not isinstance(msg, ResumeMsg)
        if isinstance(msg, PositionMsg):
            return await self._position(link, principal, msg, now)
        if isinstance(msg, StatusMsg):
            return await self._status(link, principal, msg, now)
        if isinstance(msg, DestinationRequestMsg):
            return await self._destination_request(link, msg, now)
        body = msg.model_dump(mode="json", exclude_none=True)

        async def check() -> None:
            await self._maybe_retriage(link, principal, msg.call_id, body, now)

        row = repo.CrewRow(vehicle_id=link.vehicle_id, msg_id=msg.msg_id, call_id=msg.call_id,
                           kind=msg.type, occurred_at=getattr(msg, "at", now), body=body)
        if not isinstance(msg, CrewActivateTeamMsg):
            # Written with the other connections' frames in one statement, published by
            # the writer right after it commits (_publish_frames).
            stored = await self._frames.submit(row)
            _refuse_reused(msg.msg_id, stored)
            if stored.event_id is None:
                raise Forbidden("this crew is not assigned to the call", field="call_id")
            ack = AckFrame(msg_id=msg.msg_id, event_id=str(stored.event_id))
            return Handled(ack, (check,) if stored.created else ())
        # A team activation changes the handover state, atomically with the message.
        async with self.pool.acquire() as conn, conn.transaction():
            stored, out = await self._store_team_frame(conn, msg, row, now)
        ack = AckFrame(msg_id=msg.msg_id, event_id=str(stored.event_id))
        if not stored.created:
            return Handled(ack)  # a resend: already published the first time
        out.append(("console", _frame_payload(row, stored)))

        async def publish() -> None:
            await self.bus.publish_many(out)

        return Handled(ack, (publish, check))

    async def _destination_request(
        self, link: CrewLink, msg: DestinationRequestMsg, now: datetime
    ) -> Handled:
        """Accepted (the screens re-routed) or refused with the reason: destinations.py."""
        row = repo.CrewRow(vehicle_id=link.vehicle_id, msg_id=msg.msg_id, call_id=msg.call_id,
                           kind=msg.type, occurred_at=now,
                           body=msg.model_dump(mode="json", exclude_none=True))
        places = await self.rt.places.get()
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await crew_request(conn=conn, places=places, row=row,
                                        hospital_id=msg.hospital_id, reason=msg.reason, now=now)
        ack = AckFrame(msg_id=msg.msg_id, event_id=str(stored.event_id))
        if not stored.created:
            return Handled(ack)  # a resend: applied and published the first time

        async def publish() -> None:
            await self.outbox.flush()  # the re-routing, before more frames flow
            await self.bus.publish_many([("console", _frame_payload(row, stored))])

        return Handled(ack, (publish,))

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
                self._fold((row.occurred_at, result.event_id), row)
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

    def _fold(self, key: FrameKey, row: repo.CrewRow) -> None:
        """Add a frame this instance just committed to its call's cached findings."""
        fold = self._folds.get(row.call_id)
        # A row id at or below the fold's largest may already be in it (read back from the
        # database): left out, the frame count check at the next look rebuilds the fold.
        if fold is not None and key[1] > fold.max_id:
            fold.add(key, row.body)

    async def _findings(self, call_id: UUID, stored: tuple[int, int]) -> Findings | None:
        """merge_findings of the call's stored frames, from the cache when it holds them all
        (`stored`: RetriageInput.stored_frames of the call, read by the caller)."""
        fold = self._kept_fold(call_id, stored)
        if fold is None:
            async with self.pool.acquire() as conn:
                fold = self._keep_fold(
                    call_id, await repo.finding_frames(conn=conn, call_id=call_id))
        return fold.findings()

    def _kept_fold(self, call_id: UUID, stored: tuple[int, int]) -> FindingsFold | None:
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

    def _keep_fold(
        self, call_id: UUID, frames: Sequence[tuple[datetime, int, dict[str, Any]]]
    ) -> FindingsFold:
        """Fold the call's stored frames (repo.finding_frames) and cache the fold."""
        fold = FindingsFold()
        for at, row_id, body in frames:
            fold.add((at, row_id), body)
        self._folds.put(call_id, fold)
        return fold

    async def _read_retriage_inputs(
        self, call_ids: Sequence[UUID]
    ) -> list[repo.RetriageInput | None]:
        async with self._retriage_conn.use() as conn:
            return await repo.retriage_inputs(conn=conn, call_ids=call_ids)

    async def _publish_frames(
        self, rows: Sequence[repo.CrewRow], stored: Sequence[repo.CrewInsert]
    ) -> None:
        """After a batch commits: the new frames to their centres (and some to the console)."""
        out: Outgoing = []
        for row, result in zip(rows, stored, strict=True):
            if not result.created:
                continue  # a resend: published the first time
            payload = _frame_payload(row, result)
            if result.destination_id is not None:
                out.append((f"hospital:{result.destination_id}", payload))
            if row.kind in _CONSOLE_KINDS:
                out.append(("console", payload))
        if not out:
            return
        try:
            await self.bus.publish_many(out)
        except (RedisError, OSError) as exc:
            # Committed and acknowledged: the outbox publishes them once Redis is back.
            log.warning("crew frames to the outbox, Redis failed: %r", exc)
            async with self.pool.acquire() as conn, conn.transaction():
                await repo.add_outbox(conn=conn, items=out)

    async def _write_pings(self, pings: Sequence[repo.PositionSet]) -> list[_Ping]:
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
        return [_Ping(exists=p.vehicle_id not in missing,
                      row=rows[p.vehicle_id] if latest[p.vehicle_id] is p else None)
                for p in pings]

    async def _store_team_frame(
        self, conn: asyncpg.Connection, msg: CrewActivateTeamMsg, row: repo.CrewRow,
        now: datetime,
    ) -> tuple[repo.CrewInsert, Outgoing]:
        out: Outgoing = []
        stored = await repo.insert_crew_message(
            conn=conn, vehicle_id=row.vehicle_id, msg_id=row.msg_id, call_id=row.call_id,
            kind=row.kind, occurred_at=row.occurred_at, body=row.body)
        _refuse_reused(row.msg_id, stored)
        if stored.event_id is None:
            raise Forbidden("this crew is not assigned to the call", field="call_id")
        if stored.created and stored.destination_id is not None:
            call = await call_db.get_call(conn=conn, call_id=msg.call_id)
            assert call is not None
            _, out = await apply_event(
                conn=conn, call=call, hospital_id=stored.destination_id, now=now,
                event=ActivateTeam(team=msg.team,
                                   by=Actor(role=Role.CREW, id=row.vehicle_id)))
        return stored, out

    async def _status(
        self, link: CrewLink, principal: Principal, msg: StatusMsg, now: datetime
    ) -> Handled:
        # A resend may race its first delivery (a tablet on two links) or follow a crash
        # between report_status and storing the message: under the vehicle's lock, a
        # status whose clock is already on the timeline is stored and acked, never
        # reported again (that would stamp its clock twice).
        body = msg.model_dump(mode="json")
        async with self.pool.acquire() as lock_conn, repo.status_lock(
                conn=lock_conn, vehicle_id=link.vehicle_id):
            earlier = await repo.earlier_crew_message(
                conn=lock_conn, vehicle_id=link.vehicle_id, call_id=msg.call_id,
                msg_id=msg.msg_id, kind=msg.type, body=body)
            if earlier is not None:
                event_id, differs = earlier
                if differs:
                    raise _reused(msg.msg_id)
                return Handled(AckFrame(msg_id=msg.msg_id, event_id=str(event_id)))
            applied = await repo.status_applied(
                conn=lock_conn, call_id=msg.call_id, vehicle_id=link.vehicle_id,
                status=msg.status.value, at=msg.at)
            if not applied:
                vehicle = await fleet_db.get_vehicle(conn=lock_conn, vehicle_id=link.vehicle_id)
                if vehicle is None:
                    raise NotFound(f"vehicle {link.vehicle_id} does not exist",
                                   field="vehicle_id")
                if vehicle["call_id"] != msg.call_id:
                    raise Forbidden("this vehicle's mission is another call", field="call_id")
                # The same status tapped twice (a new msg_id) must not stamp its clock twice.
                if vehicle["status"] != msg.status.value:
                    # On the lock's connection: one per frame, whatever report_status does.
                    await report_status(
                        rt=self.rt, vehicle_id=link.vehicle_id, status=msg.status, at=msg.at,
                        principal=principal, now=now, call_id=msg.call_id, conn=lock_conn)
            stored = await repo.insert_crew_message(
                conn=lock_conn, vehicle_id=link.vehicle_id, msg_id=msg.msg_id,
                call_id=msg.call_id, kind=msg.type, occurred_at=msg.at,
                body=body, require_assignment=False)
        return Handled(AckFrame(msg_id=msg.msg_id, event_id=str(stored.event_id)))

    async def _position(
        self, link: CrewLink, principal: Principal, msg: PositionMsg, now: datetime
    ) -> Handled:
        # dispatch.flows.fleet.report_position, batched across connections.
        principal.require(Role.CREW, Role.DISPATCHER)
        principal.require_vehicle(link.vehicle_id)
        ping = await self._pings.submit(repo.PositionSet(
            vehicle_id=link.vehicle_id, call_id=msg.call_id, lon=msg.lon, lat=msg.lat,
            at=msg.at))
        if not ping.exists:
            raise NotFound(f"vehicle {link.vehicle_id} does not exist", field="vehicle_id")
        if ping.row is None:
            # An older ping arriving late: the newer position stands.
            return Handled(AckFrame(msg_id=msg.msg_id, event_id=_NO_EVENT))
        if ping.row.status == VehicleStatus.AVAILABLE.value:
            await self.rt.index.move(vehicle_id=link.vehicle_id,
                                               kind=VehicleKind(ping.row.kind),
                                               lon=msg.lon, lat=msg.lat)
        position: dict[str, Any] = {
            "vehicle_id": link.vehicle_id, "call_id": str(msg.call_id), "lon": msg.lon,
            "lat": msg.lat, "heading": msg.heading, "speed_mps": msg.speed_mps,
            "at": msg.at.isoformat()}
        if msg.call_id in link.etas:
            position["eta"] = link.etas[msg.call_id]
        self._positions[link.vehicle_id] = position
        event_id = _NO_EVENT
        last = link.eta_sent_at.get(msg.call_id)
        if last is None or now - last >= timedelta(seconds=self.config.eta_every_s):
            link.eta_sent_at[msg.call_id] = now
            event_id = await self._publish_eta(link, msg, ping.row.destination_id,
                                               now, position) or _NO_EVENT

        async def check() -> None:
            # A vitals change held back by the re-triage rate is looked at again here.
            await self._maybe_retriage(link, principal, msg.call_id, None, now)

        # Positions are kept as the vehicle's latest (vehicles.lon/lat), not as events.
        return Handled(AckFrame(msg_id=msg.msg_id, event_id=event_id), (check,))

    async def _publish_eta(
        self, link: CrewLink, msg: PositionMsg, destination_id: str | None, now: datetime,
        position: dict[str, Any],
    ) -> str | None:
        """The centre gets an `eta` event; consoles get it in the positions batch."""
        hospital = None
        if destination_id is not None:  # None: no destination yet, or not this vehicle's call
            places = await self.rt.places.get()
            hospital = places.hospitals.get(destination_id)
        if hospital is None:
            link.etas.pop(msg.call_id, None)
            position.pop("eta", None)
            return None
        eta_s = self.rt.eta.model.eta_s(
            from_lon=msg.lon, from_lat=msg.lat, to_lon=hospital.lon, to_lat=hospital.lat,
            area_type=places.area_type_at(msg.lon, msg.lat), at=now)
        payload = {"kind": "eta", "call_id": str(msg.call_id), "vehicle_id": link.vehicle_id,
                   "hospital_id": hospital.id, "eta_s": round(eta_s, 1),
                   "expected_at": (now + timedelta(seconds=eta_s)).isoformat(),
                   "lon": msg.lon, "lat": msg.lat, "at": msg.at.isoformat()}
        # Consoles see every vehicle's latest ETA with its position in the once-a-second
        # batch rather than as events of their own: at 1,000 crews those were 200 events a
        # second to every console, as many as all other console traffic times ten.
        eta = {"hospital_id": hospital.id, "eta_s": payload["eta_s"],
               "expected_at": payload["expected_at"]}
        link.etas[msg.call_id] = eta
        # (the batch holding `position` may have gone out meanwhile: then in the next one)
        self._positions.setdefault(link.vehicle_id, position)["eta"] = eta
        # The centre's event id goes back in the position's ack.
        return await self._publisher.submit((f"hospital:{hospital.id}", payload))

    async def _publish_batch(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Publish what several connections submitted in one pipeline."""
        return await self.bus.publish_many(list(items))

    async def _maybe_retriage(
        self, link: CrewLink, principal: Principal, call_id: UUID,
        frame: dict[str, Any] | None, now: datetime,
    ) -> None:
        policy = link.policies.get(call_id, RetriagePolicy())
        run, link.policies[call_id] = policy.decide(frame=frame, now=now)
        if not run:
            return
        # Batched with the other connections' checks: one statement, no pool checkout.
        call = await self._retriage_reads.submit(call_id)
        if call is None:
            return
        findings = await self._findings(call_id, call.stored_frames)
        if findings is None:
            return
        always = frame is not None and frame.get("type") in ALWAYS_RETRIAGE
        if not always:
            answers = Answers.model_validate(call.answers)
            # with the call's card, as the full re-triage will be: without it the check
            # would see a change on every frame (or miss one)
            result = retriage_on_card(answers, findings, complaint=call.complaint, now=now,
                                      stored=call.card, call_id=call_id)
            pathway = result.pathway.value if result.pathway else None
            if (int(result.acuity), pathway) == (call.acuity, call.pathway):
                return
        await retriage_call(rt=self.rt, call_id=call_id, answers=None, findings=findings,
                            complaint=None, principal=principal, now=now)
        # The destination may have changed: get the alert out before more data flows.
        await self.outbox.flush()

    async def position_reported(
        self, *, vehicle_id: str, call_id: UUID | None, destination_id: str | None,
        lon: float, lat: float, at: datetime, now: datetime,
    ) -> None:
        """A position recorded over REST (flows.fleet.report_position) joins the console's
        next `positions` message like a tablet's, with the ETA to its centre if it has one."""
        position: dict[str, Any] = {
            "vehicle_id": vehicle_id, "call_id": None if call_id is None else str(call_id),
            "lon": lon, "lat": lat, "heading": None, "speed_mps": None, "at": at.isoformat()}
        places = await self.rt.places.get()
        hospital = places.hospitals.get(destination_id) if destination_id else None
        if hospital is not None:
            eta_s = self.rt.eta.model.eta_s(
                from_lon=lon, from_lat=lat, to_lon=hospital.lon, to_lat=hospital.lat,
                area_type=places.area_type_at(lon, lat), at=now)
            position["eta"] = {"hospital_id": hospital.id, "eta_s": round(eta_s, 1),
                               "expected_at": (now + timedelta(seconds=eta_s)).isoformat()}
        self._positions[vehicle_id] = position

    async def _batch_positions(self) -> None:
        while True:
            await asyncio.sleep(self.config.positions_every_s)
            if not self._positions:
                continue
            batch, self._positions = list(self._positions.values()), {}
            try:
                await self.bus.publish("console", {"kind": "positions", "vehicles": batch})
            except (RedisError, OSError) as exc:
                log.warning("console positions not published: %s", exc)

    # ------------------------------------------------------------------ hospital

    @property
    def _retention(self) -> timedelta:
        """How long a centre keeps sight of a patient after handover or closing."""
        return timedelta(seconds=self.rt.settings.hospital_retention_s)

    async def hospital_message(
        self, *, principal: Principal, msg: HospitalMessage, now: datetime
    ) -> AckFrame:
        """Apply one frame of a centre's screen; return the ack once committed."""
        assert not isinstance(msg, ResumeMsg)
        hospital_id = principal.hospital_id
        assert hospital_id is not None
        if isinstance(msg, DiversionMsg):
            return await self._diversion(principal, hospital_id, msg)
        if isinstance(msg, CapacityMsg):
            reported = await report_capacity(
                pool=self.pool, outbox=self.outbox, places=self.rt.places,
                principal=principal, hospital_id=hospital_id, report=msg, msg_id=msg.msg_id)
            return AckFrame(msg_id=msg.msg_id, event_id=str(reported.event_id))
        actor = Actor(role=Role.HOSPITAL, id=hospital_id)
        event: Event
        if isinstance(msg, HospitalAckMsg):
            event = Acknowledge(by=actor)
        elif isinstance(msg, ActivateTeamMsg):
            event = ActivateTeam(team=msg.team, by=actor)
        elif isinstance(msg, HospitalArrivedMsg):
            event = Arrive(by=actor)
        else:
            assert isinstance(msg, HandoverCompleteMsg)
            event = CompleteHandover(by=actor)
        crews: list[str] = []
        out: Outgoing = []
        async with self.pool.acquire() as conn, conn.transaction():
            row_id, created = await repo.insert_hospital_message(
                conn=conn, hospital_id=hospital_id, msg_id=msg.msg_id, call_id=msg.call_id,
                kind=msg.type, body=msg.model_dump(mode="json"))
            if not created:
                return AckFrame(msg_id=msg.msg_id, event_id=str(row_id))
            call = await call_db.get_call(conn=conn, call_id=msg.call_id)
            state = await repo.load_state(conn=conn, call_id=msg.call_id,
                                          hospital_id=hospital_id)
            if call is None or not hospital_sees(
                    state=state, call_status=call["status"], status_at=call["updated_at"],
                    now=now, retention=self._retention):
                raise Forbidden("this patient is not inbound to your hospital", field="call_id")
            skip: frozenset[EventKind] = frozenset()
            if isinstance(event, Arrive):
                # The crew's at_hospital status stamps at_destination (once, in
                # report_status); the centre's word sets that status for the crew.
                crews = [a["vehicle_id"] for a in await fleet_db.live_assignments(
                    conn=conn, call_id=msg.call_id)
                         if a["status"] != VehicleStatus.AT_HOSPITAL.value]
                if crews:
                    skip = frozenset({EventKind.AT_DESTINATION})
            _, out = await apply_event(conn=conn, call=call, hospital_id=hospital_id,
                                       event=event, now=now, skip=skip)
        for vehicle_id in crews:
            try:
                await report_status(
                    rt=self.rt, vehicle_id=vehicle_id, status=VehicleStatus.AT_HOSPITAL,
                    at=now, now=now,
                    principal=Principal(subject=f"hospital:{hospital_id}", role=Role.DISPATCHER))
            except DispatchError as exc:
                log.warning("arrival declared by %s not applied to %s: %s", hospital_id,
                            vehicle_id, exc)
        await self.bus.publish_many(out)
        return AckFrame(msg_id=msg.msg_id, event_id=str(row_id))

    async def _diversion(
        self, principal: Principal, hospital_id: str, msg: DiversionMsg
    ) -> AckFrame:
        async with self.pool.acquire() as conn, conn.transaction():
            row_id, created = await repo.insert_hospital_message(
                conn=conn, hospital_id=hospital_id, msg_id=msg.msg_id, call_id=None,
                kind=msg.type, body=msg.model_dump(mode="json"))
            if created:
                diversion = await repo.set_diversion(
                    conn=conn, hospital_id=hospital_id, capability=msg.capability.value,
                    diverting=msg.on, until=msg.until, declared_by=principal.subject)
        if created:
            # Every instance's destination choice reads the new diversion from now on.
            await self.rt.places.invalidate()
            payload = {"kind": "diversion", "hospital_id": hospital_id,
                       "capability": msg.capability.value, "on": msg.on,
                       "until": None if msg.until is None else msg.until.isoformat(),
                       "diversion": diversion}
            await self.bus.publish_many([("console", payload),
                                         (f"hospital:{hospital_id}", payload)])
        return AckFrame(msg_id=msg.msg_id, event_id=str(row_id))

    async def audit_read(self, *, principal: Principal, call_id: UUID, via: str) -> None:
        """Record that a centre's screen received a patient's data."""
        async with self.pool.acquire() as conn:
            await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                        action="read_patient", call_id=call_id,
                        hospital_id=principal.hospital_id, detail={"via": via})

    # ------------------------------------------------------------------ snapshots

    async def snapshot(self, *, principal: Principal, now: datetime) -> list[dict[str, Any]]:
        """The current state a channel's client starts from (audit-logged for centres)."""
        if principal.role is Role.HOSPITAL:
            return await self._hospital_snapshot(principal, now)
        if principal.role is Role.CREW:
            assert principal.vehicle_id is not None
            async with self.pool.acquire() as conn:
                vehicle = await fleet_db.get_vehicle(conn=conn, vehicle_id=principal.vehicle_id)
            if vehicle is None or vehicle["call_id"] is None:
                return []
            view = await call_view(rt=self.rt, call_id=vehicle["call_id"],
                                   principal=principal, now=now, with_timeline=False,
                                   via="crew_snapshot")
            return [{"mission": view, "vehicle_status": vehicle["status"]}]
        calls = await call_list(rt=self.rt, statuses=LIVE_STATUSES, principal=principal,
                                limit=1_000, via="console_snapshot")
        async with self.pool.acquire() as conn:
            fleet = await fleet_db.list_vehicles(conn=conn)
        return [{"queue": calls,
                 "fleet": [{"vehicle_id": v["id"], "kind": v["kind"], "status": v["status"],
                            "call_id": v["call_id"], "lon": v["lon"], "lat": v["lat"]}
                           for v in fleet]}]

    async def _hospital_snapshot(self, principal: Principal, now: datetime) -> list[dict[str, Any]]:
        hospital_id = principal.hospital_id
        assert hospital_id is not None
        patients = []
        async with self.pool.acquire() as conn:
            for call_id in await repo.inbound_call_ids(conn=conn, hospital_id=hospital_id,
                                                       closed_after=now - self._retention):
                call = await call_db.get_call(conn=conn, call_id=call_id)
                if call is None:
                    continue
                state = await repo.load_state(conn=conn, call_id=call_id,
                                              hospital_id=hospital_id)
                findings = await repo.findings_of(conn=conn, call_id=call_id)
                patients.append(patient_view(call=call, findings=findings, state=state, now=now))
                await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                            action="read_patient", call_id=call_id, hospital_id=hospital_id,
                            detail={"via": "snapshot"})
        return patients

    # ------------------------------------------------------------------ record

    async def handover_record(
        self, *, call_id: UUID, principal: Principal, fmt: str, now: datetime
    ) -> dict[str, Any] | str:
        """The ATMIST record (JSON with its text, the text alone, or a FHIR Bundle)."""
        async with self.pool.acquire() as conn:
            call = await call_db.get_call(conn=conn, call_id=call_id)
            if call is None:
                raise NotFound(f"call {call_id} does not exist", field="call_id")
            await self._require_record_access(conn, principal, call, now)
            findings = await repo.findings_of(conn=conn, call_id=call_id)
            states = await repo.states_of_call(conn=conn, call_id=call_id)
            events = [e for e in await timeline(conn=conn, call_id=call_id)
                      if e["kind"] in HANDOVER_KINDS]
            await audit(conn=conn, actor=principal.subject, role=principal.role.value,
                        action="read_handover", call_id=call_id,
                        hospital_id=principal.hospital_id, vehicle_id=principal.vehicle_id,
                        detail={"format": fmt})
        record = dict(call)
        atmist = build_atmist(call=record, findings=findings, now=now)
        if fmt == "text":
            return atmist.to_text(time_zone=self.config.time_zone)
        if fmt == "fhir":
            return build_bundle(
                call=record, atmist=atmist,
                vitals=[f for f in findings if f.get("type") == "vitals"],
                conditions=conditions_of(findings),
                treatments=[f for f in findings if f.get("type") == "treatment"],
                hospital_id=call["destination_id"] or principal.hospital_id or "unknown",
                ecgs=[f for f in findings if f.get("type") == "ecg"],
                strokes=[f for f in findings if f.get("type") == "stroke"],
                injuries=next((f for f in reversed(findings) if f.get("type") == "injuries"),
                              None),
                time_zone=self.config.time_zone)
        if principal.role is Role.HOSPITAL:
            states = [s for s in states if s.hospital_id == principal.hospital_id]
        return {
            "call_id": str(call_id),
            "destination_id": call["destination_id"],
            "acuity": call["acuity"],
            "pathway": call["pathway"],
            "atmist": atmist.to_dict(),
            "text": atmist.to_text(time_zone=self.config.time_zone),
            "handover": [s.to_dict() for s in states],
            "timeline": [{"id": e["id"], "kind": e["kind"], "occurred_at": e["occurred_at"],
                          "data": e["data"]} for e in events],
        }

    async def _require_record_access(
        self, conn: asyncpg.Connection, principal: Principal, call: asyncpg.Record,
        now: datetime,
    ) -> None:
        if principal.role is Role.HOSPITAL:
            assert principal.hospital_id is not None
            if not await hospital_may_see(conn=conn, call=call, hospital_id=principal.hospital_id,
                                          now=now, retention=self._retention):
                raise Forbidden("this patient is not inbound to your hospital")
        elif principal.role is Role.CREW:
            assert principal.vehicle_id is not None
            if not await repo.was_assigned(conn=conn, call_id=call["id"],
                                           vehicle_id=principal.vehicle_id):
                raise Forbidden("this crew was not assigned to the call")
        else:
            principal.require(Role.DISPATCHER)
