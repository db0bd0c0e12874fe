"""A worker's metrics endpoint and its log line per activity attempt.

One endpoint per worker: the Temporal SDK's Prometheus exporter serves the SDK's runtime metrics
(`temporal_*`: task slots, poll and schedule-to-start latencies, activity and workflow outcomes) and
payflow's own counters, which activities record through the same runtime's meter
(`activities/metrics.py`), so an operator scrapes one port and payflow runs no second HTTP server.
The runtime must exist before the client: the client's runtime is the worker's.

The attempt line names workflow, run, activity, attempt, outcome, duration and the tenant when the
activity's input carries one; never the arguments or an error's message, which can quote personal
data (the error's type says enough to find the attempt in the Temporal UI).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.metrics import WEBHOOK_LATENCY, WEBHOOK_LATENCY_BUCKETS
from infra.logs import fields
from infra.settings import Settings

log = logging.getLogger("payflow.activities")


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A runtime exporting to Prometheus at WORKER_METRICS_ADDRESS; None (the default runtime, no
    endpoint) when it is empty."""
    if not settings.worker_metrics_address:
        return None
    prometheus = PrometheusConfig(
        bind_address=settings.worker_metrics_address,
        counters_total_suffix=True,
        durations_as_seconds=True,
        histogram_bucket_overrides={WEBHOOK_LATENCY: WEBHOOK_LATENCY_BUCKETS},
    )
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


class AttemptLog(Interceptor):
    """One log line per activity attempt (local activities too), however it ends."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AttemptLogInbound(next)


class _AttemptLogInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        started = time.perf_counter()
        outcome, error = "completed", None
        try:
            return await super().execute_activity(input)
        except BaseException as exc:
            outcome, error = _ending(exc), type(exc).__name__
            raise
        finally:
            info = activity.info()
            log.info(
                "activity attempt",
                extra=fields(
                    tenant=getattr(input.args[0], "tenant", None) if input.args else None,
                    workflow_id=info.workflow_id,
                    run_id=info.workflow_run_id,
                    activity=info.activity_type,
                    local=info.is_local,
                    attempt=info.attempt,
                    outcome=outcome,
                    error=error,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                ),
            )


def _ending(exc: BaseException) -> str:
    """How the attempt ended; whether another follows is the retry policy's call."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, ApplicationError) and exc.non_retryable:
        return "non_retryable_error"
    return "error"
