"""Temporal client wiring shared by the API, the CLI and the tests: converter, connection, search
attributes, schedules. The worker's wiring (activities and their clients) is in `payflow.workers`."""

from __future__ import annotations

import asyncio
import dataclasses
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
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from domain.reconciliation import ReconciliationInput
from domain.sms import ResendInput
from payflow.codec import EncryptionCodec, KeyRing
from payflow.settings import Settings
from payflow.temporal_access import TemporalConnectError, connect_options, explain
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


def data_converter(settings: Settings) -> DataConverter:
    """The pydantic converter with the payload encryption codec; failure messages and stack traces go
    into encoded attributes too, since an exception's text can quote personal data. Raises
    `CodecKeyError` without keys: no process talks to Temporal in clear."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(KeyRing.load(settings.codec_keys, settings.codec_keys_path)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """The process' client, the one place a client is built from the PAYFLOW_TEMPORAL_* settings
    (address, namespace, TLS, mTLS, API key); its workers use its converter and its runtime (the
    default one unless given: a worker passes the one that exports its metrics). Raises
    `TemporalConnectError` with what is wrong in one line."""
    options = connect_options(settings)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(settings),
            runtime=runtime,
            **options,
        )
    except RuntimeError as exc:  # the SDK's "Failed client connect: <transport error chain>"
        raise TemporalConnectError(explain(settings, exc)) from exc


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
