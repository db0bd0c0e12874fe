"""Webhook delivery rules: Standard Webhooks signing, the retry schedule, endpoint URL policy.

Signing follows Standard Webhooks v1 exactly: `whsec_`-prefixed base64 secrets, HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}`, header `webhook-signature: v1,<base64> [v1,<base64> …]`
with one signature per still-valid secret, so receivers keep verifying through a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence
from datetime import timedelta
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"
DEFAULT_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
"""Seconds before each attempt (Svix's hosted schedule: 8 attempts over about 27.6 h)."""
JITTER = 0.2
MAX_RETRY_AFTER = timedelta(hours=1)
RESPONSE_LIMIT = 4096
TIMEOUT_S = 15.0
DISABLE_AFTER = timedelta(days=5)


def secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secrets start with whsec_")
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def new_secret(random_bytes: bytes) -> str:
    """A secret from 24–64 random bytes (the caller draws them: domain code has no randomness)."""
    if not 24 <= len(random_bytes) <= 64:
        raise ValueError("a webhook secret has 24 to 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def signature(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(msg_id: str, timestamp: int, body: bytes, secrets: Iterable[str]) -> str:
    return " ".join(signature(msg_id, timestamp, body, s) for s in secrets)


def verify(msg_id: str, timestamp: int, body: bytes, header: str, secret: str) -> bool:
    """True when any of the header's signatures is this secret's (constant-time comparison)."""
    expected = signature(msg_id, timestamp, body, secret)
    return any(hmac.compare_digest(expected, candidate) for candidate in header.split())


def next_delay(
    schedule: Sequence[int], attempt: int, jitter: float, retry_after: float | None
) -> timedelta | None:
    """The wait before attempt number `attempt` (1-based), or None when the schedule is used up.

    `jitter` is drawn in [0, 1) by the workflow (`workflow.random()`) and spreads the delay ±20 %.
    A `Retry-After` the receiver sent (429/503) is honoured, between that delay and one hour.
    """
    if attempt > len(schedule):
        return None
    base = schedule[attempt - 1] * (1 + JITTER * (2 * jitter - 1))
    if retry_after is not None:
        base = max(base, min(retry_after, MAX_RETRY_AFTER.total_seconds()))
    return timedelta(seconds=base)


def retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None  # an HTTP-date is rare from webhook receivers; the schedule applies


def url_problem(url: str, allowed_hosts: Sequence[str]) -> str | None:
    """What is wrong with an endpoint URL before any look-up: scheme, host, literal private IPs."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return "the URL has no host"
    if host in allowed_hosts:
        return None if parts.scheme in ("http", "https") else "only http(s) URLs can receive webhooks"
    if parts.scheme != "https":
        return "endpoint URLs must use https"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return None if public_address(host) else f"{host} is not a public address"


def addresses_problem(host: str, addresses: Iterable[str], allowed_hosts: Sequence[str]) -> str | None:
    """SSRF guard after resolution: every address a host resolves to must be public."""
    if host.lower() in allowed_hosts:
        return None
    for address in addresses:
        if not public_address(address):
            return f"{host} resolves to {address}, which is not a public address"
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NOT_GLOBAL_V6 = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b:1::/48", "2001:db8::/32", "3fff::/20", "5f00::/16")
)
"""Not globally reachable (IANA registry) although Python 3.11's tables call them global: local-use
NAT64, which may embed an IPv4 address anywhere, documentation and SRv6 SIDs."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped, 6to4, Teredo (server and client),
    well-known NAT64 and the deprecated IPv4-compatible form all reach an IPv4 host."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def public_address(text: str) -> bool:
    """Whether connecting to `text` reaches the public internet only: a global unicast address, and so
    is every IPv4 address embedded in it (`[64:ff9b::7f00:1]` is 127.0.0.1 through NAT64)."""
    address = ipaddress.ip_address(text.split("%")[0])
    reached: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in n for n in _NOT_GLOBAL_V6):
            return False
        reached += _embedded_ipv4(address)
    return all(a.is_global and not a.is_multicast for a in reached)


def matches(event_type: str, filters: Sequence[str]) -> bool:
    """An endpoint with no filter takes every event; `payment.*` takes every `payment.` type."""
    return not filters or any(
        f == event_type or (f.endswith(".*") and event_type.startswith(f[:-1])) for f in filters
    )
