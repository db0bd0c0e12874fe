"""`payflow endpoints …` and `payflow deliveries …`: support tooling for webhook delivery."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infra.settings import Settings, get_settings
from payflow.cli.output import JsonFlag, console, exit_hard, fail, show_fields, show_rows
from store.db import migrated_sessions
from store.models import Delivery
from store.webhooks import WebhookStore, generate_secret

endpoints_app = typer.Typer(help="Webhook endpoints of the tenants.")
deliveries_app = typer.Typer(help="Webhook deliveries: list, inspect, replay.")
Since = Annotated[datetime | None, typer.Option(help="created at or after (ISO time, UTC)")]
Until = Annotated[datetime | None, typer.Option(help="created at or before (ISO time, UTC)")]


def _store(settings: Settings) -> WebhookStore:
    return WebhookStore(migrated_sessions(settings.database_url))


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@endpoints_app.command("add")
def endpoints_add(
    tenant: Annotated[str, typer.Option()],
    url: Annotated[str, typer.Option()],
    event_type: Annotated[list[str] | None, typer.Option(help="repeat; none means every event")] = None,
    description: str = "",
    as_json: JsonFlag = False,
) -> None:
    """Register an endpoint (https, public address, or an allow-listed host); prints its secret once."""
    from infra.ssrf import allowed_hosts, endpoint_problem

    settings = get_settings()
    problem = asyncio.run(endpoint_problem(url, allowed_hosts(settings.webhook_allow_hosts)))
    if problem is not None:
        fail(f"{url}: {problem}")
    secret = generate_secret()
    endpoint = asyncio.run(
        _store(settings).create_endpoint(
            tenant, url, secret, event_types=event_type or [], description=description
        )
    )
    data = {
        "id": endpoint.id,
        "tenant": tenant,
        "url": url,
        "event_types": event_type or [],
        "secret": secret,
    }
    show_fields(data, as_json)


@endpoints_app.command("list")
def endpoints_list(tenant: str | None = None, as_json: JsonFlag = False) -> None:
    """Webhook endpoints (every tenant's, or one tenant's): URL, event filter, state."""
    rows = asyncio.run(_store(get_settings()).endpoints(tenant))
    data = [
        {
            "id": e.id,
            "tenant": e.tenant,
            "url": e.url,
            "event_types": e.event_types,
            "enabled": e.enabled,
            "disabled_reason": e.disabled_reason,
        }
        for e in rows
    ]
    show_rows(data, as_json, "no endpoints")


@endpoints_app.command("rotate-secret")
def endpoints_rotate(endpoint_id: str) -> None:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    store = _store(get_settings())
    if asyncio.run(store.endpoint(endpoint_id)) is None:
        fail(f"no endpoint {endpoint_id!r}")
    secret = generate_secret()
    asyncio.run(store.rotate_secret(endpoint_id, secret, datetime.now(UTC)))
    console.print(f"new secret for {endpoint_id}: {secret} (the previous one stays valid for 24 h)")


def _set_enabled(endpoint_id: str, enabled: bool) -> None:
    if asyncio.run(_store(get_settings()).change_endpoint(endpoint_id, None, enabled=enabled)) is None:
        fail(f"no endpoint {endpoint_id!r}")
    console.print(f"{endpoint_id} {'enabled' if enabled else 'disabled'}")


@endpoints_app.command("enable")
def endpoints_enable(endpoint_id: str) -> None:
    """Enable an endpoint again (after a 410 or five days of failures disabled it)."""
    _set_enabled(endpoint_id, True)


@endpoints_app.command("disable")
def endpoints_disable(endpoint_id: str) -> None:
    """Disable an endpoint: no new deliveries start for it until it is enabled."""
    _set_enabled(endpoint_id, False)


def _rows(deliveries: list[Delivery]) -> list[dict[str, object]]:
    return [
        {
            "id": d.id,
            "event_id": d.event_id,
            "endpoint_id": d.endpoint_id,
            "event_type": d.event_type,
            "status": d.status,
            "series": d.series,
            "attempts": d.attempts,
            "last_status_code": d.last_status_code,
            "created_at": d.created_at.isoformat(),
        }
        for d in deliveries
    ]


@deliveries_app.command("list")
def deliveries_list(
    tenant: str | None = None,
    endpoint: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    since: Since = None,
    until: Until = None,
    limit: int = 100,
    as_json: JsonFlag = False,
) -> None:
    """Webhook deliveries, newest first, filtered by endpoint, event type or status."""
    found = asyncio.run(
        _store(get_settings()).deliveries(
            tenant,
            endpoint_id=endpoint,
            status=status,
            event_type=event_type,
            since=_utc(since),
            until=_utc(until),
            limit=limit,
        )
    )
    show_rows(_rows(found), as_json, "no deliveries match")


@deliveries_app.command("show")
def deliveries_show(delivery_id: int, as_json: JsonFlag = False) -> None:
    """One delivery: its event, endpoint, status and every attempt with its answer."""
    store = _store(get_settings())
    delivery = asyncio.run(store.delivery(delivery_id))
    if delivery is None:
        fail(f"no delivery {delivery_id}")
    attempts = asyncio.run(store.attempts(delivery_id))
    webhook_ids = asyncio.run(store.webhook_ids([delivery.event_id]))
    data = _rows([delivery])[0] | {
        "webhook_id": webhook_ids[delivery.event_id],
        "attempt_log": [
            {
                "series": a.series,
                "number": a.number,
                "at": a.at.isoformat(),
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": a.error,
            }
            for a in attempts
        ],
    }
    if as_json:
        console.print_json(json.dumps(data))
        return
    show_fields({k: v for k, v in data.items() if k != "attempt_log"})
    show_rows(data["attempt_log"], False, "no attempts yet")  # type: ignore[arg-type]


@deliveries_app.command("replay")
def deliveries_replay(
    delivery_id: Annotated[
        int | None, typer.Argument(help="one delivery; or filter with the options")
    ] = None,
    tenant: str | None = None,
    endpoint: str | None = None,
    event_type: str | None = None,
    status: Annotated[str, typer.Option(help="failed, succeeded or pending")] = "failed",
    since: Since = None,
    until: Until = None,
) -> None:
    """Deliver again with the same webhook-id and a new series of attempts, showing progress."""
    from api.delivery_replay import replay_all
    from infra.temporal import connect

    settings = get_settings()
    store = _store(settings)
    if delivery_id is not None:
        one = asyncio.run(store.delivery(delivery_id))
        if one is None:
            fail(f"no delivery {delivery_id}")
        found = [one]
    else:
        if not (tenant or endpoint):
            fail("name a delivery, or filter by --tenant and/or --endpoint")
        found = asyncio.run(
            store.deliveries(
                tenant,
                endpoint_id=endpoint,
                status=status,
                event_type=event_type,
                since=_utc(since),
                until=_utc(until),
                limit=100000,
            )
        )
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())

    async def run() -> None:
        client = await connect(settings)
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("replay", total=len(found))
            report = await replay_all(client, settings, store, found, lambda: progress.advance(task))
        console.print(
            f"{report.matched} matched, {report.replayed} replayed, "
            f"{report.skipped} skipped (still being attempted)"
        )

    asyncio.run(run())
    exit_hard(0)
