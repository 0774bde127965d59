"""docker-compose.yml read as the structure Compose reads (no Docker engine here): valid
against the Compose specification; which services run with and without the `ha` profile;
each one's health check, start order and settings; the proxy in front of the instances."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from dispatch.config import Settings
from dispatch.realtime.resp import RespEndpoint

ROOT = Path(__file__).resolve().parents[2]
CORE = {"postgres", "redis", "dispatch-1", "dispatch-2", "proxy"}
HA = {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3", "postgres-standby"}
INSTANCES = ("dispatch-1", "dispatch-2")
# ${NAME}, ${NAME:-default}, ${NAME:?error}: Compose's interpolation of one variable
VARIABLE = re.compile(r"^\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def ha_env() -> dict[str, str]:
    lines = (ROOT / "deploy" / "ha.env").read_text().splitlines()
    return dict(ln.split("=", 1) for ln in lines if ln and not ln.startswith("#"))


def _variable(value: str) -> tuple[str, str | None, str]:
    """(name, operator, argument) of a value that is one ${...} interpolation."""
    match = VARIABLE.match(value)
    assert match, f"not a single ${{...}} variable: {value!r}"
    return match["name"], match["op"], match["arg"] or ""


def _options(command: list[str]) -> dict[str, str]:
    """`-c key=value` pairs of a postgres command line."""
    return dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "-c")


def test_compose_file_matches_the_compose_spec() -> None:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_profiles_split_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == CORE | HA
    by_profile = {name: tuple(s.get("profiles", ())) for name, s in services.items()}
    assert {n for n, p in by_profile.items() if not p} == CORE
    assert {n for n, p in by_profile.items() if p} == HA
    assert all(p == ("ha",) for n, p in by_profile.items() if n in HA)
    # without the profile, nothing waits for a service that does not start
    for name in CORE:
        assert not set(services[name].get("depends_on", {})) & HA, name


def test_every_service_has_a_health_check_and_starts_after_healthy_ones(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        check = service["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert {"interval", "timeout", "retries"} <= set(check), name
        assert service["restart"] == "unless-stopped", name
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in services, (name, needed)
            assert condition == {"condition": "service_healthy"}, (name, needed)
    after = {name: set(s.get("depends_on", {})) for name, s in services.items()}
    assert after["proxy"] == set(INSTANCES)
    for name in INSTANCES:
        assert after[name] == {"postgres", "redis"}
    assert after["postgres-standby"] == {"postgres"}
    assert all(after[n] == {"redis"} for n in HA - {"postgres-standby"})


def test_the_instances_are_one_image_with_required_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    first, second = (services[name] for name in INSTANCES)
    assert first == second  # the same service twice: stateless instances
    assert first["build"] == "."
    env = first["environment"]
    known = {f"DISPATCH_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    variables = {key: _variable(value) for key, value in env.items()}
    assert {name for name, _, _ in variables.values()} == set(env)  # overridable by name
    # the secret has no default: compose stops, naming it, when it is not set
    assert variables["DISPATCH_JWT_SECRET"][1] == ":?"
    assert "DISPATCH_JWT_SECRET" in variables["DISPATCH_JWT_SECRET"][2]
    # the defaults reach the services of this file
    database = urlsplit(variables["DISPATCH_DATABASE_URL"][2])
    assert (database.hostname, database.port) == ("postgres", 5432)
    pg_env = services["postgres"]["environment"]
    assert (database.username, database.password, database.path) == (
        pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], f"/{pg_env['POSTGRES_DB']}")
    assert urlsplit(variables["DISPATCH_REDIS_URL"][2]).hostname == "redis"


def test_the_instances_health_check_asks_readyz_on_the_served_port(
    compose: dict[str, Any],
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    cmd = json.loads(next(ln for ln in dockerfile if ln.startswith("CMD "))[4:])
    assert cmd[:2] == ["dispatch", "serve"]
    port = int(cmd[cmd.index("--port") + 1])
    assert f"EXPOSE {port}" in dockerfile
    probe = compose["services"]["dispatch-1"]["healthcheck"]["test"]
    urls = re.findall(r"http://[^'\"]+", " ".join(probe))
    assert [urlsplit(u)[1:3] for u in urls] == [(f"127.0.0.1:{port}", "/readyz")]


def _nginx(text: str) -> list[Any]:
    """nginx.conf as nested [directive, args, block] lists (block None for a simple one)."""
    tokens = re.findall(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};]+", re.sub(r"#[^\n]*", "", text))
    stack: list[list[Any]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == "{":
            block: list[Any] = []
            stack[-1].append([words[0], words[1:], block])
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        elif token == ";":
            stack[-1].append([words[0], words[1:], None])
            words = []
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unbalanced nginx.conf"
    return stack[0]


def _find(block: list[Any], name: str, *args: str) -> list[Any]:
    return [d for d in block if d[0] == name and tuple(d[1][:len(args)]) == args]


def test_the_proxy_spreads_http_and_websockets_over_the_instances(
    compose: dict[str, Any],
) -> None:
    proxy = compose["services"]["proxy"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in proxy["volumes"]}
    conf = _nginx((ROOT / mounted["/etc/nginx/conf.d/default.conf"]).read_text())
    [upstream] = _find(conf, "upstream")
    servers = {d[1][0] for d in _find(upstream[2], "server")}
    assert servers == {f"{name}:8120" for name in INSTANCES}
    [server] = _find(conf, "server")
    [listen] = _find(server[2], "listen")
    assert proxy["ports"] == [f"8120:{listen[1][0]}"]
    # the service answers an oversized body itself (413 JSON): the proxy lets it through
    [body] = _find(server[2], "client_max_body_size")
    assert int(body[1][0].removesuffix("m")) * 2**20 >= Settings().max_body_bytes
    [location] = _find(server[2], "location", "/")
    inside = location[2]
    assert _find(inside, "proxy_pass") == [["proxy_pass", [f"http://{upstream[1][0]}"], None]]
    assert _find(inside, "proxy_http_version") == [["proxy_http_version", ["1.1"], None]]
    headers = {d[1][0]: d[1][1] for d in _find(inside, "proxy_set_header")}
    assert headers["Upgrade"] == "$http_upgrade"
    [upgrade_map] = _find(conf, "map", "$http_upgrade", headers["Connection"])
    assert {d[0]: d[1] for d in upgrade_map[2]} == {"default": ["upgrade"], "''": ["close"]}


def test_ha_settings_name_the_sentinels_replica_and_standby(
    compose: dict[str, Any], ha_env: dict[str, str],
) -> None:
    services = compose["services"]
    # without the profile nothing waits for a standby; with it, commits wait for this one
    sync = _options(services["postgres"]["command"])["synchronous_standby_names"]
    assert _variable(sync) == ("DISPATCH_PG_SYNC_STANDBYS", ":-", "")
    standby = shlex.split((ROOT / "deploy" / "postgres" / "standby.sh").read_text()
                          .split("exec postgres", 1)[1].splitlines()[0])
    assert f"cluster_name={ha_env['DISPATCH_PG_SYNC_STANDBYS']}" in standby
    redis = RespEndpoint.from_url(ha_env["DISPATCH_REDIS_URL"], timeout_s=1.0)
    sentinels = {n for n in HA if n.startswith("sentinel-")}
    assert set(redis.sentinels) == {(name, 26379) for name in sentinels}
    script = compose["x-sentinel"]["command"][-1]
    lines = [t for t in shlex.split(script) if t.startswith("sentinel ")]
    monitor = next(ln.split() for ln in lines if ln.startswith("sentinel monitor "))
    assert monitor[2:5] == [redis.service, "redis", "6379"]
    assert int(monitor[5]) == len(sentinels) // 2 + 1  # a majority agrees the master is down
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1:][:2] == ["redis", "6379"]
    dsn = urlsplit(ha_env["DISPATCH_DATABASE_URL"])
    hosts = dsn.netloc.split("@", 1)[1].split(",")
    assert hosts == ["postgres:5432", "postgres-standby:5432"]
    assert parse_qs(dsn.query) == {"target_session_attrs": ["read-write"]}
