"""SSRF guard for webhook endpoints: https, and public addresses only, unless the host is allow-listed.

Checked when an endpoint is registered and again before every attempt (DNS can change in between).
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from domain.webhooks import addresses_problem, url_problem


def allowed_hosts(setting: str) -> list[str]:
    return [h.strip().lower() for h in setting.split(",") if h.strip()]


async def endpoint_problem(url: str, allowed: list[str]) -> str | None:
    """Why webhooks may not be sent to `url`, or None."""
    problem = url_problem(url, allowed)
    if problem is not None:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"{host} does not resolve"
    return addresses_problem(host, [str(info[4][0]) for info in infos], allowed)
