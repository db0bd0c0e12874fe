"""Admission of workflow starts: a bounded number in flight per API process, the rest refused at once.

A start queued behind a saturated worker holds its client for the whole update timeout and adds to the
backlog it waits on, so overload turned into 25 s answers for everyone and a jam that outlived the load.
Here a start beyond `PAYFLOW_MAX_INFLIGHT_STARTS` answers 503 with Retry-After before anything is
started or written; the admitted ones keep their latency, and nothing is left queued when load stops.
Every start path takes its slot here: `IntentService.start` (GetControlNumber, `POST /v1/payment-intents`,
payments without an intent) and `POST /v1/cases`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.errors import Unavailable
from infra.settings import Settings

RETRY_AFTER_S = 1
"""Overload passes as soon as the admitted starts finish: a client may come back after a second."""
LOG_EVERY_S = 10.0
log = logging.getLogger("payflow.api")


class Admission:
    """At most `limit` starts at once, each waiting at most `timeout_s` for its worker."""

    def __init__(self, limit: int, timeout_s: float) -> None:
        if limit < 1:
            raise ValueError("PAYFLOW_MAX_INFLIGHT_STARTS must be at least 1")
        self.limit = limit
        self.timeout_s = timeout_s
        self.in_flight = 0
        self.peak = 0
        self.refused = 0
        self._logged_at = 0.0

    @classmethod
    def of(cls, settings: Settings) -> Admission:
        return cls(settings.max_inflight_starts, min(settings.start_timeout_s, settings.update_timeout_s))

    @asynccontextmanager
    async def slot(self, what: str) -> AsyncIterator[None]:
        """Hold one of the `limit` slots while the block runs; raise `Unavailable` (503) if none is free.
        One event loop per process and no await between the check and the count: no lock needed."""
        if self.in_flight >= self.limit:
            self._refuse()
            raise Unavailable(
                f"Too many {what} requests in progress; retry after {RETRY_AFTER_S} s.",
                cause=f"{self.in_flight} starts in flight (limit {self.limit})",
                code="overloaded",
                retry_after_s=RETRY_AFTER_S,
                quiet=True,
            )
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1

    def _refuse(self) -> None:
        """Count the refusal; one summary line at most every LOG_EVERY_S, not one per shed request."""
        self.refused += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning("admission: %d starts refused so far (limit %d in flight)", self.refused, self.limit)
