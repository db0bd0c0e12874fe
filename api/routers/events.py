"""Events API, pull mode (research §1.6): long-poll the tenant's event log by cursor (scope events).

A page is one indexed query; each event's payload goes out as stored (spliced into the envelope, not
parsed and serialised again).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, Security

from api.auth import Principal, authorize
from api.errors import ApiError
from store.events import page

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


def _body(next_url: str, events: list[tuple[int, str, datetime, str]]) -> bytes:
    items = ",".join(
        f'{{"id":"_{i}","type":{json.dumps(t)},"timestamp":"{at.isoformat()}","attributes":{payload}}}'
        for i, t, at, payload in events
    )
    return f'{{"links":{{"next":{json.dumps(next_url)}}},"meta":{{}},"data":[{items}]}}'.encode()


@router.get(
    "/api/events/v1/{country}/external/{tenant}/receive",
    summary="Receive events (long polling)",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": ENVELOPE}}}},
)
async def receive(
    country: str,
    tenant: str,
    request: Request,
    principal: Principal = Security(authorize, scopes=["events"]),
    last_event_id: Annotated[str | None, Query(alias="lastEventId", max_length=20)] = None,
) -> Response:
    """Answers at once when there are events after the cursor, else holds until one arrives or the
    hold time passes. Call again with `links.next` right away; events stay for the retention period."""
    if tenant != principal.tenant:
        raise ApiError(403, "wrong_tenant", "This token's tenant may not read that tenant's events.")
    cursor = _cursor(last_event_id)
    settings = request.app.state.settings
    since = datetime.now(UTC) - timedelta(days=settings.events_retention_days)
    sessions = request.app.state.sessions
    events = await page(sessions, tenant, cursor, limit=PAGE, since=since)
    if not events and await request.app.state.event_feed.wait_beyond(tenant, cursor, settings.events_hold_s):
        events = await page(sessions, tenant, cursor, limit=PAGE, since=since)
    last = events[-1][0] if events else cursor
    base = str(request.url_for("receive", country=country, tenant=tenant))
    return Response(_body(f"{base}?lastEventId=_{last}", events), media_type="application/json")
