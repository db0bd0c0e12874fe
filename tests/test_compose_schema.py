"""docker-compose.yml checked without a Docker engine, on every machine: against the Compose
Specification's JSON schema (as check-jsonschema ships it, `vendor.compose-spec`) and for what the
schema cannot see, names that must resolve (dependencies, secrets, volumes, networks, anchors merged).
tests/test_compose.py keeps the shape tests and `docker compose config` where Compose v2 exists."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
SCHEMA = json.loads(
    files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
)


def problems(compose: dict[str, Any]) -> list[str]:
    """Each way `compose` breaks the specification, one line each; none when it is valid."""
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA, format_checker=jsonschema.FormatChecker())
    found = [
        f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    services = compose.get("services") or {}
    declared = {kind: set(compose.get(kind) or {}) for kind in ("secrets", "volumes", "networks")}
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        depends = service.get("depends_on") or []
        for other in depends if isinstance(depends, list) else list(depends):
            if other not in services:
                found.append(f"services.{name}.depends_on: no service {other!r}")
        for secret in service.get("secrets") or []:
            source = secret if isinstance(secret, str) else secret.get("source")
            if source not in declared["secrets"]:
                found.append(f"services.{name}.secrets: no top-level secret {source!r}")
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            named = volume.count(":") >= 1 if isinstance(volume, str) else volume.get("type") == "volume"
            if named and not source.startswith((".", "/", "~", "$")) and source not in declared["volumes"]:
                found.append(f"services.{name}.volumes: no top-level volume {source!r}")
        networks = service.get("networks") or []
        for network in networks if isinstance(networks, list) else list(networks):
            if network not in declared["networks"] | {"default"}:
                found.append(f"services.{name}.networks: no top-level network {network!r}")
    return found


def _load() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))  # anchors and `<<` merges resolved, as Compose does


def test_compose_file_follows_the_specification() -> None:
    assert SCHEMA["title"] == "Compose Specification"
    assert problems(_load()) == []


def test_the_check_finds_what_compose_would_refuse() -> None:
    compose = _load()
    service = next(iter(compose["services"]))
    compose["services"]["broken"] = {
        "imagee": "x",  # misspelt
        "ports": 8000,  # not a list
        "depends_on": ["nowhere"],
        "secrets": ["unknown-secret"],
        "volumes": ["unknown-volume:/data"],
        "restart": ["always"],
    }
    compose["services"][service] = dict(compose["services"][service], healthcheck={"interval": 5})
    found = "\n".join(problems(compose))
    for expected in (
        "'imagee'",
        "services.broken.ports: 8000 is not of type 'array'",
        "services.broken.depends_on: no service 'nowhere'",
        "services.broken.secrets: no top-level secret 'unknown-secret'",
        "services.broken.volumes: no top-level volume 'unknown-volume'",
        "services.broken.restart",
        f"services.{service}.healthcheck.interval: 5 is not of type 'string'",
    ):
        assert expected in found, found
