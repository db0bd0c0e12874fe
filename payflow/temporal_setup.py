"""Temporal set-up shared by the CLI, the dev stack and the tests: the workflows a worker runs, search
attributes, schedules. The connection itself is `infra.temporal`; the worker's wiring (activities and
their clients) is `payflow.workers`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.reconciliation import ReconciliationInput
from domain.sms import ResendInput
from infra.settings import Settings
from workflows import search_attributes
from workflows.claim import ClaimWorkflow
from workflows.payment_intent import PaymentIntentWorkflow
from workflows.pool_topup import PoolTopUpWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.sms_resend import SmsResendWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

WORKFLOWS: Sequence[type] = (
    PaymentIntentWorkflow,
    ReconciliationWorkflow,
    ClaimWorkflow,
    WebhookDeliveryWorkflow,
    PoolTopUpWorkflow,
    SmsResendWorkflow,
)
RECONCILIATION_SCHEDULE = "payflow-reconciliation"
POOL_SCHEDULE = "payflow-pool-topup"
SMS_RESEND_ID = "sms-resend"


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


_T = TypeVar("_T")


async def once_namespace_serves(step: Callable[[], Awaitable[_T]], within_s: float = 30) -> _T:
    """`step()`, retried while the frontend still answers "namespace not found": a namespace just
    registered reaches the frontend's namespace cache only after its next refresh (up to ~10 s)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await step()
        except RPCError as err:
            unknown = err.status is RPCStatusCode.NOT_FOUND and "amespace" in err.message
            if not unknown or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def ensure_sms_resend(client: Client, settings: Settings) -> bool:
    """The SMS resend sweep (one workflow that runs for good, continuing as new); False when it runs."""
    try:
        await client.start_workflow(
            SmsResendWorkflow.run,
            ResendInput(every_s=settings.sms_resend_s),
            id=SMS_RESEND_ID,
            task_queue=settings.task_queue,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def ensure_pool_schedule(client: Client, settings: Settings) -> bool:
    """The control-number pool top-up every POOL_CHECK_S with the POOL_* settings, first run at once;
    an existing schedule takes the current settings. False when it already existed."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            PoolTopUpWorkflow.run, settings.pool_topup, id="pool-topup", task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.pool_check_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(POOL_SCHEDULE, schedule, trigger_immediately=True)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(POOL_SCHEDULE).update(lambda _: ScheduleUpdate(schedule=schedule))
        return False
    return True
