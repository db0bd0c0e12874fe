"""What the support commands (`payflow payments|cases|events …`) share: options, errors, services.

They act as an operator on the deployment, like `payflow deliveries`, `endpoints` and `check`: they
read straight from the store (PAYFLOW_DATABASE_URL) and reach the workflows on Temporal with the
deployment's own settings and codec keys, so they work while the API is down (when support needs them
most) and need no token. Anyone who can run them holds the database URL and the codec keys already,
which is more than any API scope grants, so a token would add a dependency and no protection. Every
tenant is visible; `--tenant` narrows a look-up. Changes (`rematch`, `cancel`) go through the
payment's workflow with the API's own services, never by editing rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from infra.settings import Settings
from payflow.cli.output import fail
from store.db import SessionFactory

if TYPE_CHECKING:  # imported where used: `cases` and `events` need neither Temporal nor the API
    from temporalio.client import Client

    from api.intent_service import IntentService
    from api.payment_service import PaymentService

TenantFilter = Annotated[str | None, typer.Option(help="only this tenant's records (default: all tenants)")]
Since = Annotated[datetime | None, typer.Option(help="created at or after (ISO time, UTC)")]
Limit = Annotated[int, typer.Option(min=1, max=10000, help="at most this many rows, newest first")]


def utc(moment: datetime | None) -> datetime | None:
    """An option's naive time read as UTC, as the store keeps it."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


async def temporal(settings: Settings) -> Client:
    """The deployment's Temporal client; unreachable is one clear line and exit 2."""
    from infra.temporal import connect

    try:
        return await connect(settings)
    except RuntimeError as exc:  # TemporalConnectError: what is wrong, in one line
        fail(str(exc))


def intent_service(client: Client, settings: Settings, sessions: SessionFactory) -> IntentService:
    from api.admission import Admission
    from api.intent_service import IntentService
    from store.payments import PaymentStore

    return IntentService(client, settings, PaymentStore(sessions), Admission.of(settings))


def payment_service(client: Client, settings: Settings, sessions: SessionFactory) -> PaymentService:
    """The API's payment service, so `rematch` and `cancel` send the same workflow updates it does."""
    from api.payment_service import PaymentService
    from store.payments import PaymentStore
    from store.registry import SqlRegistry

    intents = intent_service(client, settings, sessions)
    return PaymentService(intents, PaymentStore(sessions), SqlRegistry(sessions), sessions, settings)
