"""A simulated call as the JSON body of POST /v1/calls. Pure: times are passed in."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from dispatch.domain import TransportClass
from loadtests.fixes import SimFix
from loadtests.presentations import Presentation


def new_run_id() -> str:
    """Eight random digits naming one run of the harness. Every Idempotency-Key and caller
    number a run makes carries it, so a run against a live service never replays an earlier
    run's keys nor mistakes an earlier run's calls for its own."""
    return f"{secrets.randbelow(10**8):08d}"


@dataclass(frozen=True, slots=True)
class SimCall:
    """Everything the harness decided about one call before it is made."""

    run_id: str  # new_run_id(): digits only, it is part of the caller number
    index: int
    at_s: float  # simulated seconds from local midnight when the phone rings
    answer_delay_s: float
    presentation: Presentation
    district_id: str
    lon: float  # the caller's true WGS-84 position
    lat: float
    fixes: tuple[SimFix, ...]

    @property
    def caller_number(self) -> str:
        """A valid number unique per run and call (so a read-back can tell calls apart and
        tell this run's calls from any other's)."""
        return f"139{self.run_id}{self.index:07d}"

    @property
    def key(self) -> str:
        """The Idempotency-Key a console would send for this call, unique per run."""
        return f"lt-{self.run_id}-{self.index:07d}"


def call_body(*, call: SimCall, received_at: datetime, answered_at: datetime,
              fixes: Sequence[SimFix]) -> dict[str, Any]:
    """POST /v1/calls with the fixes known at answer time."""
    body: dict[str, Any] = {
        "caller_number": call.caller_number,
        "complaint": call.presentation.complaint,
        "answers": call.presentation.card(now=answered_at),
        "received_at": received_at.isoformat(),
        "answered_at": answered_at.isoformat(),
        "fixes": [f.body(observed_at_iso=answered_at.isoformat()) for f in fixes],
    }
    if call.presentation.transport_class is TransportClass.NON_EMERGENCY:
        # A booking taken now for a pick-up within the next half hour: the service only
        # dispatches bookings whose window opens within 30 minutes.
        body["booking"] = {"window_start": (answered_at + timedelta(minutes=10)).isoformat(),
                           "window_end": (answered_at + timedelta(minutes=70)).isoformat()}
    return body


# A moment no real call has: its ISO strings in a rendered body mark where the times go.
_MARK = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
_TIME = re.compile(rb'(?<=")(2001-02-0[0-9]T[0-9:.]+\+00:00)(?=")')


@dataclass(frozen=True, slots=True)
class BodyTemplate:
    """POST /v1/calls rendered once, before a run, with its times left open.

    At 20 calls/s every send runs on a cold cache, where building the body's dicts and
    encoding them costs ~0.1 ms; filling a few times into bytes costs a fraction of that.
    `render(answered_at)` is `call_body` at that moment, byte for byte but for the times'
    spelling (a whole second has no fraction in `isoformat`).
    """

    parts: tuple[bytes, ...]  # the bytes around the times
    offsets: tuple[timedelta, ...]  # the distinct times, as offsets from the answer
    slots: tuple[int, ...]  # which of them goes between parts[i] and parts[i + 1]

    @classmethod
    def of(cls, *, call: SimCall, fixes: Sequence[SimFix]) -> BodyTemplate:
        raw = orjson.dumps(call_body(call=call, fixes=fixes, answered_at=_MARK,
                                     received_at=_MARK - timedelta(seconds=call.answer_delay_s)))
        pieces = _TIME.split(raw)  # text, time, text, time, ..., text
        times = [datetime.fromisoformat(t.decode()) - _MARK for t in pieces[1::2]]
        offsets = tuple(dict.fromkeys(times))
        return cls(parts=tuple(pieces[0::2]), offsets=offsets,
                   slots=tuple(offsets.index(t) for t in times))

    def render(self, answered_at: datetime) -> bytes:
        """The body of the call answered at `answered_at` (an aware UTC datetime)."""
        times = [(answered_at + offset).isoformat().encode() for offset in self.offsets]
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(times[slot])
            out.append(part)
        return b"".join(out)
