"""Container files: the image runs payflow; docker-compose.yml is valid and its worker can be scaled."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"


def _compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin), else a standalone Compose v2 `docker-compose`; None without either.

    `compose config` only parses and resolves the file: it needs no Docker engine.
    """
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        r = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True, timeout=60)
        version = r.stdout.strip().lstrip("v")
        if r.returncode == 0 and version and not version.startswith("1."):  # v1 lacks the Compose spec
            return cmd
    return None


def _service_block(name: str) -> str:
    """The text of one top-level service in docker-compose.yml (two-space indentation)."""
    lines = COMPOSE.read_text().splitlines()
    start = lines.index(f"  {name}:")
    block = []
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith("   "):
            break
        block.append(line)
    return "\n".join(block)


def test_dockerfile_runs_payflow_as_non_root() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    commands = [line for line in lines if line.startswith(("CMD", "ENTRYPOINT"))]
    assert commands and "payflow" in commands[-1]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and not users[-1].startswith(("root", "0"))


def test_worker_service_can_scale() -> None:
    worker = _service_block("worker")
    assert "payflow" in worker and "worker" in worker
    assert "container_name" not in worker and "ports:" not in worker


def test_compose_config_is_valid() -> None:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("Docker Compose v2 is not installed (`docker compose version` failed)")
    base = [*cmd, "-f", str(COMPOSE), "--profile", "simulators", "config"]
    r = subprocess.run([*base, "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*base, "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    services = json.loads(r.stdout)["services"]
    worker = services["worker"]
    assert "container_name" not in worker and not worker.get("ports")
    assert worker["command"] == ["payflow", "worker"]
    for one_shot in ("migrate", "temporal-setup"):
        assert worker["depends_on"][one_shot]["condition"] == "service_completed_successfully"
    assert services["gateway"]["profiles"] == ["simulators"] == services["sms"]["profiles"]


def test_every_process_talking_to_temporal_gets_the_payload_keys() -> None:
    """Every payflow process with a Temporal client refuses to start without the codec keys."""
    for name in ("api", "worker", "temporal-setup"):
        assert "- codec_keys" in _service_block(name), name
    assert "PAYFLOW_CODEC_KEYS_PATH: /run/secrets/codec_keys" in COMPOSE.read_text()
    assert "/run/secrets/search_hash_key" in _service_block("api")


def test_the_image_copies_every_package_pip_installs() -> None:
    """`pip install .` in the image packages what pyproject lists; a package not copied is missing."""
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {p.rstrip("*") for p in include["include"]}
    copied = {
        line.split()[1].rstrip("/")
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and not line.startswith("COPY --from")
    }
    assert packages <= copied, packages - copied
