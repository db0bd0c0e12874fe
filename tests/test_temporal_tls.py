"""payflow on a secured Temporal, proved live. haproxy (Debian's package, tests/setup-system.sh) stands in
front of the session's dev server as a secured cluster or Temporal Cloud does: one port terminates TLS
and requires a client certificate signed by the test CA (mTLS), another passes only gRPC calls that
carry `authorization: Bearer <key>` (an API key). The worker and the API run a payment through the mTLS
port; `payflow temporal check` says what is wrong with a wrong certificate, a wrong CA, an expired
certificate, a missing API key, a wrong address and a namespace without payflow's search attributes.

The CLI runs in this process (typer's runner): its `exit_hard` (os._exit, sdk-python #300) becomes a
plain exit here, where the test run's own exit hook already guards against that crash."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import typer
from click.testing import Result
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from infra.settings import Settings, get_settings
from infra.temporal import connect
from payflow.cli import main as cli
from payflow.servers import free_port
from store.models import Payment
from tests import pki
from tests.api.test_payments import _intent_with_cn, _pay
from tests.stack import StackFactory
from workflows import search_attributes

HAPROXY = shutil.which("haproxy")
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="no haproxy (tests/setup-system.sh installs it)")
SERVER_NAME = "temporal.test"


@dataclass(frozen=True)
class Secured:
    mtls: str
    """host:port of the mTLS front."""
    keyed: str
    """host:port of the API-key front (TLS, server certificate only)."""
    key: str
    pki: Path

    def env(self, cert: str = "client", ca: str = "ca") -> dict[str, str]:
        """PAYFLOW_TEMPORAL_* (without the prefix) for the mTLS front with these files."""
        return {
            "address": self.mtls,
            "tls_ca_path": str(self.pki / f"{ca}.crt"),
            "tls_server_name": SERVER_NAME,
            "tls_cert_path": str(self.pki / f"{cert}.crt"),
            "tls_key_path": str(self.pki / f"{cert}.key"),
        }


def _haproxy_config(folder: Path, upstream: str, mtls: int, keyed: int, key: str) -> str:
    """TCP passthrough after mTLS (gRPC's HTTP/2 untouched); HTTP/2 proxying with a header check."""
    tls = f"ssl crt {folder / 'server.pem'} alpn h2"
    return f"""
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend mtls
  mode tcp
  bind 127.0.0.1:{mtls} {tls} ca-file {folder / "ca.crt"} verify required
  default_backend temporal_tcp
frontend keyed
  mode http
  bind 127.0.0.1:{keyed} {tls}
  http-request deny deny_status 401 unless {{ req.hdr(authorization) -m str "Bearer {key}" }}
  default_backend temporal_h2
backend temporal_tcp
  mode tcp
  server dev {upstream}
backend temporal_h2
  mode http
  server dev {upstream} proto h2
"""


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        assert process.poll() is None, f"haproxy exited with {process.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"haproxy is not listening on {port}"
            time.sleep(0.02)


@pytest.fixture(scope="module")
def secured(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("pki")
    ca, other = pki.authority("payflow test CA"), pki.authority("another CA")
    ca.write(folder, "ca")
    other.write(folder, "other-ca")
    cert, key = pki.server(ca, SERVER_NAME).write(folder, "server")
    (folder / "server.pem").write_bytes(cert.read_bytes() + key.read_bytes())
    pki.client(ca, "payflow").write(folder, "client")
    pki.client(other, "intruder").write(folder, "rogue")
    pki.client(ca, "payflow-last-year", expired=True).write(folder, "expired")
    mtls, keyed, api_key = free_port(), free_port(), secrets.token_urlsafe(16)
    upstream = dev_env.client.service_client.config.target_host
    config = folder / "haproxy.cfg"
    config.write_text(_haproxy_config(folder, upstream, mtls, keyed, api_key))
    assert HAPROXY is not None
    process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stderr=subprocess.PIPE)
    try:
        _wait_listening(mtls, process)
        _wait_listening(keyed, process)
        yield Secured(f"127.0.0.1:{mtls}", f"127.0.0.1:{keyed}", api_key, folder)
    finally:
        process.terminate()
        process.wait(10)


def _raise_exit(code: int) -> NoReturn:
    raise typer.Exit(code)


def _check(monkeypatch: pytest.MonkeyPatch, ok: bool, **temporal: str) -> Result:
    """`payflow temporal check` with PAYFLOW_TEMPORAL_<name> = value; asserts the exit code, one clear
    line on failure and never a traceback."""
    with monkeypatch.context() as env:
        for name, value in temporal.items():
            env.setenv(f"PAYFLOW_TEMPORAL_{name.upper()}", value)
        env.setattr(cli, "exit_hard", _raise_exit)
        get_settings.cache_clear()
        done = CliRunner(env={"COLUMNS": "200"}).invoke(cli.app, ["temporal", "check"])
    get_settings.cache_clear()
    assert (done.exit_code == 0) == ok, (temporal, done.stdout, done.stderr)
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    if not ok:
        assert done.exit_code == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    return done


async def test_worker_and_api_run_a_payment_through_mtls(
    secured: Secured, db_url: str, signing_key: Path
) -> None:
    client = await connect(Settings(**{f"temporal_{k}": v for k, v in secured.env().items()}))
    assert client.service_client.config.target_host == secured.mtls
    async with StackFactory(client, db_url, signing_key)(cn_mode="gateway") as stack:
        payment_id, cn = await _intent_with_cn(stack)
        await _pay(stack, cn)
        deadline = time.monotonic() + 10
        while True:
            async with stack.sessions() as s:
                payment = await s.get(Payment, payment_id)
            if payment is not None and payment.status == 5:
                break
            assert time.monotonic() < deadline, f"payment still at {payment and payment.status}"
            await asyncio.sleep(0.05)


def test_check_through_mtls_and_what_wrong_credentials_say(
    secured: Secured, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _check(monkeypatch, True, **secured.env()).stdout
    assert f"at {secured.mtls} (mTLS)" in out
    wrong = {
        "a certificate of another CA": (
            secured.env(cert="rogue"),
            f"{secured.mtls} refused the client certificate {secured.pki / 'rogue.crt'}: not signed by a CA",
        ),
        "an expired certificate": (
            secured.env(cert="expired"),
            f"refused the client certificate {secured.pki / 'expired.crt'}: it has expired",
        ),
        "the wrong CA": (
            secured.env(ca="other-ca"),
            f"the certificate of {secured.mtls} is not signed by a CA in {secured.pki / 'other-ca.crt'}",
        ),
    }
    for case, (env, message) in wrong.items():
        assert message in _check(monkeypatch, False, **env).stderr, case


def test_the_api_key_reaches_the_server(secured: Secured, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the front that lets only calls with the key pass: with it, the check reaches the dev
    server behind; without it or with another, haproxy's 401 is reported as a refused key."""
    front = {"address": secured.keyed, "tls_ca_path": str(secured.pki / "ca.crt")}
    out = _check(monkeypatch, True, **front, api_key=secured.key).stdout
    assert f"at {secured.keyed} (TLS + API key)" in out
    missing = _check(monkeypatch, False, **front).stderr
    assert "the API key (PAYFLOW_TEMPORAL_API_KEY) is missing" in missing
    refused = _check(monkeypatch, False, **front, api_key=secured.key + "x").stderr
    assert "the API key (PAYFLOW_TEMPORAL_API_KEY) was refused" in refused


def test_check_against_the_dev_server(dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    address = dev_env.client.service_client.config.target_host
    out = _check(monkeypatch, True, address=address).stdout
    headline = rf"^Temporal \d+\.\d+\.\d+ at {re.escape(address)} \(plaintext\)$"
    assert re.search(headline, out, re.MULTILINE), out
    assert "namespace default" in out
    assert all(key.name in out for key in search_attributes.ALL), out
    gone = _check(monkeypatch, False, address=f"127.0.0.1:{free_port()}").stderr
    assert "nothing accepts connections at 127.0.0.1:" in gone


@pytest.fixture
async def bare_namespace(dev_env: WorkflowEnvironment) -> str:
    """A namespace of the dev server without payflow's search attributes."""
    name = f"bare-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )
    return name


def test_check_names_missing_search_attributes(
    dev_env: WorkflowEnvironment, bare_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = dev_env.client.service_client.config.target_host
    problem = _check(monkeypatch, False, address=address, namespace=bare_namespace).stderr
    assert f"namespace {bare_namespace} lacks search attributes payflow needs" in problem
    assert "PaymentStatus (Keyword)" in problem and "InsuranceNumberHashes (KeywordList)" in problem
    assert "payflow temporal setup" in problem
    unknown = _check(monkeypatch, False, address=address, namespace="no-such-namespace").stderr
    assert "namespace no-such-namespace does not exist" in unknown
