"""Temporal wiring shared by the API, the worker, the CLI and the tests: converter, client, worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.claims import ClaimActivities
from activities.gateway import GatewayActivities
from activities.payment_intent import IntentActivities
from activities.reconciliation import ReconciliationActivities
from activities.sms import SmsActivities
from activities.webhooks import EventRelay, WebhookActivities
from domain.reconciliation import ReconciliationInput
from payflow.settings import Settings
from store.db import make_engine, session_factory
from store.payments import PaymentStore
from store.registry import SqlRegistry
from store.webhooks import WebhookStore
from workflows import search_attributes
from workflows.claim import ClaimWorkflow
from workflows.payment_intent import PaymentIntentWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

DATA_CONVERTER = pydantic_data_converter
WORKFLOWS: Sequence[type] = (
    PaymentIntentWorkflow,
    ReconciliationWorkflow,
    ClaimWorkflow,
    WebhookDeliveryWorkflow,
)
RECONCILIATION_SCHEDULE = "payflow-reconciliation"


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, data_converter=DATA_CONVERTER
    )


def dev_server_flags(keys: Sequence[SearchAttributeKey] = search_attributes.ALL) -> list[str]:
    """`temporal server start-dev` flags that register our search attributes."""
    flags = []
    for key in keys:
        flags += ["--search-attribute", f"{key.name}={_cli_type(key)}"]
    return flags


def _cli_type(key: SearchAttributeKey) -> str:
    return {
        SearchAttributeIndexedValueType.KEYWORD: "Keyword",
        SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
        SearchAttributeIndexedValueType.TEXT: "Text",
        SearchAttributeIndexedValueType.INT: "Int",
        SearchAttributeIndexedValueType.DOUBLE: "Double",
        SearchAttributeIndexedValueType.BOOL: "Bool",
        SearchAttributeIndexedValueType.DATETIME: "Datetime",
    }[key.indexed_value_type]


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the missing custom search attributes (a cluster, or the time-skipping test server)."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(listed.custom_attributes)
    except RPCError as err:  # the time-skipping test server only implements the "add" call
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


async def ensure_reconciliation_schedule(client: Client, settings: Settings) -> bool:
    """The daily reconciliation (06:00 UTC, yesterday's statement); False when it already exists."""
    try:
        await client.create_schedule(
            RECONCILIATION_SCHEDULE,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ReconciliationWorkflow.run,
                    ReconciliationInput(),
                    id="reconciliation",
                    task_queue=settings.task_queue,
                ),
                spec=ScheduleSpec(cron_expressions=["0 6 * * *"]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
    except ScheduleAlreadyRunningError:
        return False
    return True


@asynccontextmanager
async def worker(client: Client, settings: Settings, task_queue: str | None = None) -> AsyncIterator[Worker]:
    """A running worker with every workflow and activity; stops cleanly when the block ends."""
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    payments = PaymentStore(sessions)
    async with httpx.AsyncClient() as http:
        webhook_store = WebhookStore(sessions)
        relay = EventRelay(settings, webhook_store)
        webhooks = WebhookActivities(settings, http, webhook_store, relay)
        intents = IntentActivities(settings, sessions, payments, SqlRegistry(sessions), relay)
        gateway = GatewayActivities(settings, http, payments)
        sms = SmsActivities(settings, http, sessions, payments)
        reconciliation = ReconciliationActivities(settings, http, sessions)
        claims = ClaimActivities(sessions, relay)
        w = Worker(
            client,
            task_queue=task_queue or settings.task_queue,
            graceful_shutdown_timeout=timedelta(seconds=20),
            workflows=list(WORKFLOWS),
            activities=[
                intents.value_intent,
                intents.assign_internal_control_number,
                intents.store_control_number,
                intents.record_status,
                intents.record_receipt,
                intents.match_payment,
                gateway.cancel_bill,
                gateway.post_bill,
                sms.send_sms,
                reconciliation.fetch_statement,
                reconciliation.compare_statement,
                reconciliation.feed_payment,
                claims.create_case,
                claims.record_settlement,
                claims.record_case_change,
                claims.cancel_revision,
                webhooks.attempt,
                webhooks.finish_delivery,
            ],
        )
        try:
            async with w:
                yield w
        finally:
            await engine.dispose()
