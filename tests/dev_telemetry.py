"""What an operator sees of a `payflow dev` stack after `payflow demo`: Prometheus metrics on the API and
the worker, and log lines naming the request's tenant and the activity attempt's workflow."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, frozenset[tuple[str, str]]]


async def _samples(http: httpx.AsyncClient, url: str) -> dict[Sample, float]:
    text = (await http.get(url)).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _total(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """The sum over every series of `name` that has `labels` (other labels summed over)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


WORKER_SERIES = (
    ("payflow_intents_total", {"status": "created"}),
    ("payflow_intents_total", {"status": "matched"}),
    ("payflow_matches_total", {"result": "matched"}),
    ("payflow_delivery_attempts_total", {"result": "succeeded"}),
    ("payflow_deliveries_total", {"status": "succeeded"}),
    ("payflow_webhook_latency_seconds_count", {"result": "succeeded"}),
    ("temporal_activity_execution_latency_count", {}),
    ("temporal_local_activity_execution_latency_count", {}),
    ("temporal_workflow_task_execution_latency_count", {"workflow_type": "PaymentIntentWorkflow"}),
)
API_SERIES = (
    ("payflow_http_requests_total", {"route": "/v1/payment-intents", "method": "POST"}),
    ("payflow_http_request_duration_seconds_count", {"route": "/v1/payment-intents/{intent_id}"}),
    ("payflow_http_requests_total", {"route": "/connect/token", "status": "200"}),
)


async def assert_metrics_and_logs(manifest: dict[str, Any]) -> None:
    """Every named series is non-zero (deliveries finish just after the receiver answers, so the
    worker's figures are polled for a few seconds); then the logs."""
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(50):
            worker = await _samples(http, manifest["metrics"]["worker"])
            if all(_total(worker, name, **labels) > 0 for name, labels in WORKER_SERIES):
                break
            await asyncio.sleep(0.1)
        api = await _samples(http, manifest["metrics"]["api"])
    for samples, wanted in ((worker, WORKER_SERIES), (api, API_SERIES)):
        missing = [(n, ls) for n, ls in wanted if not _total(samples, n, **ls) > 0]
        assert not missing, (missing, sorted({n for n, _ in samples}))

    worker_log = Path(manifest["logs"]["worker"]).read_text()
    attempts = [ln for ln in worker_log.splitlines() if "activity attempt" in ln]
    assert any(
        "workflow_id=payment-intent-" in ln and "activity=match_payment" in ln and "outcome=completed" in ln
        for ln in attempts
    ), attempts[:5]
    assert all(" run_id=" in ln and " attempt=" in ln and " duration_ms=" in ln for ln in attempts)
    api_log = Path(manifest["logs"]["API"]).read_text()
    assert any(
        "method=POST route=/v1/payment-intents status=201" in ln and "tenant=demo" in ln
        for ln in api_log.splitlines()
    ), api_log[-2000:]
    assert "0681333045" not in worker_log + api_log  # the demo payer's phone: no personal data in logs
