"""Webhook test set-up: a receiver on 127.0.0.1, an endpoint for it, events emitted through the relay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor

from activities.webhooks import EventRelay
from infra.settings import Settings
from payflow.servers import free_port, serve
from payflow.workers import worker
from simulators import receiver
from simulators.receiver import ReceiverState
from store.db import SessionFactory, make_engine, session_factory, transaction
from store.events import append
from store.models import WebhookEndpoint
from store.webhooks import WebhookStore, generate_secret


@dataclass
class Hooks:
    client: Client
    settings: Settings
    sessions: SessionFactory
    store: WebhookStore
    receiver: ReceiverState
    url: str

    async def endpoint(
        self, tenant: str = "demo", path: str = "/webhooks", url: str | None = None, **extra: Any
    ) -> WebhookEndpoint:
        """An endpoint at the receiver's `path`, or at `url` (another server)."""
        secret = generate_secret()
        endpoint = await self.store.create_endpoint(tenant, url or f"{self.url}{path}", secret, **extra)
        self.receiver.secrets.append(secret)
        return endpoint

    async def emit(self, event_type: str = "case_created", tenant: str = "demo", n: int = 1) -> list[int]:
        """Append events as an activity would, then run the relay that starts their deliveries."""
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
        await EventRelay(self.settings, self.store).relay(tenant, client=self.client)
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
    async with serve(app, port) as url, worker(client, settings, interceptors=interceptors):
        yield Hooks(client, settings, sessions, WebhookStore(sessions), app.state.sim, url)
