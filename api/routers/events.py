"""Events API, pull mode (research §1.6): long-poll the tenant's event log by cursor (scope events);
and support's view of the same log (`/v1/events`, scope support): filtered, paged, one event whole.

A page is one indexed query, skipped while the store is unchanged (api/read_cache.py: a page with
events kept per tenant and cursor, an ETag, 304 on `If-None-Match`); each event's payload goes out as
stored (spliced into the envelope, not parsed and serialised again).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, Security
from pydantic import BaseModel

from api import pagination
from api.auth import Principal, authorize
from api.errors import ApiError
from api.read_cache import read_cache
from api.schemas import RowId
from store import events as log
from store.events import page
from store.models import Event

router = APIRouter(tags=["events"])
PAGE = 100
ENVELOPE = {
    "type": "object",
    "description": "`{links: {next}, meta: {}, data: [{id, type, timestamp, attributes}]}`",
}


def _cursor(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    match = re.fullmatch(r"_?(\d{1,18})", raw.strip())
    if match is None:
        raise ApiError(400, "bad_cursor", "lastEventId must be an event id such as _122047.")
    return int(match.group(1))


def _body(base: str, events: list[tuple[int, str, datetime, str]], cursor: int = 0) -> bytes:
    """The page; `next` resumes after its last event (at `cursor` when it has none)."""
    next_url = f"{base}?lastEventId=_{events[-1][0] if events else cursor}"
    items = ",".join(
        f'{{"id":"_{i}","type":{json.dumps(t)},"timestamp":"{at.isoformat()}","attributes":{payload}}}'
        for i, t, at, payload in events
    )
    return f'{{"links":{{"next":{json.dumps(next_url)}}},"meta":{{}},"data":[{items}]}}'.encode()


@router.get(
    "/api/events/v1/{country}/external/{tenant}/receive",
    summary="Receive events (long polling)",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {"schema": ENVELOPE}}},
        410: {"description": "`events_expired`: events after the cursor expired; resume at `next`"},
    },
)
async def receive(
    country: str,
    tenant: str,
    request: Request,
    principal: Principal = Security(authorize, scopes=["events"]),
    last_event_id: Annotated[str | None, Query(alias="lastEventId", max_length=20)] = None,
) -> Response:
    """Answers at once when there are events after the cursor, else holds until one arrives or the
    hold time passes. Call again with `links.next` right away; events stay for the retention period.
    A cursor with events past retention after it answers 410 `events_expired` (never a silent skip):
    `skipped` says how many, `next` where to resume; re-read what they held from the Settlement API."""
    if tenant != principal.tenant:
        raise ApiError(403, "wrong_tenant", "This token's tenant may not read that tenant's events.")
    cursor = _cursor(last_event_id)
    cache = read_cache(request)
    key = ("events", tenant, country, str(request.base_url), cursor)  # what the page and `next` show
    version, kept = cache.get(key)
    if kept is not None:
        return kept.response(request, "application/json")
    base = str(request.url_for("receive", country=country, tenant=tenant))
    settings = request.app.state.settings
    since = datetime.now(UTC) - timedelta(days=settings.events_retention_days)
    sessions = request.app.state.sessions
    expired = await log.expired_beyond(sessions, tenant, cursor, since)
    if expired is not None:
        skipped, resume = expired
        raise ApiError(
            410,
            "events_expired",
            f"{skipped} event(s) after this cursor are past the {settings.events_retention_days}-day "
            "retention period and cannot be sent; resume from `next`.",
            skipped=skipped,
            next=f"{base}?lastEventId=_{resume}",
        )
    events = await page(sessions, tenant, cursor, limit=PAGE, since=since)
    if events:  # kept until its oldest event passes retention; an empty page is not (it holds)
        until = min(at for _, _, at, _ in events) - since
        kept = cache.put(key, version, _body(base, events), until.total_seconds())
        return kept.response(request, "application/json")
    if await request.app.state.event_feed.wait_beyond(tenant, cursor, settings.events_hold_s):
        events = await page(sessions, tenant, cursor, limit=PAGE, since=since)
    return Response(_body(base, events, cursor), media_type="application/json")


class EventSummary(BaseModel):
    id: int
    type: str
    created_at: datetime
    webhook_id: str
    """The `webhook-id` every delivery of the event carries."""
    dispatched_at: datetime | None
    """When its webhook deliveries were started; None while the relay has not reached it."""

    @classmethod
    def of(cls, e: Event) -> EventSummary:
        return cls(
            **e.model_dump(include={"type", "created_at", "webhook_id", "dispatched_at"}), id=e.id or 0
        )


class EventDetail(EventSummary):
    payload: dict[str, Any]
    """The event body as delivered (the Events API's `attributes`)."""


EventType = Annotated[str | None, Query(max_length=60, description="e.g. case_settled, payment.matched")]


@router.get("/v1/events", response_model=pagination.Page[EventSummary])
async def list_events(
    request: Request,
    principal: Principal = Security(authorize, scopes=["support"]),
    type: EventType = None,
    since: datetime | None = None,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
) -> pagination.Page[EventSummary]:
    """The tenant's event log for support, oldest first: what was emitted, when, and whether its
    deliveries were started (`GET /v1/deliveries?event_type=` shows them)."""
    after = pagination.decode(cursor, "events", [int])
    rows = await log.search(
        request.app.state.sessions,
        principal.tenant,
        type=type,
        since=pagination.since(since, "since"),
        after=after[0] if after else 0,
        limit=limit + 1,
    )
    shown, next_cursor, next_url = pagination.page(request, rows, limit, "events", lambda e: [e.id])
    items = [EventSummary.of(e) for e in shown]
    return pagination.Page(items=items, next_cursor=next_cursor, next=next_url)


@router.get(
    "/v1/events/{event_id}",
    response_model=EventDetail,
    responses={404: {"description": "Unknown event"}},
)
async def get_event(
    event_id: RowId, request: Request, principal: Principal = Security(authorize, scopes=["support"])
) -> EventDetail:
    event = await log.one(request.app.state.sessions, principal.tenant, event_id)
    if event is None:
        raise ApiError(404, "event_not_found", f"No event {event_id} for this tenant.")
    return EventDetail(**EventSummary.of(event).model_dump(), payload=json.loads(event.payload))
