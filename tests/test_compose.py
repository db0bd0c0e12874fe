"""Container files: the image runs payflow; docker-compose.yml is valid and its worker can be scaled."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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
    start = next(i for i, line in enumerate(lines) if line.split(" &")[0] == f"  {name}:")  # anchor or not
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
    env = os.environ | {"PAYFLOW_DB_PASSWORD": "p", "TEMPORAL_DB_PASSWORD": "t"}  # required, no default
    r = subprocess.run([*base, "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*base, "--format", "json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
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
    for name in ("api-a", "worker", "temporal-setup"):
        assert "- codec_keys" in _service_block(name), name
    assert "PAYFLOW_CODEC_KEYS_PATH: /run/secrets/codec_keys" in COMPOSE.read_text()
    assert "/run/secrets/search_hash_key" in _service_block("api-a")


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


def test_two_api_replicas_behind_the_repositorys_haproxy() -> None:
    """The compose layout is the tested one (tests/test_api_replicas.py): deploy/haproxy.cfg in front
    of api-a and api-b, which are one definition, share the keys and publish no port; only the proxy
    does, and peers reach the API through it."""
    text = COMPOSE.read_text()
    services = yaml.safe_load(text)["services"]
    a, b, proxy = services["api-a"], services["api-b"], services["proxy"]
    assert a == b and "ports" not in a and "payflow api" in a["command"][-1]
    assert {"jwt_signing_key", "codec_keys", "search_hash_key"} <= set(a["secrets"])
    assert a["environment"]["FORWARDED_ALLOW_IPS"] == proxy["networks"]["edge"]["ipv4_address"]
    assert proxy["volumes"] == ["./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert proxy["ports"] == ["${PAYFLOW_API_PORT:-8000}:8000"]
    assert {name: d["condition"] for name, d in proxy["depends_on"].items()} == {
        "api-a": "service_healthy",
        "api-b": "service_healthy",
    }
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", config)) == set(proxy["environment"])
    assert (proxy["environment"]["PAYFLOW_API_A"], proxy["environment"]["PAYFLOW_API_B"]) == (
        "api-a:8000",
        "api-b:8000",
    )
    assert "http://api:" not in text and "http://proxy:8000" in text
    published = [
        n for n, service in services.items() if any(p.endswith(":8000") for p in service.get("ports", []))
    ]
    assert published == ["proxy"]
