"""The lock files agree with pyproject.toml: a dependency added, dropped or re-floored there without
`sh requirements/refresh.sh` fails here, before the Docker image ships a stale or incomplete set."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]
# `name==version [; marker] \` opens an entry; its `--hash=sha256:...` lines follow.
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def read_lock(name: str) -> dict[str, dict[str, set[str]]]:
    """Canonical package name -> {version: its hashes}; a universal lock may pin two versions of
    one package under different markers (e.g. per Python version)."""
    pins: dict[str, dict[str, set[str]]] = {}
    hashes: set[str] = set()
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if m := PIN.match(line):
            hashes = pins.setdefault(canonicalize_name(m[1]), {}).setdefault(m[2], set())
        elif (stripped := line.strip()).startswith("--hash=sha256:"):
            hashes.add(stripped.removeprefix("--hash=sha256:").rstrip(" \\"))
    return pins


@pytest.mark.parametrize(("lock", "required"), [("runtime.lock", RUNTIME), ("dev.lock", RUNTIME + DEV)])
def test_every_direct_dependency_is_pinned_with_hashes_within_its_range(
    lock: str, required: list[Requirement]
) -> None:
    pins = read_lock(lock)
    for req in required:
        versions = pins.get(canonicalize_name(req.name))
        assert versions, f"{req.name} is not in requirements/{lock}: run sh requirements/refresh.sh"
        for version, hashes in versions.items():
            assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} vs {req}"
            assert hashes, f"{req.name}=={version} has no hash in requirements/{lock}"


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    """The image runs the versions the developers and CI test, and no test tooling."""
    runtime, dev = read_lock("runtime.lock"), read_lock("dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert not {canonicalize_name(r.name) for r in DEV} & runtime.keys()


def test_the_dockerfile_installs_the_runtime_lock_with_hashes() -> None:
    steps = " ".join((ROOT / "Dockerfile").read_text().split())
    assert "pip install --require-hashes -r requirements/runtime.lock" in steps
    assert "pip install --no-deps ." in steps
