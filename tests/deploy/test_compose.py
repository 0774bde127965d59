"""docker-compose.yml is valid against the Compose specification (no Docker engine here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from dispatch.realtime.resp import RespEndpoint

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_matches_the_compose_spec() -> None:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_two_instances_behind_a_websocket_proxy() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "dispatch-1", "dispatch-2", "proxy"} <= set(services)
    for name in services:
        assert "healthcheck" in services[name], name
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert "dispatch-1:8120" in nginx and "dispatch-2:8120" in nginx


def test_ha_profile_has_sentinels_a_replica_and_a_standby_the_settings_name() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    ha = {name for name, s in services.items() if "ha" in s.get("profiles", [])}
    assert ha == {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3",
                  "postgres-standby"}
    # without the profile nothing waits for a standby or needs a Sentinel
    assert "${DISPATCH_PG_SYNC_STANDBYS:-}" in " ".join(services["postgres"]["command"])
    assert services["dispatch-1"]["environment"]["DISPATCH_REDIS_URL"].endswith(
        ":-redis://redis:6379/0}")
    settings = dict(line.split("=", 1) for line in
                    (ROOT / "deploy" / "ha.env").read_text().splitlines()
                    if line and not line.startswith("#"))
    redis = RespEndpoint.from_url(settings["DISPATCH_REDIS_URL"], timeout_s=1.0)
    assert {host for host, _ in redis.sentinels} == {"sentinel-1", "sentinel-2", "sentinel-3"}
    sentinel_conf = compose["x-sentinel"]["command"][-1]
    assert f"sentinel monitor {redis.service} redis 6379 2" in sentinel_conf
    assert "--replicaof" in services["redis-replica"]["command"]
    dsn = settings["DISPATCH_DATABASE_URL"]
    assert "@postgres:5432,postgres-standby:5432/" in dsn
    assert dsn.endswith("?target_session_attrs=read-write")
    standby = (ROOT / "deploy" / "postgres" / "standby.sh").read_text()
    assert f"cluster_name={settings['DISPATCH_PG_SYNC_STANDBYS']}" in standby
