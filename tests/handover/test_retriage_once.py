"""A crew's findings that change the call's triage are triaged once, not again when the
re-triage is recorded (flows.retriage.Checked); a call changed in between is triaged anew.

Against the real PostgreSQL and Redis: a second instance opened in this process, whose
crew flow is called as its websocket endpoint calls it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from dispatch.app import State, open_services
from dispatch.auth import Principal
from dispatch.domain import Role
from dispatch.flows import crew_link, retriage
from dispatch.flows.crew import crew_message
from dispatch.flows.crew_link import CrewLink
from dispatch.handover.messages import VitalsMsg
from dispatch.triage import Answers, retriage_on_card
from tests.conftest import Service, running_service
from tests.handover.wsclient import CHEST_PAIN
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

# Bradycardic shock, hypoxic and unconscious: level I whatever the complaint.
SHOCK = {"hr": 30, "sbp": 50, "spo2": 70, "gcs": 3}


@asynccontextmanager
async def _call() -> AsyncIterator[tuple[Service, State, UUID, str]]:
    async with running_service() as svc:
        await svc.load(city(n_vehicles=2, seed=3))
        r = await svc.client.post("/v1/calls", headers=svc.auth(Role.DISPATCHER),
                                  json=call_body(CENTRE[0], CENTRE[1], answers=CHEST_PAIN))
        assert r.status_code == 201, r.text
        async with open_services(svc.settings) as state:
            yield svc, state, UUID(r.json()["id"]), r.json()["assignments"][0]["vehicle_id"]


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the triage runs of the crew's check and of the re-triage it records."""
    runs: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return retriage_on_card(*args, **kwargs)

    monkeypatch.setattr(crew_link, "retriage_on_card", counting)
    monkeypatch.setattr(retriage, "retriage_on_card", counting)
    return runs


async def _vitals(state: State, call_id: UUID, vehicle: str, msg_id: str) -> None:
    """A vitals frame through the crew flow, ack then follow-up, as the endpoint runs it."""
    now = datetime.now(UTC)
    handled = await crew_message(
        rt=state["runtime"], crew=state["crew"], link=CrewLink(vehicle_id=vehicle),
        principal=Principal(subject=f"crew-{vehicle}", role=Role.CREW, vehicle_id=vehicle),
        msg=VitalsMsg(type="vitals", msg_id=msg_id, call_id=call_id, at=now, **SHOCK),
        now=now)
    await handled.follow_up()


async def _acuity(svc: Service, call_id: UUID) -> tuple[int, int]:
    """The call's acuity and how many times it was re-triaged."""
    r = await svc.client.get(f"/v1/calls/{call_id}", headers=svc.auth(Role.DISPATCHER))
    assert r.status_code == 200, r.text
    retriaged = [e for e in r.json()["timeline"] if e["kind"] == "retriaged"]
    return r.json()["acuity"], len(retriaged)


async def test_findings_that_change_the_triage_are_triaged_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with _call() as (svc, state, call_id, vehicle):
        before, _ = await _acuity(svc, call_id)
        runs = _counted(monkeypatch)
        await _vitals(state, call_id, vehicle, "shock-1")
        acuity, retriaged = await _acuity(svc, call_id)
        assert (acuity, retriaged) == (1, 1) and before != 1
        assert len(runs) == 1


async def test_a_call_changed_since_the_check_is_triaged_anew() -> None:
    async with _call() as (svc, state, call_id, vehicle):
        result = retriage_on_card(
            Answers.model_validate(CHEST_PAIN), None, complaint="x",
            now=datetime.now(UTC), stored={}, call_id=call_id)
        checked = retriage.Checked(result=result, answers=CHEST_PAIN, complaint="x",
                                   card={"card": None, "card_answers": None})
        async with state["runtime"].pool.acquire() as conn:
            call = await conn.fetchrow("SELECT * FROM calls WHERE id = $1", call_id)
        assert not checked.holds_for(call)  # another complaint: not the inputs it ran on
        same = retriage.Checked(result=result, answers=call["answers"],
                                complaint=call["complaint"],
                                card={"card": call["triage"].get("card"),
                                      "card_answers": call["triage"].get("card_answers")})
        assert same.holds_for(call)
