"""PostgreSQL access of the handover: crew and hospital messages, states."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.handover.state import HandoverState, Phase

__all__ = [
    "CrewInsert",
    "CrewRow",
    "PositionRow",
    "PositionSet",
    "RetriageInput",
    "FINDING_KINDS",
    "earlier_crew_message",
    "existing_vehicles",
    "finding_frames",
    "findings_of",
    "has_event",
    "inbound_call_ids",
    "insert_crew_message",
    "insert_crew_messages",
    "insert_hospital_message",
    "load_state",
    "retriage_inputs",
    "save_state",
    "set_diversion",
    "set_positions",
    "states_of_call",
    "status_applied",
    "status_lock",
    "was_assigned",
]

FINDING_KINDS = ("vitals", "ecg", "stroke", "injuries", "treatment")
SEEING = [Phase.ALERTED.value, Phase.ACKNOWLEDGED.value, Phase.ARRIVED.value]


@dataclass(frozen=True, slots=True)
class CrewInsert:
    """What storing one crew frame found."""

    event_id: int | None  # the stored row (new or earlier), None when refused
    created: bool
    allowed: bool  # the vehicle holds a live assignment on the call
    destination_id: str | None
    # An earlier frame of the call holds this msg_id with other content: not a resend.
    conflict: bool = False


async def insert_crew_message(
    *,
    conn: asyncpg.Connection,
    vehicle_id: str,
    msg_id: str,
    call_id: UUID,
    kind: str,
    occurred_at: datetime,
    body: dict[str, Any],
    require_assignment: bool = True,
) -> CrewInsert:
    """Store a crew frame once per (vehicle, call, msg_id), only for the vehicle's own
    mission; an earlier frame under that key answers (`conflict` if its content differs)."""
    # One round trip: the rights check, the idempotent insert and the destination.
    row = await conn.fetchrow(
        """WITH allowed AS (
               SELECT 1 FROM assignments
                WHERE call_id = $3 AND vehicle_id = $1 AND released_at IS NULL),
           ins AS (
               INSERT INTO crew_messages (vehicle_id, msg_id, call_id, kind, occurred_at, body)
               SELECT $1, $2, $3, $4, $5, $6
                WHERE NOT $7 OR EXISTS (SELECT 1 FROM allowed)
               ON CONFLICT (vehicle_id, call_id, msg_id) DO NOTHING
               RETURNING id)
           SELECT (SELECT id FROM ins) AS new_id, old.id AS old_id, old.differs,
                  EXISTS (SELECT 1 FROM allowed) AS allowed,
                  (SELECT destination_id FROM calls WHERE id = $3) AS destination_id
             FROM (SELECT 1) one
             LEFT JOIN (SELECT m.id, (m.kind <> $4 OR m.body <> $6::jsonb) AS differs
                          FROM crew_messages m
                         WHERE m.vehicle_id = $1 AND m.call_id = $3 AND m.msg_id = $2) old
               ON true""",
        vehicle_id, msg_id, call_id, kind, occurred_at, body, require_assignment,
    )
    assert row is not None
    created = row["new_id"] is not None
    return CrewInsert(
        event_id=row["new_id"] if created else row["old_id"],
        created=created,
        allowed=row["allowed"],
        destination_id=row["destination_id"],
        conflict=not created and bool(row["differs"]),
    )


@dataclass(frozen=True, slots=True)
class CrewRow:
    """One crew frame to store (the batched form of insert_crew_message's arguments)."""

    vehicle_id: str
    msg_id: str
    call_id: UUID
    kind: str
    occurred_at: datetime
    body: dict[str, Any]
    require_assignment: bool = True


async def insert_crew_messages(
    *, conn: asyncpg.Connection, rows: Sequence[CrewRow]
) -> list[CrewInsert]:
    """Store many crew frames in one statement, each as insert_crew_message would.

    (vehicle, call, msg_id) must be unique within `rows` (the caller folds duplicates).
    """
    if not rows:
        return []
    found = await conn.fetch(
        """WITH input AS (
               SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::uuid[], $5::text[],
                                    $6::timestamptz[], $7::jsonb[], $8::bool[])
                   AS t(ord, vehicle_id, msg_id, call_id, kind, occurred_at, body, required)),
           checked AS (
               -- The vehicle's one live assignment (a unique partial index), looked up per
               -- frame: an EXISTS here was planned as a hash of every live assignment.
               SELECT i.*, coalesce((SELECT a.call_id FROM assignments a
                                      WHERE a.vehicle_id = i.vehicle_id
                                        AND a.released_at IS NULL) = i.call_id, false)
                           AS allowed
                 FROM input i),
           ins AS (
               INSERT INTO crew_messages (vehicle_id, msg_id, call_id, kind, occurred_at, body)
               SELECT vehicle_id, msg_id, call_id, kind, occurred_at, body FROM checked
                WHERE NOT required OR allowed
                ORDER BY ord
               ON CONFLICT (vehicle_id, call_id, msg_id) DO NOTHING
               RETURNING id, vehicle_id, call_id, msg_id)
           SELECT c.ord, ins.id AS new_id, old.id AS old_id, old.differs,
                  c.allowed, c.required,
                  (SELECT destination_id FROM calls WHERE id = c.call_id) AS destination_id
             FROM checked c
             LEFT JOIN ins ON ins.vehicle_id = c.vehicle_id AND ins.call_id = c.call_id
                          AND ins.msg_id = c.msg_id
             -- not inserted: a resend (the first delivery's row) or a reused msg_id
             LEFT JOIN LATERAL (
                 SELECT m.id, (m.kind <> c.kind OR m.body <> c.body) AS differs
                   FROM crew_messages m
                  WHERE ins.id IS NULL AND m.vehicle_id = c.vehicle_id
                    AND m.call_id = c.call_id AND m.msg_id = c.msg_id) old ON true
            ORDER BY c.ord""",
        list(range(len(rows))), [r.vehicle_id for r in rows], [r.msg_id for r in rows],
        [r.call_id for r in rows], [r.kind for r in rows], [r.occurred_at for r in rows],
        [r.body for r in rows], [r.require_assignment for r in rows],
    )
    out: list[CrewInsert] = []
    for row, given in zip(found, rows, strict=True):
        created = row["new_id"] is not None
        event_id = row["new_id"] if created else row["old_id"]
        differs = bool(row["differs"])
        if event_id is None and (row["allowed"] or not row["required"]):
            # Another instance inserted the same frame while this statement ran: its row
            # is not in this statement's snapshot, but it is committed now.
            earlier = await earlier_crew_message(
                conn=conn, vehicle_id=given.vehicle_id, call_id=given.call_id,
                msg_id=given.msg_id, kind=given.kind, body=given.body)
            if earlier is not None:
                event_id, differs = earlier
        out.append(CrewInsert(event_id=event_id, created=created, allowed=row["allowed"],
                              destination_id=row["destination_id"],
                              conflict=not created and differs))
    return out


@dataclass(frozen=True, slots=True)
class PositionSet:
    """One position ping to record (the batched form of dispatch.db.fleet.set_position)."""

    vehicle_id: str
    call_id: UUID
    lon: float
    lat: float
    at: datetime


@dataclass(frozen=True, slots=True)
class PositionRow:
    """A recorded ping: the vehicle's kind and status, and where its patient is going."""

    kind: str
    status: str
    destination_id: str | None  # of `call_id`, while the vehicle is assigned to it


async def set_positions(
    *, conn: asyncpg.Connection, pings: Sequence[PositionSet]
) -> list[PositionRow | None]:
    """Record many pings in one statement; None where a newer position already stands.

    The same rule as dispatch.db.fleet.set_position: an older report arriving after a newer
    one is ignored. Vehicle ids must be unique within `pings` (the caller keeps the latest).
    """
    if not pings:
        return []
    rows = await conn.fetch(
        """WITH input AS (
               SELECT * FROM unnest($1::text[], $2::uuid[], $3::float8[], $4::float8[],
                                    $5::timestamptz[]) AS t(id, call_id, lon, lat, at))
           UPDATE vehicles v SET lon = i.lon, lat = i.lat, position_at = i.at
             FROM input i
            WHERE v.id = ANY($1::text[])  -- by primary key, whatever the plan's row estimate
              AND v.id = i.id AND (v.position_at IS NULL OR v.position_at <= i.at)
           RETURNING v.id, v.kind, v.status,
                     (SELECT c.destination_id FROM calls c JOIN assignments a ON a.call_id = c.id
                       WHERE c.id = i.call_id AND a.vehicle_id = v.id
                         AND a.released_at IS NULL) AS destination_id""",
        [p.vehicle_id for p in pings], [p.call_id for p in pings], [p.lon for p in pings],
        [p.lat for p in pings], [p.at for p in pings],
    )
    by_id = {r["id"]: PositionRow(kind=r["kind"], status=r["status"],
                                  destination_id=r["destination_id"]) for r in rows}
    return [by_id.get(p.vehicle_id) for p in pings]


async def existing_vehicles(*, conn: asyncpg.Connection, ids: Sequence[str]) -> set[str]:
    """Which of these vehicle ids exist."""
    rows = await conn.fetch("SELECT id FROM vehicles WHERE id = ANY($1::text[])", list(ids))
    return {r["id"] for r in rows}


async def earlier_crew_message(
    *, conn: asyncpg.Connection, vehicle_id: str, call_id: UUID, msg_id: str, kind: str,
    body: dict[str, Any],
) -> tuple[int, bool] | None:
    """The stored row of an earlier frame of the call with this msg_id, if any, and whether
    its content (type and body) differs from `kind` and `body`: then it is not a resend."""
    row = await conn.fetchrow(
        """SELECT id, (kind <> $4 OR body <> $5::jsonb) AS differs FROM crew_messages
            WHERE vehicle_id = $1 AND call_id = $2 AND msg_id = $3""",
        vehicle_id, call_id, msg_id, kind, body)
    return None if row is None else (row["id"], row["differs"])


async def status_applied(
    *, conn: asyncpg.Connection, call_id: UUID, vehicle_id: str, status: str, at: datetime
) -> bool:
    """Whether a crew status stamped at `at` is already on the call's timeline.

    report_status writes its clock (or the clearing) with the crew's own `at` and the
    status in `data`: a resend carries the same `at`, so this finds the first delivery
    even when the crash came before its crew message was stored.
    """
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM events
                           WHERE call_id = $1 AND vehicle_id = $2 AND occurred_at = $4
                             AND data->>'status' = $3)""",
        call_id, vehicle_id, status, at))


@asynccontextmanager
async def status_lock(*, conn: asyncpg.Connection, vehicle_id: str) -> AsyncIterator[None]:
    """Hold one vehicle's status lock (every instance): its statuses apply one at a time."""
    await conn.execute("SELECT pg_advisory_lock(hashtext('handover_status'), hashtext($1))",
                       vehicle_id)
    try:
        yield
    finally:
        await conn.execute(
            "SELECT pg_advisory_unlock(hashtext('handover_status'), hashtext($1))", vehicle_id)


