"""The `payflow` CLI as an operator uses it: clear messages and exit codes, tables and --json.

The commands run in this process (typer's runner, the operator's environment in os.environ): a
`payflow` process spends ~1 s importing before it does anything. `test_the_installed_command` runs the
installed script once, as an operator does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from infra.settings import get_settings
from payflow.cli.main import app
from payflow.dev import DEMO_REGISTRY

PAYFLOW = str(Path(sys.executable).with_name("payflow"))


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    monkeypatch.setenv("PAYFLOW_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PAYFLOW_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    get_settings.cache_clear()

    def run(*args: str, ok: bool = True) -> Result:
        done = CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))
        assert (done.exit_code == 0) == ok, (args, done.stdout, done.stderr)
        assert done.exception is None or isinstance(done.exception, SystemExit), done.exception  # no crash
        return done

    yield run
    get_settings.cache_clear()


def test_the_installed_command(tmp_path: Path) -> None:
    """The entry point, its exit code and its message on stderr."""
    env = os.environ | {"PAYFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    done = subprocess.run(
        [PAYFLOW, "registry", "import", str(tmp_path / "missing.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "cannot read" in done.stderr, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr


def test_registry_and_clients(cli: Callable[..., Result], tmp_path: Path) -> None:
    assert (
        "imported 4 locations, 3 products, 2 officers, 2 families"
        in cli("registry", "import", str(DEMO_REGISTRY)).stdout
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"families": [{"insurees": [{"chfid": "1", "birth_date": "2000-01-01"}]}]}))
    assert "must have exactly one head" in cli("registry", "import", str(bad), ok=False).stderr
    assert "cannot read" in cli("registry", "import", str(tmp_path / "missing.json"), ok=False).stderr

    created = json.loads(
        cli("clients", "create", "--tenant", "t1", "--scope", "events", "--client-id", "c1", "--json").stdout
    )
    assert created["client_id"] == "c1" and created["client_secret"]
    assert "unknown scope" in cli("clients", "create", "--tenant", "t1", "--scope", "root", ok=False).stderr
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert "registered for c1" in cli("clients", "add-key", "c1", str(pem)).stdout
    assert "not a PEM public key" in cli("clients", "add-key", "c1", str(DEMO_REGISTRY), ok=False).stderr
    cli("clients", "revoke", "c1")
    [listed] = json.loads(cli("clients", "list", "--json").stdout)
    assert (listed["client_id"], listed["revoked"]) == ("c1", True)
    assert "no client" in cli("clients", "revoke", "nobody", ok=False).stderr


def test_endpoints_and_deliveries(cli: Callable[..., Result]) -> None:
    refused = cli("endpoints", "add", "--tenant", "t1", "--url", "https://10.0.0.7/hook", ok=False)
    assert "not a public address" in refused.stderr
    added = json.loads(
        cli(
            "endpoints",
            "add",
            "--tenant",
            "t1",
            "--url",
            "http://127.0.0.1:9/hook",
            "--event-type",
            "case_settled",
            "--json",
        ).stdout
    )
    assert added["secret"].startswith("whsec_")
    assert "new secret" in cli("endpoints", "rotate-secret", added["id"]).stdout
    cli("endpoints", "disable", added["id"])
    [listed] = json.loads(cli("endpoints", "list", "--json").stdout)
    assert (listed["id"], listed["enabled"], listed["event_types"]) == (added["id"], False, "case_settled")
    assert "enabled" in cli("endpoints", "enable", added["id"]).stdout
    assert json.loads(cli("deliveries", "list", "--json").stdout) == []
    assert "no delivery 7" in cli("deliveries", "show", "7", ok=False).stderr
    assert "name a delivery" in cli("deliveries", "replay", ok=False).stderr


def test_every_command_has_help_text() -> None:
    """`payflow … --help` says what each command does: none is left with a bare usage line."""

    def commands(group: Any, path: str) -> Iterator[tuple[str, Any]]:
        for name, command in group.commands.items():
            yield f"{path} {name}", command
            if hasattr(command, "commands"):  # a group
                yield from commands(command, f"{path} {name}")

    bare = [
        name for name, c in commands(typer.main.get_command(app), "payflow") if not (c.help or "").strip()
    ]
    assert not bare, bare


def test_tables_never_cut_ids_or_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """At 80 columns the start-up tables of `payflow dev` and a list show every secret and id whole."""
    from io import StringIO

    from rich.console import Console

    from payflow import dev
    from payflow.cli import output

    out = StringIO()
    narrow = Console(file=out, width=80)
    monkeypatch.setattr(output, "console", narrow)
    monkeypatch.setattr(dev, "console", narrow)
    secret = "x" * 43
    manifest = {key: f"http://127.0.0.1:8000/{key}" for key in ("api", "docs", "temporal", "temporal_ui")}
    manifest |= {key: key for key in ("gateway_simulator", "sms_simulator", "receiver_simulator")}
    manifest |= {"database": f"sqlite+aiosqlite:///{tmp_path / 'payflow.db'}", "cn_mode": "gateway"}
    manifest |= {"gateway_protocol": "json", "metrics": {"api": "m"}, "logs": {"api": "l"}}
    manifest |= {
        "ready_after_s": 1.0,
        "clients": {"c": {"client_id": "demo-eo-app", "client_secret": secret}},
    }
    manifest["clients"]["c"]["scopes"] = ["payments:write", "payments:read"]
    dev.show(manifest, tmp_path / "dev.json")
    output.show_rows(
        [{"control_number": "990012345678", "intent_id": "5f79ceb5-6009-411b-b974-6db0c02915b2"}] * 2, False
    )
    text = out.getvalue()
    assert secret in text and manifest["database"] in text, text
    assert "990012345678" in text and "5f79ceb5-6009-411b-b974-6db0c02915b2" in text, text
