"""Issue 20 items 7 and 9: the shipped proxy sets the client's address itself and bounds bodies at the
edge, the API trusts forwarded headers from the proxy's address alone, the simulators are not
published, and required secrets fail loudly. The compose checks read the YAML (no Docker needed);
the proxy checks run deploy/haproxy.cfg itself in front of a test API."""

from __future__ import annotations

import re
import shutil
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
import yaml

from payflow.servers import free_port
from tests.security.test_body_limits import send_100_mb
from tests.stack import StackFactory
from tests.test_api_replicas import Replica, haproxy
from tests.test_compose import COMPOSE

GRANT = {"grant_type": "client_credentials"}


def _services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return found


def test_the_api_trusts_forwarded_headers_from_the_proxy_alone() -> None:
    services = _services()
    proxy_networks = services["proxy"]["networks"]
    [(network, settings)] = proxy_networks.items()  # one network: its address there is its only one
    address = settings["ipv4_address"]
    for name in ("api-a", "api-b"):
        api = services[name]
        assert api["environment"]["FORWARDED_ALLOW_IPS"] == address, name
        assert network in api["networks"], name
    subnet = yaml.safe_load(COMPOSE.read_text())["networks"][network]["ipam"]["config"][0]["subnet"]
    assert ip_address(_default(address)) in ip_network(_default(subnet))


def _default(value: str) -> str:
    """The default of a `${VAR:-default}` value."""
    found = re.fullmatch(r"\$\{\w+:-([^}]+)\}", value)
    assert found, value
    return found.group(1)


def test_only_the_proxy_is_published_beyond_loopback() -> None:
    for name, service in _services().items():
        for port in service.get("ports", []):
            if name != "proxy":
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_required_secrets_fail_loudly_when_missing() -> None:
    text = COMPOSE.read_text()
    secret_like = re.compile(r"\$\{(\w*(?:PASSWORD|SECRET)\w*)(:?[-?])?")
    found = secret_like.findall(text)
    assert found, "no password variable at all?"
    defaulted = {name for name, how in found if how != ":?" and not name.startswith("PAYFLOW_SIM_")}
    assert not defaulted, f"these passwords have a silent default: {defaulted}"


HAPROXY = shutil.which("haproxy")


@pytest.mark.skipif(HAPROXY is None, reason="no haproxy (tests/setup-system.sh installs it)")
async def test_the_proxy_sets_the_clients_address_and_bounds_bodies(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    async with make_stack(with_worker=False, token_rate_per_address="3/minute") as stack:
        api = Replica({})
        api.port = int(stack.settings.api_url.rsplit(":", 1)[1])
        async with haproxy(free_port(), api, api, tmp_path / "haproxy.sock") as proxy:
            statuses = []
            for n in range(4):  # each request claims another address
                r = await stack.http.post(
                    f"{proxy.url}/connect/token",
                    data=GRANT,
                    auth=("nobody", "x"),
                    headers={"X-Forwarded-For": f"6.6.6.{n}"},
                )
                statuses.append(r.status_code)
            assert statuses == [401, 401, 401, 429], "the per-address limit was bypassed"

            for path, shape in (("/v1/cases", "code"), ("/api/GetControlNumber", "error_occured")):
                status, headers, body, sent = await send_100_mb(proxy.url, path, declared=True)
                assert status == 413 and shape in body, body
                assert "uvicorn" not in headers.get("server", ""), "answered by the API, not the proxy"
                assert sent < 1024 * 1024