async def findings_of(*, conn: asyncpg.Connection, call_id: UUID) -> list[dict[str, Any]]:
    """The crew's clinical frames of a call, in the order they were measured."""
    return [body for _, _, body in await finding_frames(conn=conn, call_id=call_id)]


async def finding_frames(
    *, conn: asyncpg.Connection, call_id: UUID
) -> list[tuple[datetime, int, dict[str, Any]]]:
    """findings_of with each frame's (occurred_at, id), the key it is ordered by."""
    rows = await conn.fetch(
        """SELECT occurred_at, id, body FROM crew_messages
            WHERE call_id = $1 AND kind = ANY($2::text[])
            ORDER BY occurred_at, id""",
        call_id, list(FINDING_KINDS),
    )
    return [(r["occurred_at"], r["id"], dict(r["body"])) for r in rows]


@dataclass(frozen=True, slots=True)
class RetriageInput:
    """What a re-triage of a call reads: the call-taker's answers, the call's triage, and
    which clinical frames are stored for it."""

    answers: dict[str, Any]
    complaint: str
    acuity: int
    pathway: str | None
    stored_frames: tuple[int, int]  # how many, and the largest row id (0: none)
    # the chief-complaint card the call was taken on, from its stored triage
    card: dict[str, Any] = field(default_factory=dict)


