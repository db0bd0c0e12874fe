"""The HTTP client for calls to customer URLs (webhooks, customers' OAuth token URLs).

Checking a URL and then letting httpx connect by name leaves a gap: httpx resolves the name again, and
a host can answer a public address to the check and 127.0.0.1 to the connection (DNS rebinding). Here
the connection itself resolves the name once, checks every address with the SSRF rules and connects
to a checked address. It does so below httpcore's TLS layer, so the `Host` header, TLS SNI and the
certificate check keep the URL's host name, and pooled connections stay keyed by that name.
Redirects are never followed: a 3xx is the receiver's answer, and the attempt fails with it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import httpcore
import httpx

from domain.webhooks import addresses_problem
from infra.ssrf import resolve


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses that pass the SSRF check."""

    def __init__(self, allowed: list[str]) -> None:
        self._allowed = allowed
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port)
        except TimeoutError as err:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from err
        except socket.gaierror as err:
            raise httpcore.ConnectError(f"{host} does not resolve") from err
        problem = addresses_problem(host, addresses, self._allowed)
        if problem is not None:
            raise httpcore.ConnectError(f"refused to connect: {problem}")
        failure: httpcore.ConnectError | None = None
        for address in dict.fromkeys(addresses):  # every one was checked; the first that answers
            try:
                return await self._backend.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as err:
                failure = err
        raise failure or httpcore.ConnectError(f"{host} has no address")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on an httpcore pool that connects through `PinnedBackend`.

    httpx 0.28 takes no network backend, so the pool it would build is replaced by one that does
    (`tests/webhooks/test_egress.py` fails if a later httpx stops sending connections through it).
    Never a proxy: a proxy would connect by name, past the check."""

    def __init__(self, allowed: list[str], limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(allowed),
        )


def egress_client(allowed: list[str], limits: httpx.Limits) -> httpx.AsyncClient:
    """The worker's client for customer URLs: checked, pinned connections; no redirect, no proxy."""
    return httpx.AsyncClient(transport=PinnedTransport(allowed, limits), follow_redirects=False)
