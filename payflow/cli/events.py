"""`payflow events …`: the tenants' event logs (both flows), with each event's webhook deliveries."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from infra.settings import get_settings
from payflow.cli.output import JsonFlag, console, fail, show_fields, show_rows
from payflow.cli.support import Limit, Since, TenantFilter, utc
from store import support
from store.db import SessionFactory, migrated_sessions
from store.models import Event
from store.webhooks import WebhookStore

events_app = typer.Typer(help="Events of the tenants' logs: list, show with payload and deliveries.")


def _subject(payload: dict[str, Any]) -> str | None:
    """What the event is about, for a person scanning the list: case number or control number."""
    if isinstance(case := payload.get("case"), dict):
        return f"case {case.get('number')}"
    if isinstance(intent := payload.get("intent"), dict):
        return f"payment {intent.get('payment_id')} CN {intent.get('control_number') or '-'}"
    return None


def _row(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "tenant": e.tenant,
        "type": e.type,
        "subject": _subject(json.loads(e.payload)),
        "created_at": e.created_at.isoformat(),
        "dispatched_at": e.dispatched_at.isoformat() if e.dispatched_at else None,
    }


@events_app.command("list")
def events_list(
    tenant: TenantFilter = None,
    event_type: Annotated[str | None, typer.Option("--type", help="case_settled, payment.matched …")] = None,
    since: Since = None,
    limit: Limit = 100,
    as_json: JsonFlag = False,
) -> None:
    """The tenants' event logs, newest first: type, what it is about, when delivered."""
    sessions = migrated_sessions(get_settings().database_url)
    found = asyncio.run(
        support.events(sessions, tenant=tenant, event_type=event_type, since=utc(since), limit=limit)
    )
    show_rows([_row(e) for e in found], as_json, "no events match")


async def _show(sessions: SessionFactory, event_id: int, tenant: str | None) -> dict[str, Any]:
    event = await WebhookStore(sessions).event(event_id)
    if event is None or tenant not in (None, event.tenant):
        fail(f"no event {event_id}" + (f" of tenant {tenant!r}" if tenant else ""))
    deliveries = [
        {
            "delivery": d.id,
            "endpoint_id": d.endpoint_id,
            "status": d.status,
            "attempts": d.attempts,
            "last_status_code": d.last_status_code,
        }
        for d in await support.event_deliveries(sessions, event_id)
    ]
    return _row(event) | {
        "webhook_id": event.webhook_id,
        "payload": json.loads(event.payload),
        "deliveries": deliveries,
    }


@events_app.command("show")
def events_show(event_id: int, tenant: TenantFilter = None, as_json: JsonFlag = False) -> None:
    """The event as its subscribers receive it, and where it was delivered (see `payflow deliveries`)."""
    data = asyncio.run(_show(migrated_sessions(get_settings().database_url), event_id, tenant))
    if as_json:
        console.print_json(json.dumps(data))
        return
    show_fields({k: v for k, v in data.items() if k not in ("payload", "deliveries")})
    console.print_json(json.dumps(data["payload"]))
    show_rows(data["deliveries"], False, "no webhook deliveries")