async def retriage_inputs(
    *, conn: asyncpg.Connection, call_ids: Sequence[UUID]
) -> list[RetriageInput | None]:
    """RetriageInput of many calls in one statement (None for a call that does not exist).

    The frame count is an index scan of (call_id, kind, ...) that reads no frame bodies."""
    rows = await conn.fetch(
        """SELECT i.ord, c.answers, c.complaint, c.acuity, c.pathway, f.n, f.max_id,
                  c.triage -> 'card' AS card, c.triage -> 'card_answers' AS card_answers
             FROM unnest($1::uuid[]) WITH ORDINALITY AS i(id, ord)
             JOIN calls c ON c.id = i.id
             CROSS JOIN LATERAL (
                 SELECT count(*) AS n, coalesce(max(m.id), 0) AS max_id FROM crew_messages m
                  WHERE m.call_id = c.id AND m.kind = ANY($2::text[])) f
            WHERE c.id = ANY($1::uuid[])  -- by primary key, whatever the plan's row estimate""",
        list(call_ids), list(FINDING_KINDS),
    )
    found = {r["ord"]: RetriageInput(answers=r["answers"], complaint=r["complaint"],
                                     acuity=r["acuity"], pathway=r["pathway"],
                                     stored_frames=(int(r["n"]), int(r["max_id"])),
                                     card={"card": r["card"],
                                           "card_answers": r["card_answers"]})
             for r in rows}
    return [found.get(i) for i in range(1, len(call_ids) + 1)]


