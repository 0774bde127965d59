"""How long a receiving centre may see a patient (sans-I/O).

A centre sees a patient from the pre-arrival alert on. That sight ends at once when the
call is cancelled (the patient is not coming), and a retention window after the handover
or after the call closed (the crews cleared): long enough for the ED to finish its notes
from the record, short enough that a board never accumulates a day's patients and a
centre's reads of old patients are refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dispatch.domain import CallStatus
from dispatch.handover.state import HandoverState

__all__ = ["access_open", "hospital_sees"]


def access_open(
    *,
    call_status: str,
    status_at: datetime,
    handed_over_at: datetime | None,
    now: datetime,
    retention: timedelta,
) -> bool:
    """Whether the call's state still lets its centre see it (`status_at`: when the call
    last changed, its closing time once closed)."""
    if call_status == CallStatus.CANCELLED.value:
        return False
    ends = []
    if handed_over_at is not None:
        ends.append(handed_over_at + retention)
    if call_status == CallStatus.CLOSED.value:
        ends.append(status_at + retention)
    return all(now < end for end in ends)


def hospital_sees(
    *, state: HandoverState, call_status: str, status_at: datetime, now: datetime,
    retention: timedelta,
) -> bool:
    """Whether the centre of `state` may see the patient now."""
    return state.sees_patient and access_open(
        call_status=call_status, status_at=status_at, handed_over_at=state.handed_over_at,
        now=now, retention=retention)
