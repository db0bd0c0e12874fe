"""The webhook receiver simulator with a count of the deliveries it accepted, per path, and when.

`simulators.receiver` keeps every request but not its time; the benchmark needs when the last of N
deliveries arrived. Runs in the interpreter under test:
`python -m uvicorn --factory receiver_stats:create_app --app-dir bench/peers`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response

from simulators import receiver


def create_app() -> FastAPI:
    app = receiver.create_app()
    stats: dict[str, dict[str, Any]] = {}

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        path = request.url.path
        if request.method == "POST" and path.startswith("/webhooks") and 200 <= response.status_code < 300:
            now = time.time()
            entry = stats.setdefault(path.rsplit("/", 1)[-1], {"count": 0, "first": now, "last": now})
            entry["count"] += 1
            entry["last"] = now
        return response

    @app.get("/_bench/stats")
    async def read() -> dict[str, dict[str, Any]]:
        return stats

    return app