async def was_assigned(*, conn: asyncpg.Connection, call_id: UUID, vehicle_id: str) -> bool:
    """Whether the vehicle was ever assigned to the call (its crew may read the record)."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM assignments WHERE call_id = $1 AND vehicle_id = $2)",
        call_id, vehicle_id))


async def insert_hospital_message(
    *,
    conn: asyncpg.Connection,
    hospital_id: str,
    msg_id: str,
    call_id: UUID | None,
    kind: str,
    body: dict[str, Any],
) -> tuple[int, bool]:
    """Store a screen's frame once per (hospital, msg_id); return (row id, created)."""
    row = await conn.fetchrow(
        """WITH ins AS (
               INSERT INTO hospital_messages (hospital_id, msg_id, call_id, kind, body)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (hospital_id, msg_id) DO NOTHING RETURNING id)
           SELECT (SELECT id FROM ins) AS new_id,
                  (SELECT id FROM hospital_messages
                    WHERE hospital_id = $1 AND msg_id = $2) AS old_id""",
        hospital_id, msg_id, call_id, kind, body,
    )
    assert row is not None
    if row["new_id"] is not None:
        return row["new_id"], True
    return row["old_id"], False


async def load_state(
    *, conn: asyncpg.Connection, call_id: UUID, hospital_id: str, for_update: bool = False
) -> HandoverState:
    """The handover state of (call, centre); a fresh one when there is none yet."""
    lock = " FOR UPDATE" if for_update else ""
    data = await conn.fetchval(
        f"SELECT state FROM handovers WHERE call_id = $1 AND hospital_id = $2{lock}",
        call_id, hospital_id)
    if data is None:
        return HandoverState(call_id=call_id, hospital_id=hospital_id)
    return HandoverState.from_dict(data)


