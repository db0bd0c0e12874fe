"""`payflow cases …`: claim cases (flow B) with their settlement revisions and latest events.

Read from the store alone: the activities write a case, its revisions and their events in one
transaction, so the store holds everything a person needs and outlives the workflow's retention.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from infra.settings import get_settings
from payflow.cli.output import JsonFlag, console, fail, show_fields, show_rows
from payflow.cli.support import Limit, TenantFilter
from store import support
from store.claims import case_by_id, case_events, tenant_case
from store.db import SessionFactory, migrated_sessions
from store.models import ClaimCase

cases_app = typer.Typer(help="Claim cases (flow B): list, show with revisions and events.")
STATUSES = {"open": False, "closed": True}
LAST_EVENTS = 20


def _row(c: ClaimCase) -> dict[str, Any]:
    return {
        "id": c.id,
        "tenant": c.tenant,
        "country": c.country,
        "number": c.number,
        "status": "closed" if c.closed else "open",
        "policy_number": c.policy_number,
        "created_at": c.created_at.isoformat(),
    }


@cases_app.command("list")
def cases_list(
    tenant: TenantFilter = None,
    number: Annotated[str | None, typer.Option(help="the case number")] = None,
    status: Annotated[str | None, typer.Option(help="open or closed")] = None,
    limit: Limit = 100,
    as_json: JsonFlag = False,
) -> None:
    """Claim cases (flow B), newest first: number, open or closed, when updated."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter("open or closed", param_hint="--status")
    sessions = migrated_sessions(get_settings().database_url)
    closed = STATUSES[status] if status is not None else None
    found = asyncio.run(support.cases(sessions, tenant=tenant, number=number, closed=closed, limit=limit))
    show_rows([_row(c) for c in found], as_json, "no cases match")


async def _show(sessions: SessionFactory, ref: str, tenant: str | None) -> dict[str, Any]:
    by_id = await case_by_id(sessions, ref)
    if by_id is not None and tenant in (None, by_id.tenant):
        found = [by_id]
    else:
        found = await support.cases(sessions, tenant=tenant, number=ref, limit=2)
    if not found:
        fail(f"no case {ref!r}" + (f" of tenant {tenant!r}" if tenant else ""))
    if len(found) > 1:
        fail(f"case number {ref!r} is used by several cases: name the case by id, or add --tenant")
    case = found[0]
    known = await tenant_case(sessions, case.tenant, case.id)
    assert known is not None
    revisions = [
        {
            "revision": r.revision_no,
            "token": r.token,
            "status": r.status,
            "created_at": r.created_at.isoformat(),
        }
        for r in known[1]
    ]
    latest = await case_events(sessions, case.tenant, case.id, LAST_EVENTS)
    events = [{"id": e.id, "type": e.type, "created_at": e.created_at.isoformat()} for e in reversed(latest)]
    return _row(case) | {"revisions": revisions, "last_events": events}


@cases_app.command("show")
def cases_show(
    case: Annotated[str, typer.Argument(help="the case id, or its number")],
    tenant: TenantFilter = None,
    as_json: JsonFlag = False,
) -> None:
    """One case (by id or number): its revisions with token and status, and its last events."""
    sessions = migrated_sessions(get_settings().database_url)
    data = asyncio.run(_show(sessions, case, tenant))
    if as_json:
        console.print_json(json.dumps(data))
        return
    show_fields({k: v for k, v in data.items() if k not in ("revisions", "last_events")})
    show_rows(data["revisions"], False, "no settlement revisions")
    show_rows(data["last_events"], False, "no events")
