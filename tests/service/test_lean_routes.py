"""The lean path of the intake and the crew's status report answers exactly what FastAPI's
own handling answers: every request of a matrix of good and bad ones is sent through both
(dependency overrides send a request FastAPI's way, dispatch.api.lean) and the status, the
headers and the JSON bodies compared."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastapi.routing
import orjson
import pytest
from pydantic import BaseModel, ValidationError

from dispatch.api.deps import get_now
from dispatch.domain import Role
from dispatch.schemas import CallIn, StatusIn
from tests.conftest import Service, running_service
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

CHEST_PAIN = {"chest_pain": True, "age_years": 60, "conscious": True, "breathing": True}
VEHICLE = "A1"
# headers that differ between two answers by design (none here: the request id is sent)
_VARIABLE: frozenset[str] = frozenset()


class Both:
    """Send a request through the lean path and through FastAPI's; count which ran."""

    def __init__(self, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
        self.service = service
        # the FastAPI app under the lifespan's state wrapper (asgi_lifespan)
        self.app = inspect.getclosurevars(service.app).nonlocals["app"]
        self.solved = 0
        solve = fastapi.routing.solve_dependencies

        async def counting(*args: Any, **kwargs: Any) -> Any:
            self.solved += 1
            return await solve(*args, **kwargs)

        monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)

    @contextmanager
    def fastapi_way(self) -> Iterator[None]:
        self.app.dependency_overrides[get_now] = get_now  # the same clock, FastAPI's way
        try:
            yield
        finally:
            self.app.dependency_overrides.clear()

    async def send(self, path: str, *, lean: bool, body: Any = None, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        content = raw if raw is not None else json.dumps(body).encode()
        sent = {"content-type": "application/json", "x-request-id": "same-id",
                **(headers or {})}
        sent = {k: v for k, v in sent.items() if v is not None}
        if lean:
            r = await self.service.client.post(path, content=content, headers=sent)
        else:
            with self.fastapi_way():
                r = await self.service.client.post(path, content=content, headers=sent)
        answer = r.json() if r.content else None
        return r.status_code, {k: v for k, v in r.headers.items() if k not in _VARIABLE}, answer

    async def same(self, path: str, **request: Any) -> tuple[int, Any]:
        lean = await self.send(path, lean=True, **request)
        full = await self.send(path, lean=False, **request)
        assert lean == full, (path, request)
        return lean[0], lean[2]


@pytest.fixture
async def both(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Both]:
    async with running_service(max_body_bytes=4096) as service:
        await service.load(city(vehicles=[(VEHICLE, "als", CENTRE[0] + 0.01, CENTRE[1])]))
        yield Both(service, monkeypatch)


def _expired(service: Service) -> str:
    from dispatch.auth import issue_token

    return issue_token(secret=service.settings.jwt_secret, issuer=service.settings.jwt_issuer,
                       subject="old", role=Role.DISPATCHER,
                       now=datetime.now(UTC) - timedelta(hours=2), ttl_s=60)


def _call_refusals(s: Service) -> list[dict[str, Any]]:
    good = call_body(*CENTRE, answers=CHEST_PAIN)
    bearer = s.auth()
    missing = {k: v for k, v in good.items() if k != "received_at"}
    bad_fix = {**good, "fixes": [{**good["fixes"][0], "lat": "north", "accuracy_m": True}]}
    return [
        {"body": missing, "headers": bearer},
        {"body": bad_fix, "headers": bearer},
        {"body": {**good, "caller_number": 12345}, "headers": bearer},
        {"body": {**good, "extra": 1}, "headers": bearer},
        {"body": {**good, "answered_at": "2020-01-01T00:00:00"}, "headers": bearer},
        {"body": {**good, "complaint": "pain\u0000"}, "headers": bearer},
        {"body": {**good, "complaint": "x" * 5000}, "headers": bearer},
        {"body": [good], "headers": bearer},
        {"raw": b'{"caller_number": "138', "headers": bearer},
        {"raw": b"", "headers": bearer},
        {"raw": json.dumps(good).replace("20.0", "NaN").encode(), "headers": bearer},
        {"raw": b"\xff\xfe{}", "headers": bearer},
        {"body": good, "headers": {**bearer, "content-type": "text/plain"}},
        {"body": good, "headers": {**bearer, "content-type": None}},
        {"body": good, "headers": {**bearer, "Idempotency-Key": "k" * 129}},
        {"body": good, "headers": {**bearer, "Idempotency-Key": ""}},
        {"body": good},
        {"body": good, "headers": {"Authorization": "Basic dXNlcjpwYXNz"}},
        {"body": good, "headers": {"Authorization": "Bearer"}},
        {"body": good, "headers": {"Authorization": "Bearer not.a.token"}},
        {"body": good, "headers": {"Authorization": f"Bearer {_expired(s)}"}},
        {"body": missing, "headers": {}},  # no token and a bad body: which comes first
        {"raw": b"{", "headers": {}},
        {"body": good, "headers": s.auth(Role.CREW, vehicle_id=VEHICLE)},  # the wrong role
    ]


async def test_call_refusals_are_the_same_both_ways(both: Both) -> None:
    statuses = [(await both.same("/v1/calls", **request))[0]
                for request in _call_refusals(both.service)]
    assert set(statuses) <= {400, 401, 403, 413, 422}, statuses
    assert 401 in statuses and 403 in statuses and 413 in statuses


async def test_a_call_and_its_replays_are_the_same_both_ways(both: Both) -> None:
    s = both.service
    body = call_body(*CENTRE, answers=CHEST_PAIN)
    headers = {**s.auth(), "Idempotency-Key": "call-1"}
    before = both.solved
    status, headers_lean, first = await both.send("/v1/calls", lean=True, body=body,
                                                  headers=headers)
    assert both.solved == before, "the intake took FastAPI's way"
    assert status == 201 and first["status"] == "assigned"
    # the replay answers the first call, whichever way it went
    status, replayed = await both.same("/v1/calls", body=body, headers=headers)
    assert (status, replayed["id"]) == (200, first["id"])
    # the same key with another body is refused, the same way
    other = {**body, "complaint": "fall"}
    status, refused = await both.same("/v1/calls", body=other, headers=headers)
    assert status == 422 and refused["detail"][0]["field"] == "Idempotency-Key"
    # a new call without a key: the same answer but for its own id and times
    lean = await both.send("/v1/calls", lean=True, body=body, headers=s.auth())
    before = both.solved
    full = await both.send("/v1/calls", lean=False, body=body, headers=s.auth())
    assert both.solved > before, "FastAPI's handling did not run"
    assert (lean[0], sorted(lean[2])) == (full[0], sorted(full[2])) == (201, sorted(first))
    assert {k for k in lean[1] if k != "content-length"} == \
        {k for k in full[1] if k != "content-length"}


async def test_status_reports_are_the_same_both_ways(both: Both) -> None:
    s = both.service
    r = await s.client.post("/v1/calls", headers=s.auth(),
                            json=call_body(*CENTRE, answers=CHEST_PAIN))
    call_id = r.json()["id"]
    path = f"/v1/vehicles/{VEHICLE}/status"
    crew = s.auth(Role.CREW, vehicle_id=VEHICLE)
    report = {"status": "en_route", "call_id": call_id, "report_id": "r-1"}
    before = both.solved
    lean = await both.send(path, lean=True, body=report, headers=crew)
    assert both.solved == before, "the status report took FastAPI's way"
    full = await both.send(path, lean=False, body=report, headers=crew)  # the repeat
    assert both.solved > before, "FastAPI's handling did not run"
    assert lean == full and lean[0] == 200
    refusals: list[dict[str, Any]] = [
        {"body": {"status": "flying"}, "headers": crew},
        {"body": {"status": "dispatched"}, "headers": crew},
        {"body": {"status": "on_scene", "at": "yesterday"}, "headers": crew},
        {"body": {"status": "on_scene", "report_id": ""}, "headers": crew},
        {"body": {}, "headers": crew},
        {"raw": b"not json", "headers": crew},
        {"body": {"status": "on_scene"}},
        {"body": {"status": "on_scene"}, "headers": s.auth(Role.CREW, vehicle_id="B9")},
        {"body": {"status": "on_scene"}, "headers": s.auth(Role.HOSPITAL, hospital_id="H")},
        {"body": {"status": "on_scene", "at": (datetime.now(UTC) + timedelta(hours=1))
                  .isoformat()}, "headers": crew},
    ]
    statuses = [(await both.same(path, **request))[0] for request in refusals]
    assert set(statuses) <= {401, 403, 409, 422}, statuses
    long_id = "/v1/vehicles/" + "V" * 65 + "/status"
    status, _ = await both.same(long_id, body={"status": "on_scene"}, headers=s.auth())
    assert status == 422


_SNAPSHOT = Path(__file__).with_name("openapi_snapshot.json")


def _document() -> bytes:
    from dispatch.app import create_app
    from tests.conftest import isolated_settings

    spec = create_app(isolated_settings()).openapi()
    return orjson.dumps(spec, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def test_the_openapi_document_is_unchanged() -> None:
    """The lean routes are the same operations: /openapi.json as before them. A deliberate
    change of the API rewrites the snapshot: `python -m tests.service.test_lean_routes`."""
    assert _document() == _SNAPSHOT.read_bytes()


def _odd_bodies() -> list[tuple[type[BaseModel], str]]:
    base = json.dumps(call_body(*CENTRE))
    good = base.replace('"complaint": ""', '"complaint": "%s"')
    status = '{"status": "on_scene", "report_id": "%s"}'
    texts = ["x", "\\ud800x", "\\ud83d\\ude00", "\\u00e9", "a\\nb", '\\"']
    return [
        *((CallIn, good % t) for t in texts), *((StatusIn, status % t) for t in texts),
        (CallIn, base[:-1] + ', "complaint": "second"}'),
        (CallIn, base.replace("20.0", "2e1")), (CallIn, base.replace("20.0", "20")),
        (CallIn, base.replace("20.0", "2" + "0" * 40)), (CallIn, base.replace("20.0", "1e-400")),
        (CallIn, base.replace("20.0", "1e400")), (CallIn, base.replace("20.0", "-0.0")),
        (CallIn, base.replace("20.0", "Infinity")), (CallIn, "  " + base + "\n"),
        (CallIn, base + " x"), (CallIn, base.replace('"13800000000"', '"+8613800000000"')),
        (StatusIn, '{"status": "on_scene", "at": 1700000000}'),
        (StatusIn, '{"status": "on_scene", "at": "2026-01-01T08:00:00+08:00"}'),
        (StatusIn, '{"status": "on_scene", "call_id": "00000000000000000000000000000000"}'),
        (StatusIn, '{"status": "on_scene", "report_id": 5}'),
    ]


@pytest.mark.parametrize(("model", "raw"), _odd_bodies())
def test_the_lean_path_reads_a_body_as_fastapi_does(model: type[BaseModel], raw: str) -> None:
    """Read straight from the bytes, a body the lean path accepts is the model FastAPI
    makes of json.loads (anything it refuses goes FastAPI's way)."""
    try:
        lean = model.model_validate_json(raw.encode())
    except ValidationError:
        return
    assert lean == model.model_validate(json.loads(raw.encode()))


if __name__ == "__main__":
    _SNAPSHOT.write_bytes(_document())
