"""The packages' layering ([tool.importlinter] in pyproject.toml), checked by import-linter
over the source's imports: no import cycles between dispatch's top-level packages; entry
points over the API over the flows over the runtime over the adapters over the pure cores;
the pure cores (geo, triage, the handover's state, frames and records, the indicators'
arithmetic) use no database, Redis, HTTP or web framework."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
CONTRACTS = ("acyclic", "layers", "pure")

# Each contract in its own process: import-linter puts the working directory on sys.path.
_LINT = ("import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True, "
         "limit_to_contracts=(sys.argv[1],)))")


def _lint(contract: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _LINT, contract], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=100, check=False)


def test_the_contracts_are_the_ones_checked_and_valid() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert tuple(c["id"] for c in contracts) == CONTRACTS
    for contract in CONTRACTS:  # each one evaluated (kept or broken), none misconfigured
        out = _lint(contract).stdout
        assert "Contracts: 1 kept, 0 broken." in out or "Contracts: 0 kept, 1 broken." in out, out


@pytest.mark.parametrize("contract", CONTRACTS)
def test_imports_keep_the_layering(contract: str) -> None:
    proc = _lint(contract)
    assert proc.returncode == 0, proc.stdout + proc.stderr
