"""payflow's own worker metrics, recorded by activities through the Temporal runtime's meter.

The worker's Prometheus exporter (`payflow.worker_telemetry`) serves them beside the SDK's metrics;
without one (tests, a worker with no WORKER_METRICS_ADDRESS) the meter records nothing. Each series
also carries the meter's `namespace`, `task_queue` and `activity_type` labels.

Counters count writes that took effect (a status change, a match, an attempt logged), not attempts;
an activity whose write committed but whose answer was lost counts it again when retried (rare).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import Runtime

from domain.status import PaymentStatus

WEBHOOK_LATENCY = "payflow_webhook_latency_seconds"
WEBHOOK_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
"""Up to the 15 s attempt timeout."""


def intent_status(status: PaymentStatus) -> None:
    """An intent reached `status` (`payflow_intents_total{status="matched"}`)."""
    activity.metric_meter().create_counter(
        "payflow_intents", "payment intents that reached a status, by status"
    ).add(1, {"status": status.label})


def match(matched: bool) -> None:
    """A matching run ended (`payflow_matches_total{result="matched"|"unmatched"}`)."""
    activity.metric_meter().create_counter("payflow_matches", "payment matching runs by result").add(
        1, {"result": "matched" if matched else "unmatched"}
    )


def _meter(client: Client) -> MetricMeter:
    """The activity's meter; outside one (the outbox relay's first attempts) the client's runtime's,
    which is the worker's."""
    if activity.in_activity():
        return activity.metric_meter()
    return (client.service_client.config.runtime or Runtime.default()).metric_meter


def delivery_attempt(client: Client, result: str, latency_s: float | None) -> None:
    """A webhook attempt was logged: its result, and the receiver's latency when one was called."""
    meter = _meter(client)
    meter.create_counter("payflow_delivery_attempts", "webhook delivery attempts by result").add(
        1, {"result": result}
    )
    if latency_s is not None:
        meter.create_histogram_float(
            WEBHOOK_LATENCY, "webhook receivers' answer time, by attempt result", "s"
        ).record(latency_s, {"result": result})


def delivery_finished(client: Client, status: str) -> None:
    """A delivery series ended (`payflow_deliveries_total{status="succeeded"|"failed"}`)."""
    _meter(client).create_counter("payflow_deliveries", "finished webhook deliveries by status").add(
        1, {"status": status}
    )
