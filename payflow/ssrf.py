"""SSRF guard for customer URLs (webhook endpoints, their OAuth token URLs): https, and public addresses
only, unless the host is allow-listed.

Checked when an endpoint is registered and again before every attempt; the connection itself goes
through `payflow.egress`, which checks the address it connects to, so DNS changed between this check
and the connection (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from domain.webhooks import addresses_problem, url_problem


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
