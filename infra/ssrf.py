"""SSRF guard for customer URLs (webhook endpoints, their OAuth token URLs): https, and public addresses
only, unless the host is allow-listed.

Checked when an endpoint is registered and again before every attempt; the connection itself goes
through `infra.egress`, which checks the address it connects to, so DNS changed between this check
and the connection (DNS rebinding) gains nothing. A tenant registering a URL is told only that a host
is not an allowed public address (`tenant_problem`): what a name resolves to here, or whether it
resolves at all, would map the deployment's internal names for it. Operators and attempts keep the
detail (`endpoint_problem`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import urlsplit

from domain.webhooks import addresses_problem, url_problem

log = logging.getLogger(__name__)


def allowed_hosts(setting: str) -> list[str]:
    return [h.strip().lower() for h in setting.split(",") if h.strip()]


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to now (raises socket.gaierror when it does not resolve)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def endpoint_problem(url: str, allowed: list[str]) -> str | None:
    """Why `url` may not be called, or None."""
    problem = url_problem(url, allowed)
    if problem is not None:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = await resolve(host, parts.port or 443)
    except socket.gaierror:
        return f"{host} does not resolve"
    return addresses_problem(host, addresses, allowed)


async def tenant_problem(url: str, allowed: list[str]) -> str | None:
    """Why a tenant may not register `url`, or None: what the URL itself shows (scheme, a literal
    address), else one answer whatever its host resolves to; the detail goes to the log."""
    problem = url_problem(url, allowed)
    if problem is not None:
        return problem
    detail = await endpoint_problem(url, allowed)
    if detail is None:
        return None
    log.info("endpoint URL %s refused: %s", url, detail)
    return f"{urlsplit(url).hostname} is not an allowed public address"
