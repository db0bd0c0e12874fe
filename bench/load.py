"""Open-loop load: requests sent on a fixed schedule whatever the answers, as real clients arrive.

A closed loop (send the next request when one answers) slows down with the server and hides its
queue; here request i leaves at start + i / rate, each in its own task, so a slow server piles up
requests in flight exactly as it would in production.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from payflow.demo import INTENT

SEED = {
    "phone_number": "0681333045",
    "request_date": "2021-03-12",
    "enrolment_officer_code": "E00005",
    "policies": [{"insurance_number": "070707070", "insurance_product_code": "FCUL0001", "renewal": 1}],
    "amount_to_be_paid": 21000,
    "language": "en",
    "type_of_payment": 1,
    "smsRequired": True,
}
"""The issue's sample GetControlNumber (an officer's renewal with an SMS)."""
SELF_PAYER = INTENT
"""`POST /v1/payment-intents` body of a self-payer renewal (the demo's): matched once paid."""


@dataclass
class Answer:
    status: int
    """HTTP status; 0 when there was no answer (connection error, client timeout)."""
    ok: bool
    retry_after: bool = False


@dataclass
class Outcome:
    at_s: float
    """When it was sent, from the start of the schedule."""
    latency_s: float
    answer: Answer

    @property
    def shed(self) -> bool:
        """Refused at once for overload: 503 with Retry-After."""
        return self.answer.status == 503 and self.answer.retry_after


Call = Callable[[], Awaitable[Answer]]


async def open_loop(call: Call, rate: float, seconds: float) -> list[Outcome]:
    """Send `rate × seconds` calls on schedule; every outcome once all have answered or timed out."""
    outcomes: list[Outcome] = []

    async def one(at: float) -> None:
        t0 = time.perf_counter()
        try:
            answer = await call()
        except httpx.HTTPError:
            answer = Answer(0, False)
        outcomes.append(Outcome(at, time.perf_counter() - t0, answer))

    start = time.perf_counter()
    tasks = []
    for i in range(round(rate * seconds)):
        at = i / rate
        await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)
    return sorted(outcomes, key=lambda o: o.at_s)


def percentile(values: Sequence[float], p: int) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    if len(data) == 1:
        return data[0]
    return statistics.quantiles(data, n=100, method="inclusive")[p - 1]


def summary(outcomes: Sequence[Outcome], seconds: float | None = None) -> dict[str, Any]:
    """Count, failures (neither a success nor a clean 503), 503s, latency percentiles in ms over
    every request (failed ones included, at the time they took)."""
    latencies = [o.latency_s for o in outcomes]
    ok = sum(o.answer.ok for o in outcomes)
    shed = sum(o.shed for o in outcomes)
    result: dict[str, Any] = {
        "requests": len(outcomes),
        "ok": ok,
        "shed_503": shed,
        "failed": len(outcomes) - ok - shed,
        **{f"p{p}_ms": round(percentile(latencies, p) * 1000, 1) for p in (50, 95, 99)},
        "max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
    }
    if seconds:
        result["ok_per_s"] = round(ok / seconds, 2)
    return result


class ControlNumbers:
    """`POST /api/GetControlNumber` with the seed body; ok when it answers with a control number."""

    def __init__(self, http: httpx.AsyncClient, url: str, token: str | None, body: dict[str, Any] = SEED):
        self._http = http
        self._url = f"{url}/api/GetControlNumber"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._body = body
        self.identifiers: list[str] = []
        """internal_identifier of every successful answer, in answer order."""
        self.clock: dict[str, tuple[float, float]] = {}
        """Wall-clock send and answer times of each successful answer, by identifier."""

    async def __call__(self) -> Answer:
        sent = time.time()
        r = await self._http.post(self._url, json=self._body, headers=self._headers)
        ok = False
        if r.status_code == 200:
            answer = r.json()
            ok = answer.get("error_occured") is False and bool(answer.get("control_number"))
            if ok:
                identifier = str(answer["internal_identifier"])
                self.identifiers.append(identifier)
                self.clock[identifier] = (sent, time.time())
        return Answer(r.status_code, ok, "retry-after" in r.headers)


def client(timeout_s: float) -> httpx.AsyncClient:
    """One pooled client for a load run, with room for every request a slow server keeps in flight."""
    return httpx.AsyncClient(timeout=timeout_s, limits=httpx.Limits(max_connections=4000))
