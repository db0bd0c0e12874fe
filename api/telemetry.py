"""Prometheus metrics and one log line per request for the API.

Labels are the route template (`/v1/payment-intents/{intent_id}`), never the raw path: paths carry
revision tokens and control numbers, and a fuzzer's random paths would grow the series without bound
(unmatched paths count as `unmatched`). The request line names the token's tenant when the route
authorised one (`api.auth.authorize` leaves it in the request state).

`/metrics` answers without a token, like a health probe: Prometheus scrapes unauthenticated by
default, and what it shows (routes, status codes, timings, process figures) names no tenant, id or
person. A deployment that must not expose it keeps the path off its public ingress. With
`payflow api --workers N` each process counts its own requests; a scrape reaches one of them.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.logs import fields

REQUESTS = Counter(
    "payflow_http_requests",
    "API requests by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "payflow_http_request_duration_seconds",
    "API request latency (until the response is sent) by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
log = logging.getLogger("payflow.requests")
router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus text exposition of this process' registry."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class RequestTelemetry:
    """Pure ASGI middleware (no per-request task or body buffering, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception that escapes becomes a 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if self.access_log:
                tenant = scope.get("state", {}).get("tenant")
                log.info(
                    "request",
                    extra=fields(
                        method=method,
                        route=route,
                        status=status,
                        duration_ms=round(elapsed * 1000, 1),
                        tenant=tenant,
                    ),
                )
