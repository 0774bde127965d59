"""PostgreSQL statements and commits per call: the arithmetic, and a short benchmark on a
private cluster with pg_stat_statements that must be gone afterwards."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from loadtests.bench_intake import bench, markdown, pg_medians
from loadtests.pgstats import statement_figures
from loadtests.private_postgres import conf_value


def _row(query: str, calls: int, *, toplevel: bool = True, rows: int = 0) -> dict[str, object]:
    return {"query": query, "toplevel": toplevel, "calls": calls, "rows": rows,
            "mean_exec_time": 0.5}


def test_statements_split_into_top_level_and_nested_per_call() -> None:
    read = {"source": "pg_stat_statements", "commits": 30,
            "rows": [_row("BEGIN", 10), _row("COMMIT", 10),
                     _row("INSERT INTO calls\n  VALUES ($1)", 10, rows=10),
                     _row("SELECT 1 FROM ONLY calls FOR KEY SHARE", 25, toplevel=False,
                          rows=25)]}
    f = statement_figures(read, calls=10)
    assert (f["statements_per_call"], f["toplevel_per_call"], f["nested_per_call"]) == (
        5.5, 3, 2.5)
    assert f["rows_per_call"] == 3.5
    assert f["commit_statements_per_call"] == 1 and f["commits_per_call"] == 3
    assert [t["query"] for t in f["top"]][:2] == ["SELECT 1 FROM ONLY calls FOR KEY SHARE",
                                                  "BEGIN"]
    assert f["top"][0] == {"query": "SELECT 1 FROM ONLY calls FOR KEY SHARE",
                           "toplevel": False, "per_call": 2.5, "mean_ms": 0.5}
    # whitespace folded, for the one-line table
    assert "INSERT INTO calls VALUES ($1)" in [t["query"] for t in f["top"]]


def test_without_pg_stat_statements_only_commits_are_counted() -> None:
    f = statement_figures({"source": "pg_stat_database", "commits": 9, "rows": []}, calls=3)
    assert f["commits_per_call"] == 3 and f["statements_per_call"] is None
    assert f["top"] == []
    medians = pg_medians([{"pg_per_call": f}])
    assert medians["statements_per_call"] is None and medians["commits_per_call"] == 3


def test_medians_take_the_top_statements_of_the_median_run() -> None:
    runs = [{"pg_per_call": {"statements_per_call": n, "commits_per_call": 1.0,
                             "top": [{"query": f"q{n:g}"}]}} for n in (9.0, 3.0, 5.0)]
    m = pg_medians(runs)
    assert m["statements_per_call"] == 5 and m["top"] == [{"query": "q5"}]


def test_settings_are_quoted_unless_plain() -> None:
    assert conf_value("16MB") == "16MB"
    assert conf_value("pg_stat_statements") == "pg_stat_statements"
    assert conf_value("it's, two") == "'it''s, two'"


@pytest.mark.timeout(300)
async def test_a_private_cluster_counts_statements_and_is_deleted() -> None:
    result = await bench(rate=4, seconds=2, runs=1, seed=5, private_postgres=True,
                         warmup_s=0, split=True, log=False)
    pg = result["summary"]["pg_per_call"]
    service, baseline = pg["service"], pg["baseline"]
    assert service["statements_per_call"] > 0
    # track = all: the triggers' and foreign keys' statements are counted too
    assert service["nested_per_call"] > 0
    assert service["commits_per_call"] > 0 and service["top"]
    # the baseline's one INSERT per request, on its own database
    assert baseline["toplevel_per_call"] >= 1 and baseline["nested_per_call"] == 0
    assert all(r["pg_per_call"]["source"] == "pg_stat_statements"
               for r in result["runs_detail"])
    # apart: every call assigned at intake, then each held vehicle cleared
    split = result["split"]["service"]
    assert split["outcomes"] == {"assigned": 8} and split["clear"]["n"] == 8
    assert split["intake"]["pg"]["statements_per_call"] > 0
    assert split["clear"]["pg"]["statements_per_call"] > 0
    text = markdown(result)
    assert "Most frequent statements, service" in text and "| per intake | per clear |" in text
    # stopped and deleted: no files, no postmaster serving them
    directory = Path(result["private_directory"])
    assert not directory.exists()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert str(directory).encode() not in cmdline.read_bytes()
        except OSError:
            continue  # exited meanwhile
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", _port(result))) != 0


def _port(result: dict[str, object]) -> int:
    """The private cluster's port."""
    port = result["private_port"]
    assert isinstance(port, int)
    return port
