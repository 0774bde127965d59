"""The lean harness parts: open-loop schedules, the HTTP client, the CPU meters."""

from __future__ import annotations

import os
import random
import statistics

import asyncpg
import pytest

from loadtests.bench_intake import summarise
from loadtests.cpu import BackendMeter, own_cpu_s, pid_cpu_s, socket_ports
from loadtests.harness_check import check
from loadtests.local import database_url
from loadtests.openloop import send_offsets


def test_uniform_offsets_are_evenly_spaced() -> None:
    assert send_offsets(rate=4, count=5) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_poisson_offsets_keep_the_rate_on_average() -> None:
    offsets = send_offsets(rate=100, count=20_000, schedule="poisson", rng=random.Random(3))
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert offsets[0] == 0.0 and all(g >= 0 for g in gaps)
    assert statistics.mean(gaps) == pytest.approx(0.01, rel=0.03)
    # exponential gaps: the standard deviation equals the mean
    assert statistics.stdev(gaps) == pytest.approx(0.01, rel=0.05)


def test_offsets_need_a_positive_rate() -> None:
    with pytest.raises(ValueError):
        send_offsets(rate=0, count=3)


def test_own_cpu_grows_with_work() -> None:
    before = own_cpu_s()
    sum(i * i for i in range(3_000_000))
    assert own_cpu_s() > before
    assert pid_cpu_s(2**31 - 1) is None  # no such process


@pytest.mark.timeout(120)
async def test_the_lean_client_answers_every_request_cheaply() -> None:
    """Against a server that does nothing, every request is answered and the harness's own
    CPU stays under the 0.5 ms per request it may spend (it measures ~0.1 ms)."""
    f = await check(rate=400, seconds=2, schedule="poisson")
    assert f["sent"] > 600 and f["answered"] == f["sent"] and f["errors"] == 0
    assert f["latency_ms"]["n"] == f["sent"]
    assert 0 < f["harness_cpu_ms_per_request"] < 0.5


async def test_the_backend_meter_finds_the_backend_of_its_client() -> None:
    """The backend serving this process's connection is found through its socket, and its
    CPU over a busy window is counted."""
    conn = await asyncpg.connect(database_url())
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        port = await conn.fetchval("SELECT client_port FROM pg_stat_activity"
                                   " WHERE pid = pg_backend_pid()")
        assert port in socket_ports([os.getpid()], remote_port=5432)
        meter = BackendMeter(database_url=database_url(), client_pids=[os.getpid()])
        meter.start()
        await meter.read()
        await conn.fetchval("SELECT count(*) FROM generate_series(1, 3000000)")
        await meter.read()
        await meter.close()
    finally:
        await conn.close()
    assert backend in meter.last
    assert meter.spent_s > 0


def test_summary_takes_medians_and_ratios() -> None:
    def run(target: str, service: float, pg: float) -> dict[str, object]:
        cpu = {"service": service, "pg": pg, "pg_cluster": pg, "redis": 0.1, "harness": 0.1}
        return {"target": target, "cpu_ms_per_call": cpu,
                "cpu_ms_per_request": {k: v / 2 for k, v in cpu.items()}
                if target == "service" else cpu,
                "achieved_per_s": 40.0, "intake_ms": {"p99": 10.0},
                "request_to_assignment_ms": {"p99": 12.0}}

    s = summarise([run("service", 10, 4), run("service", 12, 6), run("service", 30, 5),
                   run("baseline", 1, 0.5), run("baseline", 2, 1), run("baseline", 1.5, 0.4)])
    assert s["service_per_call"]["service"] == 12 and s["baseline_per_request"]["pg"] == 0.5
    assert s["ratio_per_call"] == {"service": 8.0, "pg": 10.0}
    assert s["ratio_per_request"] == {"service": 4.0, "pg": 5.0}
