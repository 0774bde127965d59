"""Milestones (patient contact, handover): stamped on the crew's mission, never ahead of
the request's clock by more than the allowed skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.domain import Role
from tests.conftest import Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
NEAR = (CENTRE[0] + 0.01, CENTRE[1])


async def _milestone(service: Service, at: datetime) -> int:
    r = await service.client.post(
        "/v1/vehicles/A1/milestones", json={"kind": "patient_contact", "at": at.isoformat()},
        headers=service.auth(Role.CREW, vehicle_id="A1"))
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["detail"][0]["field"] == "at"
    return r.status_code


async def test_milestone_skew_is_judged_by_the_request_clock() -> None:
    # The requests' clock is an hour behind the wall clock (a replayed call chain).
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    async with running_service(clock=lambda: now) as service:
        await service.load(city(vehicles=[("A1", "als", *NEAR)]))
        r = await service.client.post("/v1/calls", headers=service.auth(),
                                      json=call_body(*CENTRE, answers=CHEST_PAIN, now=now))
        assert r.status_code == 201 and r.json()["status"] == "assigned", r.text
        # within the skew of the request's clock: taken
        assert await _milestone(service, now + timedelta(seconds=30)) == 200
        # half an hour ahead of the request's clock (though behind the wall clock): refused
        assert await _milestone(service, now + timedelta(minutes=30)) == 422
