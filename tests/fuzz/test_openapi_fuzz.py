"""Schemathesis over the service's own /openapi.json: no generated request gets a 5xx.

A real uvicorn process on an isolated schema and key prefix with the test city loaded;
every operation fuzzed with valid (positive) and invalid (negative) data under a fixed
seed, as a dispatcher and, for /v1/admin, as an admin. Failures are collected, not raised,
so one run lists every distinct failure (and shrinking, which costs minutes, never runs).

Checks: `not_a_server_error` always; CONFORMANCE (the answer's status code, content type
and body against the declared responses) unless DISPATCH_FUZZ_CHECKS says otherwise.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.core.failures import FailureGroup

from dispatch.auth import issue_token
from dispatch.domain import Role
from tests.conftest import drop_isolation, isolated_settings
from tests.instances import instances
from tests.service.calls import call_body
from tests.service.city import CENTRE, city

# cases per operation, mode and set of path ids: ~2,700 cases at 35, about a minute here
EXAMPLES = int(os.environ.get("DISPATCH_FUZZ_EXAMPLES", "35"))
SEED = int(os.environ.get("DISPATCH_FUZZ_SEED", "120"))
CONFORMANCE = ("status_code_conformance", "content_type_conformance",
               "response_schema_conformance")


def _checks() -> tuple[str, ...]:
    named = os.environ.get("DISPATCH_FUZZ_CHECKS")
    if named is None:
        return CONFORMANCE
    return tuple(n for n in named.split(",") if n)


@dataclass
class Findings:
    failures: dict[str, str] = field(default_factory=dict)  # "op -> status: check" -> example
    cases: int = 0

    def add(self, key: str, example: str) -> None:
        self.failures.setdefault(key, example)


def _fuzz_operation(operation: schemathesis.APIOperation, mode: GenerationMode, *,
                    base_url: str, headers: dict[str, str], checks: list[object],
                    found: Findings, path_parameters: dict[str, str] | None = None) -> None:

    @seed(SEED)
    @hsettings(max_examples=EXAMPLES, deadline=None, database=None,
               phases=[Phase.explicit, Phase.generate],
               suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case: schemathesis.Case) -> None:
        found.cases += 1
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=checks,  # type: ignore[arg-type]
                                   headers=headers)
        except FailureGroup as group:
            for exc in group.exceptions:
                key = (f"{operation.label} -> {response.status_code}: "
                       f"{getattr(exc, 'title', type(exc).__name__)}")
                found.add(key, f"{case.as_curl_command(headers)}\n  {exc}\n  "
                               f"{response.text[:300]}"[:2500])

    try:
        run()
    except Unsatisfiable:  # nothing to negate: no parameters and no body
        pass


def fuzz(base_url: str, tokens: dict[Role, str], checks: tuple[str, ...],
         known: dict[str, str]) -> Findings:
    """Every operation, positive and negative; those with path parameters once more with
    ids that exist (`known`), so bodies reach the code behind the 404s."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    check_fns = [CHECKS.get_one(name) for name in ("not_a_server_error", *checks)]
    found = Findings()
    for result in schema.get_all_operations():
        operation = result.ok()
        role = Role.ADMIN if operation.path.startswith("/v1/admin") else Role.DISPATCHER
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        names = [p.name for p in operation.path_parameters]
        fixed = {n: known[n] for n in names if n in known}
        for path_parameters in ([None, fixed] if fixed and len(fixed) == len(names)
                                else [None]):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_operation(operation, mode, base_url=base_url, headers=headers,
                                checks=check_fns, found=found, path_parameters=path_parameters)
    return found


@pytest.mark.fuzz
@pytest.mark.timeout(600)
async def test_openapi_fuzz_has_no_server_errors() -> None:
    settings = isolated_settings()
    tokens = {role: issue_token(secret=settings.jwt_secret, issuer=settings.jwt_issuer,
                                subject=f"fuzz-{role.value}", role=role, now=datetime.now(UTC),
                                ttl_s=3600)
              for role in (Role.DISPATCHER, Role.ADMIN)}
    try:
        async with instances(settings, 1) as [url]:
            async with httpx.AsyncClient(base_url=url) as client:
                admin = {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}
                r = await client.post("/v1/admin/reference", json=city(n_vehicles=6),
                                      headers=admin)
                assert r.status_code == 200, r.text
                r = await client.post("/v1/calls", json=call_body(*CENTRE), headers=admin)
                assert r.status_code == 201, r.text
                known = {"call_id": r.json()["id"], "vehicle_id": "V0001"}
            found = await asyncio.to_thread(fuzz, url, tokens, _checks(), known)
    finally:
        await drop_isolation(settings)
    report = "\n\n".join(f"{k}\n{v}" for k, v in sorted(found.failures.items()))
    assert found.cases > 0
    assert not found.failures, (
        f"{len(found.failures)} distinct failures in {found.cases} cases:\n{report}")
