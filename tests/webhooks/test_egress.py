"""Egress to customer URLs: the worker connects only to addresses it checked, at every attempt, and
follows no redirect. DNS is a resolver the test controls (names under `.test`, which real DNS never
answers, RFC 6761); the targets are real servers on 127.0.0.1 that record every connection."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.testing import WorkflowEnvironment

from infra.ssrf import endpoint_problem
from simulators.receiver import Behaviour
from store.models import DeliveryAttempt, WebhookEndpoint
from tests.webhooks.harness import Hooks, finished, hooks

PUBLIC = "93.184.215.14"
"""A public address the resolver answers to the check; no test connects to it."""


class Dns:
    """Answers for the names it was given, each look-up taking the next answer (the last one stays);
    every other name goes to the loop's own resolver."""

    def __init__(self, real: Callable[..., Awaitable[Any]]) -> None:
        self._real = real
        self._answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def answer(self, host: str, *addresses: str) -> None:
        self._answers[host] = list(addresses)

    async def getaddrinfo(self, host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        answers = self._answers.get(host)
        if answers is None:
            return await self._real(host, port, *args, **kwargs)
        self.asked.append(host)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(2, 1, 6, "", (address, int(port)))]  # AF_INET, SOCK_STREAM, TCP


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> Dns:
    loop = asyncio.get_running_loop()
    resolver = Dns(loop.getaddrinfo)
    monkeypatch.setattr(loop, "getaddrinfo", resolver.getaddrinfo)
    return resolver


@dataclass
class Listener:
    """A server on 127.0.0.1 standing for an internal service: counts connections, keeps each request
    head (and the TLS server name asked for), answers 204."""

    port: int = 0
    connections: int = 0
    heads: list[str] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.heads.append((await reader.readuntil(b"\r\n\r\n")).decode("latin-1"))
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
        writer.close()

    def host_headers(self) -> list[str]:
        return [
            line.split(":", 1)[1].strip()
            for head in self.heads
            for line in head.split("\r\n")
            if line.lower().startswith("host:")
        ]


@asynccontextmanager
async def listener(tls: ssl.SSLContext | None = None) -> AsyncIterator[Listener]:
    state = Listener()

    def note_server_name(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        state.server_names.append(name)

    if tls is not None:
        tls.sni_callback = note_server_name
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


def certificate(host: str, directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for `host` (the file a client trusts) and a server context with it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return cert_file, server


async def delivered(h: Hooks, endpoint: WebhookEndpoint) -> tuple[str, DeliveryAttempt]:
    """Emit one event to `endpoint` and wait for its delivery (one attempt: schedule "0")."""
    [event_id] = await h.emit()
    result = await finished(None, h, event_id, endpoint.id)
    [delivery] = await h.store.deliveries("demo", endpoint_id=endpoint.id)
    assert delivery.id is not None
    [attempt] = await h.store.attempts(delivery.id)
    return result, attempt


@pytest.mark.parametrize(
    "literal",
    [
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "[64:ff9b:1::a00:1]",  # local-use NAT64
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:a9fe:a9fe]",  # IPv4-mapped 169.254.169.254 (cloud metadata)
        "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1
        "[::7f00:1]",  # IPv4-compatible (deprecated) 127.0.0.1
        "224.0.0.1",
        "100.64.0.1",
    ],
)
async def test_literals_reaching_private_addresses_are_refused_at_registration(literal: str) -> None:
    problem = await endpoint_problem(f"https://{literal}/hook", ["127.0.0.1"])
    assert problem is not None and "not a public address" in problem


async def test_literals_embedding_public_addresses_pass() -> None:
    for literal in ("[64:ff9b::808:808]", "[2002:808:808::]", "[2606:4700::1111]", PUBLIC):
        assert await endpoint_problem(f"https://{literal}/hook", []) is None


async def test_a_host_rebound_to_loopback_after_the_check_gets_no_connection(
    dev_env: WorkflowEnvironment, db_url: str, dns: Dns
) -> None:
    async with listener() as internal, hooks(dev_env.client, db_url, webhook_schedule="0") as h:
        dns.answer("rebind.test", PUBLIC, "127.0.0.1")
        endpoint = await h.endpoint(url=f"https://rebind.test:{internal.port}/webhooks")
        result, attempt = await delivered(h, endpoint)
    assert result == "failed" and attempt.status_code is None
    assert "refused to connect: rebind.test resolves to 127.0.0.1" in (attempt.error or "")
    assert dns.asked == ["rebind.test", "rebind.test"]  # the check, then the connection's own look-up
    assert internal.connections == 0


async def test_a_private_oauth_token_url_is_refused_at_attempt_time(
    dev_env: WorkflowEnvironment, db_url: str, dns: Dns
) -> None:
    async with listener() as internal, hooks(dev_env.client, db_url, webhook_schedule="0") as h:
        token_url = f"https://idp.test:{internal.port}/oauth/token"
        dns.answer("idp.test", PUBLIC)
        assert await endpoint_problem(token_url, ["127.0.0.1"]) is None  # registration accepts it
        dns.answer("idp.test", "127.0.0.1")  # re-pointed afterwards
        oauth = {"token_url": token_url, "client_id": "payflow", "client_secret": "receiver-secret"}
        endpoint = await h.endpoint(oauth=oauth)
        result, attempt = await delivered(h, endpoint)
    assert result == "failed"
    assert attempt.error == "BlockedUrl: idp.test resolves to 127.0.0.1, which is not a public address"
    assert internal.connections == 0 and h.receiver.received == []


async def test_a_redirect_is_not_followed(dev_env: WorkflowEnvironment, db_url: str) -> None:
    async with listener() as internal, hooks(dev_env.client, db_url, webhook_schedule="0") as h:
        target = f"http://127.0.0.1:{internal.port}/internal"  # allow-listed here: only the policy stops it
        h.receiver.named["moved"] = Behaviour(down=True, failure_status=302, location=target)
        result, attempt = await delivered(h, await h.endpoint(path="/webhooks/moved"))
    assert result == "failed" and attempt.status_code == 302
    assert attempt.error == f"HTTP 302: redirect to {target} not followed"
    assert [r["answered"] for r in h.receiver.received] == [302]
    assert internal.connections == 0


async def test_the_connection_goes_to_the_checked_address_with_the_hosts_name_tls_and_host_header(
    dev_env: WorkflowEnvironment, db_url: str, dns: Dns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pinned.test` exists only in the test's resolver, so reaching the server proves the worker
    connected to the address it checked; the certificate is valid for `pinned.test` only, so the TLS
    handshake proves SNI and verification used the URL's host, not the address."""
    trusted, tls = certificate("pinned.test", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))  # read when the worker builds its egress client
    dns.answer("pinned.test", "127.0.0.1")
    async with (
        listener(tls) as server,
        hooks(dev_env.client, db_url, webhook_schedule="0", webhook_allow_hosts="pinned.test") as h,
    ):
        endpoint = await h.endpoint(url=f"https://pinned.test:{server.port}/webhooks")
        result, attempt = await delivered(h, endpoint)
    assert (result, attempt.status_code) == ("succeeded", 204), attempt.error
    assert server.server_names == ["pinned.test"]
    assert server.host_headers() == [f"pinned.test:{server.port}"]
    assert dns.asked == ["pinned.test", "pinned.test"]
