"""requirements.lock pins every runtime dependency of pyproject.toml, with hashes, and the
Dockerfile installs exactly it (no resolution at build time)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ("pip-compile --strip-extras --no-emit-index-url --no-emit-find-links "
              "--allow-unsafe --generate-hashes -o requirements.lock pyproject.toml")


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        head = block.splitlines()[0]
        if head.startswith("#") or not head.strip():
            continue
        name, _, version = head.split(" ")[0].partition("==")
        assert version, f"not pinned: {head}"
        assert "--hash=sha256:" in block, f"no hash: {name}"
        pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _pins()
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: run {REGENERATE}"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{req.name}=={pins[name]} is outside {req.specifier}: run {REGENERATE}"


def test_the_image_installs_the_lock_then_the_package_alone() -> None:
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    locked = docker.index("pip install --no-cache-dir --require-hashes -r requirements.lock")
    assert locked < docker.index("pip install --no-cache-dir --no-deps .")
