"""Signing in: users in PostgreSQL with argon2 hashes, answered with the service's JWTs."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
import pytest

from dispatch.auth import verify_token
from dispatch.domain import Role
from dispatch.errors import InvalidInput
from dispatch.users import add_user
from tests.conftest import DATABASE_URL, Service
from tests.service.city import city


async def _add(service: Service, name: str, role: Role, password: str, **binding: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'SET search_path TO "{service.settings.db_schema}", public')
        await add_user(conn=conn, name=name, role=role, password=password, **binding)
    finally:
        await conn.close()


async def test_a_crew_user_signs_in_with_a_token_bound_to_its_vehicle(service: Service) -> None:
    await service.load(city(n_vehicles=1))
    await _add(service, "crew-a", Role.CREW, "correct horse", vehicle_id="V0000")
    r = await service.client.post("/v1/auth/login",
                                  json={"name": "crew-a", "password": "correct horse"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "crew" and body["vehicle_id"] == "V0000"
    assert body["timezone"] == "Asia/Shanghai" and body["map"]["tile_url"] is None
    principal = verify_token(token=body["token"], secret=service.settings.jwt_secret,
                             issuer=service.settings.jwt_issuer)
    assert (principal.subject, principal.role, principal.vehicle_id) == \
        ("crew-a", Role.CREW, "V0000")
    # the token works on the API like any other
    r = await service.client.get("/v1/vehicles/V0000",
                                 headers={"Authorization": f"Bearer {body['token']}"})
    assert r.status_code == 200, r.text


async def test_wrong_password_and_unknown_name_get_the_same_401(service: Service) -> None:
    await _add(service, "disp", Role.DISPATCHER, "s3cret-pass")
    wrong = await service.client.post("/v1/auth/login",
                                      json={"name": "disp", "password": "nope-nope"})
    unknown = await service.client.post("/v1/auth/login",
                                        json={"name": "nobody", "password": "nope-nope"})
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert r.json() == {
            "error": "unauthenticated", "message": "未登录或登录已过期，请重新登录。",
            "detail": [{"field": "password", "reason": "wrong name or password"}]}


async def test_a_user_saved_again_gets_the_new_password(service: Service) -> None:
    await _add(service, "disp", Role.DISPATCHER, "first-password")
    await _add(service, "disp", Role.ADMIN, "second-password")
    old = await service.client.post("/v1/auth/login",
                                    json={"name": "disp", "password": "first-password"})
    new = await service.client.post("/v1/auth/login",
                                    json={"name": "disp", "password": "second-password"})
    assert old.status_code == 401 and new.json()["role"] == "admin"


async def test_login_body_is_checked(service: Service) -> None:
    r = await service.client.post("/v1/auth/login", json={"name": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "password"


@pytest.mark.parametrize(("name", "role", "password", "binding", "field"), [
    ("bad name", Role.DISPATCHER, "long-enough", {}, "name"),
    ("ok", Role.DISPATCHER, "short", {}, "password"),
    ("ok", Role.CREW, "long-enough", {}, "vehicle"),
    ("ok", Role.DISPATCHER, "long-enough", {"hospital_id": "H1"}, "hospital"),
    ("ok", Role.GATEWAY, "long-enough", {}, "role"),
    ("ok", Role.HOSPITAL, "long-enough", {"hospital_id": "no-such"}, "hospital"),
])
async def test_bad_users_are_refused_naming_the_field(
    service: Service, name: str, role: Role, password: str, binding: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await _add(service, name, role, password, **binding)
    assert info.value.field == field


async def test_cli_user_add_saves_a_user_who_can_sign_in(service: Service) -> None:
    await service.load(city(n_vehicles=0))
    s = service.settings
    env = {**os.environ, "DISPATCH_DATABASE_URL": s.database_url or "",
           "DISPATCH_DB_SCHEMA": s.db_schema, "PYTHONPATH": os.getcwd()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch.cli", "user", "add", "ed-h1", "--role", "hospital",
        "--hospital", "H1", "--password", "board-pass-1", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "ed-h1" in out.decode()
    r = await service.client.post("/v1/auth/login",
                                  json={"name": "ed-h1", "password": "board-pass-1"})
    assert r.status_code == 200 and r.json()["hospital_id"] == "H1"
    # a crew without a vehicle is refused with the option named
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch.cli", "user", "add", "c1", "--role", "crew",
        "--password", "crew-pass-1", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 2 and "--vehicle" in err.decode()