async def save_state(*, conn: asyncpg.Connection, state: HandoverState) -> None:
    """Persist a handover state and its team activations."""
    await conn.execute(
        """INSERT INTO handovers (call_id, hospital_id, phase, state) VALUES ($1, $2, $3, $4)
           ON CONFLICT (call_id, hospital_id) DO UPDATE
              SET phase = EXCLUDED.phase, state = EXCLUDED.state, updated_at = clock_timestamp()""",
        state.call_id, state.hospital_id, state.phase.value, state.to_dict(),
    )
    if state.teams:
        await conn.executemany(
            """INSERT INTO team_activations
                   (call_id, hospital_id, team, activated_at, requested_by, acknowledged_at)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (call_id, hospital_id, team) DO UPDATE
                  SET acknowledged_at = EXCLUDED.acknowledged_at""",
            [(state.call_id, state.hospital_id, t.team.value, t.activated_at, t.by.to_dict(),
              t.acknowledged_at) for t in state.teams],
        )


async def states_of_call(*, conn: asyncpg.Connection, call_id: UUID) -> list[HandoverState]:
    """Every centre's handover state of one call."""
    rows = await conn.fetch("SELECT state FROM handovers WHERE call_id = $1 ORDER BY hospital_id",
                            call_id)
    return [HandoverState.from_dict(r["state"]) for r in rows]


async def inbound_call_ids(
    *, conn: asyncpg.Connection, hospital_id: str, closed_after: datetime
) -> list[UUID]:
    """A centre's board: patients alerted, acknowledged or arrived there whose call is
    live, or closed after `closed_after` (the retention window); never a cancelled one."""
    rows = await conn.fetch(
        """SELECT h.call_id FROM handovers h JOIN calls c ON c.id = h.call_id
            WHERE h.hospital_id = $1 AND h.phase = ANY($2::text[])
              AND c.status <> 'cancelled' AND (c.status <> 'closed' OR c.updated_at > $3)
            ORDER BY h.updated_at""",
        hospital_id, SEEING, closed_after)
    return [r["call_id"] for r in rows]


async def carrying_position(
    *, conn: asyncpg.Connection, call_id: UUID
) -> asyncpg.Record | None:
    """The last known position (id, lon, lat, position_at) of a vehicle on the call, the
    one that reported last; None if no vehicle on it has reported one."""
    return await conn.fetchrow(
        """SELECT id, lon, lat, position_at FROM vehicles
            WHERE call_id = $1 AND position_at IS NOT NULL AND lon IS NOT NULL
            ORDER BY position_at DESC LIMIT 1""", call_id)


async def has_event(*, conn: asyncpg.Connection, call_id: UUID, kind: str) -> bool:
    """Whether the call's timeline already holds an event of this kind."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM events WHERE call_id = $1 AND kind = $2)", call_id, kind))


async def set_diversion(
    *,
    conn: asyncpg.Connection,
    hospital_id: str,
    capability: str,
    diverting: bool,
    until: datetime | None,
    declared_by: str,
) -> list[str]:
    """Start or stop diverting a capability; return the centre's diverted capabilities."""
    rows = await conn.fetchval(
        """UPDATE hospitals
              SET diversion = CASE WHEN $3 THEN array_append(array_remove(diversion, $2), $2)
                                   ELSE array_remove(diversion, $2) END
            WHERE id = $1 RETURNING diversion""",
        hospital_id, capability, diverting)
    await conn.execute(
        """INSERT INTO hospital_diversions (hospital_id, capability, diverting, until, declared_by)
           VALUES ($1, $2, $3, $4, $5)""",
        hospital_id, capability, diverting, until, declared_by)
    return list(rows or [])
