"""Webhook test set-up: a receiver on 127.0.0.1, an endpoint for it, events emitted through the relay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor

from activities.webhooks import CLAIM_GRACE_S, EventRelay, WebhookActivities
from domain.delivery_flow import delivery_workflow_id
from infra.egress import egress_client
from infra.settings import Settings
from infra.ssrf import allowed_hosts
from payflow.servers import free_port, serve
from payflow.workers import worker
from simulators import receiver
from simulators.receiver import ReceiverState
from store.db import SessionFactory, make_engine, session_factory, transaction
from store.events import append
from store.models import DeliveryAttempt, WebhookEndpoint
from store.webhooks import WebhookStore, generate_secret


@dataclass
class Hooks:
    client: Client
    settings: Settings
    sessions: SessionFactory
    store: WebhookStore
    receiver: ReceiverState
    url: str
    relay: EventRelay
    customers: httpx.AsyncClient
    """The egress client the relay's first attempts go through."""

    async def endpoint(
        self, tenant: str = "demo", path: str = "/webhooks", url: str | None = None, **extra: Any
    ) -> WebhookEndpoint:
        """An endpoint at the receiver's `path`, or at `url` (another server)."""
        secret = generate_secret()
        endpoint = await self.store.create_endpoint(tenant, url or f"{self.url}{path}", secret, **extra)
        self.receiver.secrets.append(secret)
        return endpoint

    def another_relay(self) -> EventRelay:
        """Another worker's relay over the same store and receiver (they race with `relay`)."""
        relay = EventRelay(self.settings, self.store)
        WebhookActivities(self.settings, self.customers, self.store, relay)
        return relay

    async def died_after_claim(self, delivery_id: int) -> None:
        """What a relay that died during its first attempt leaves: a claim older than an attempt lasts."""
        lease = self.settings.webhook_timeout_s + CLAIM_GRACE_S + 1
        assert (
            await self.store.claim_attempt(delivery_id, 1, 1, datetime.now(UTC) - timedelta(seconds=lease))
            is None
        )

    async def died_after_log(self, delivery_id: int, code: int) -> None:
        """What a relay that died after logging its first attempt (answered `code`) leaves."""
        result = "succeeded" if code == 200 else "failed"
        await self.store.record_attempt(
            DeliveryAttempt(
                delivery_id=delivery_id,
                series=1,
                number=1,
                at=datetime.now(UTC),
                status_code=code,
                result=result,
            )
        )

    async def emit(
        self, event_type: str = "case_created", tenant: str = "demo", n: int = 1, *, relayed: bool = True
    ) -> list[int]:
        """Append events as an activity would, then (unless not `relayed`) run the relay that dispatches
        their deliveries (with the first attempts it makes, and the relays those kick)."""
        ids = []
        async with transaction(self.sessions) as s:
            for _ in range(n):
                key = f"test:{uuid.uuid4()}"
                payload = {
                    "eventType": event_type,
                    "payloadVersion": "1.0.0",
                    "correlationId": key,
                    "timestamp": datetime.now(UTC).isoformat(),
                    "case": {"number": "4711"},
                }
                ids.append((await append(s, tenant, key, payload)).id)
        if relayed:
            await self.relay.relay(tenant, client=self.client)
            await self.relay.settled()
        return [i for i in ids if i is not None]


@asynccontextmanager
async def hooks(
    client: Client, db_url: str, interceptors: Sequence[Interceptor] = (), **overrides: Any
) -> AsyncIterator[Hooks]:
    port = free_port()
    defaults = {"task_queue": f"hooks-{uuid.uuid4()}", "webhook_allow_hosts": "127.0.0.1"}
    settings = Settings(database_url=db_url, **defaults | overrides)
    app = receiver.create_app()
    sessions = session_factory(make_engine(db_url))
    store = WebhookStore(sessions)
    relay = EventRelay(settings, store)
    async with (
        serve(app, port) as url,
        worker(client, settings, interceptors=interceptors),
        egress_client(allowed_hosts(settings.webhook_allow_hosts), httpx.Limits()) as customers,
    ):
        WebhookActivities(settings, customers, store, relay)
        yield Hooks(client, settings, sessions, store, app.state.sim, url, relay, customers)


async def finished(env: WorkflowEnvironment | None, h: Hooks, event_id: int, endpoint_id: str) -> str:
    """The delivery's result: its workflow's (on the time-skipping `env`, letting it skip time while it
    waits, as a started handle does); or the delivery's status when the relay's first attempt ended it
    and no workflow ran."""
    handle = h.client.get_workflow_handle(delivery_workflow_id(event_id, endpoint_id))
    try:
        await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        [delivery] = [
            d
            for d in await h.store.deliveries(None)
            if (d.event_id, d.endpoint_id) == (event_id, endpoint_id)
        ]
        return delivery.status
    if env is None:
        return str(await handle.result())
    async with env.time_skipping_unlocked():  # type: ignore[attr-defined]
        return str(await handle.result())
