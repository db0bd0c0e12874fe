"""What keeps /connect/token from being used to stall the API or to probe it.

- Client secrets are checked with scrypt (~40 ms of CPU each) in a bounded thread pool, never on the
  event loop: a flood of guesses queues there while every other request is served.
- An unknown client id costs the same scrypt work as a known one (`verify_secret` with no hash), so
  timing does not tell which client ids exist.
- Every token request counts against its client id from its source address, and against that
  address (moving windows of the `limits` library, in this process's memory: with N API processes a
  client gets up to N times the rate); past either limit the answer is 429 with Retry-After, before
  any hashing. Per client id *and* address, so that a stranger who knows a client id and sends wrong
  secrets exhausts only his own window, never the client's (a lock-out); a guess is hopeless anyway
  against a random 256-bit secret, and each address is bounded by its own limit.
"""

from __future__ import annotations

import math
import time

from anyio import CapacityLimiter, to_thread
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from domain.credentials import verify_secret
from infra.settings import Settings


class TokenGuard:
    def __init__(self, settings: Settings) -> None:
        self._hashing = CapacityLimiter(settings.token_hash_threads)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_client = parse(settings.token_rate_per_client)
        self._per_address = parse(settings.token_rate_per_address)

    def retry_after(self, client_id: str, address: str) -> int | None:
        """Count one request; None when it may go on, else the seconds until it may be retried. A request
        that names no client id (a private_key_jwt assertion without `client_id`) counts per address only."""
        checks = [(self._per_address, ("address", address))]
        if client_id:
            checks.append((self._per_client, ("client", client_id, address)))
        for limit, key in checks:
            if not self._limiter.hit(limit, *key):
                reset = self._limiter.get_window_stats(limit, *key).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    async def secret_matches(self, secret: str, stored: str | None) -> bool:
        """`verify_secret` in the bounded pool; `stored` None for an unknown or missing client."""
        return await to_thread.run_sync(verify_secret, secret, stored, limiter=self._hashing)
