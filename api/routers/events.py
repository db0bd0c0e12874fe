"""Events API, pull mode (research §1.6): long-poll the tenant's event log by cursor (scope events)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Security

from api.auth import Principal, authorize
from api.errors import ApiError
from store.events import after
from store.models import Event

router = APIRouter(tags=["events"])
PAGE = 100


def _cursor(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    match = re.fullmatch(r"_?(\d{1,18})", raw.strip())
    if match is None:
        raise ApiError(400, "bad_cursor", "lastEventId must be an event id such as _122047.")
    return int(match.group(1))


def _item(event: Event) -> dict[str, Any]:
    return {
        "id": f"_{event.id}",
        "type": event.type,
        "timestamp": event.created_at.isoformat(),
        "attributes": json.loads(event.payload),
    }


@router.get("/api/events/v1/{country}/external/{tenant}/receive", summary="Receive events (long polling)")
async def receive(
    country: str,
    tenant: str,
    request: Request,
    principal: Principal = Security(authorize, scopes=["events"]),
    last_event_id: Annotated[str | None, Query(alias="lastEventId", max_length=20)] = None,
) -> dict[str, Any]:
    """Answers at once when there are events after the cursor, else holds until one arrives or the
    hold time passes. Call again with `links.next` right away; events stay for the retention period."""
    if tenant != principal.tenant:
        raise ApiError(403, "wrong_tenant", "This token's tenant may not read that tenant's events.")
    cursor = _cursor(last_event_id)
    settings = request.app.state.settings
    since = datetime.now(UTC) - timedelta(days=settings.events_retention_days)
    sessions = request.app.state.sessions
    events = await after(sessions, tenant, cursor, limit=PAGE, since=since)
    if not events and await request.app.state.event_feed.wait_beyond(tenant, cursor, settings.events_hold_s):
        events = await after(sessions, tenant, cursor, limit=PAGE, since=since)
    last = events[-1].id if events else cursor
    base = str(request.url_for("receive", country=country, tenant=tenant))
    return {"links": {"next": f"{base}?lastEventId=_{last}"}, "meta": {}, "data": [_item(e) for e in events]}
