"""Replaying webhook deliveries (support): the same webhook-id, a new series of attempts.

Shared by the API (`POST /v1/deliveries/…/replay`) and the CLI (`payflow deliveries replay`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from domain.delivery_flow import delivery_workflow_id
from infra.delivery_start import start_delivery
from infra.settings import Settings
from store.models import Delivery
from store.webhooks import WebhookStore, delivery_input

CONCURRENCY = 16


@dataclass(frozen=True)
class ReplayReport:
    matched: int
    replayed: int
    skipped: int
    """Deliveries whose workflow is still running: replaying them would race their own attempts."""


FINISHING_S = 5.0


async def running(client: Client, delivery: Delivery) -> bool:
    """Is the delivery still being attempted? One recorded as finished gets a moment to close."""
    handle = client.get_workflow_handle(delivery_workflow_id(delivery.event_id, delivery.endpoint_id))
    try:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return False
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    if delivery.status == "pending":
        return True
    try:  # its last activity recorded the outcome; the workflow closes right after
        async with asyncio.timeout(FINISHING_S):
            await handle.result()
    except TimeoutError:
        return True
    return False


async def replay(client: Client, settings: Settings, store: WebhookStore, delivery: Delivery) -> bool:
    """Start a new attempt series; False when the delivery is still being attempted."""
    if await running(client, delivery):
        return False
    assert delivery.id is not None
    delivery.series = await store.next_series(delivery.id)
    delivery.status = "pending"
    return await start_delivery(client, settings, delivery_input(delivery), replay=True)


async def replay_all(
    client: Client,
    settings: Settings,
    store: WebhookStore,
    deliveries: Sequence[Delivery],
    progress: Callable[[], None] | None = None,
) -> ReplayReport:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery: Delivery) -> bool:
        async with limit:
            done = await replay(client, settings, store, delivery)
        if progress is not None:
            progress()
        return done

    results = await asyncio.gather(*(one(d) for d in deliveries))
    replayed = sum(results)
    return ReplayReport(matched=len(deliveries), replayed=replayed, skipped=len(deliveries) - replayed)
