"""Worker wiring: the activities with their store and HTTP clients, and every workflow, on one queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.bulk_bills import BulkBiller, JsonBulkBiller
from activities.claims import ClaimActivities
from activities.gateway import GatewayActivities
from activities.gepg_bulk_bills import GepgBulkBiller
from activities.gepg_gateway import GepgGateway
from activities.payment_intent import IntentActivities
from activities.pool import PoolActivities
from activities.reconciliation import ReconciliationActivities
from activities.sms import SmsActivities
from activities.webhooks import EventRelay, WebhookActivities
from domain.intent import GatewayProtocol
from infra.egress import egress_client
from infra.settings import Settings
from infra.ssrf import allowed_hosts
from payflow.temporal_setup import WORKFLOWS
from payflow.worker_telemetry import AttemptLog
from store.db import make_engine, session_factory
from store.payments import PaymentStore
from store.pool import PoolStore
from store.registry import SqlRegistry
from store.webhooks import WebhookStore

SANDBOXED = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("domain", "workflows", "activities")
)
"""The runner the tests keep: our own modules hold no state and do no I/O at import, so the sandbox
takes them as imported instead of importing them again for every workflow run; its checks on calls
(clocks, I/O, non-deterministic modules) still apply."""
UNSANDBOXED = UnsandboxedWorkflowRunner()
"""Production's runner (`payflow worker`): the sandbox costs a worker about as much CPU per flow as
the workflow code itself (`python -m bench.sandbox`). Determinism is checked where it is cheap: every
test worker and the replay of every recorded history run sandboxed, so a workflow that reads a clock,
does I/O or keeps state between runs fails there, not in production."""


def bulk_biller(settings: Settings, http: httpx.AsyncClient) -> BulkBiller:
    """The deployment's gateway protocol bills the pool: the pool is not tied to an intent."""
    if settings.gateway_protocol == GatewayProtocol.GEPG:
        return GepgBulkBiller(settings, GepgGateway.from_settings(settings, http))
    return JsonBulkBiller(settings, http)


@asynccontextmanager
async def worker(
    client: Client,
    settings: Settings,
    task_queue: str | None = None,
    interceptors: Sequence[Interceptor] = (),
    substitutes: Mapping[str, Callable[..., Any]] | None = None,
    *,
    sandboxed: bool = True,
) -> AsyncIterator[Worker]:
    """A running worker with every workflow and activity; stops cleanly when the block ends.
    The fault tests fail activities after their commit (`interceptors`) or put other activities in
    place of real ones (`substitutes`, by activity name); `sandboxed=False` is production's."""
    substitutes = substitutes or {}
    engine = make_engine(
        settings.database_url, settings.worker_db_connections, settings.db_pool_timeout_s, pre_ping=False
    )
    sessions = session_factory(engine)
    payments = PaymentStore(sessions)
    limits = httpx.Limits(
        max_connections=settings.worker_max_activities + settings.worker_max_local_activities
    )
    async with (
        httpx.AsyncClient(limits=limits) as http,
        egress_client(allowed_hosts(settings.webhook_allow_hosts), limits) as customers,
    ):
        webhook_store = WebhookStore(sessions)
        relay = EventRelay(settings, webhook_store)
        webhooks = WebhookActivities(settings, customers, webhook_store, relay)
        intents = IntentActivities(settings, sessions, payments, SqlRegistry(sessions), relay)
        gateway = GatewayActivities(settings, http, payments)
        sms = SmsActivities(settings, http, sessions, payments)
        reconciliation = ReconciliationActivities(settings, http, sessions)
        claims = ClaimActivities(sessions, relay)
        pool = PoolActivities(PoolStore(sessions), payments, bulk_biller(settings, http), relay)
        w = Worker(
            client,
            task_queue=task_queue or settings.task_queue,
            graceful_shutdown_timeout=timedelta(seconds=20),
            interceptors=[AttemptLog(), *interceptors],
            workflow_runner=SANDBOXED if sandboxed else UNSANDBOXED,
            max_concurrent_activities=settings.worker_max_activities,
            max_concurrent_local_activities=settings.worker_max_local_activities,
            max_concurrent_workflow_tasks=settings.worker_max_workflow_tasks,
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.worker_sticky_timeout_s),
            workflows=list(WORKFLOWS),
            activities=[
                fn
                for fn in (
                    intents.value_intent,
                    intents.assign_internal_control_number,
                    intents.store_control_number,
                    intents.record_status,
                    intents.move_status,
                    intents.record_receipt,
                    intents.match_payment,
                    pool.take_pool_number,
                    pool.pool_shortfalls,
                    pool.request_pool_numbers,
                    gateway.cancel_bill,
                    gateway.post_bill,
                    sms.send_sms,
                    sms.resend_sms,
                    reconciliation.fetch_statement,
                    reconciliation.compare_statement,
                    reconciliation.reconcile_statement,
                    reconciliation.feed_payment,
                    reconciliation.open_reconciliation_days,
                    reconciliation.finish_reconciliation_day,
                    claims.create_case,
                    claims.record_settlement,
                    claims.record_case_change,
                    claims.cancel_revision,
                    webhooks.attempt,
                    webhooks.finish_delivery,
                )
                if fn.__name__ not in substitutes
            ]
            + list(substitutes.values()),
        )
        sweep = asyncio.create_task(relay.sweep(client, settings.relay_sweep_s))
        try:
            async with w:
                yield w
        finally:
            sweep.cancel()
            await engine.dispose()
