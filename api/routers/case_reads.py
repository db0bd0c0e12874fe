"""Reading claim cases (scope platform-case:read): one case live from its workflow, lists from the store.

A case read asks ClaimWorkflow's `status` query first, bounded in time, and falls back to the store
when Temporal is down or slow or the workflow is gone: the case, its revisions and events are records
there, so the answer differs only in `source`. Lists read the store alone (one query per page).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Security
from pydantic import BaseModel
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from api.auth import Principal, authorize
from api.errors import ApiError, Unavailable
from api.intent_service import QUERY_TIMEOUT_S
from api.pagination import Cursor, Limit, Page, decode, page, since
from api.workflow_calls import within
from domain.claim_flow import ClaimState
from store import claims
from store.models import ClaimCase
from workflows.claim import ClaimWorkflow, case_workflow_id

router = APIRouter(prefix="/v1/cases", tags=["claim cases"])
Reader = Security(authorize, scopes=["platform-case:read"])
LAST_EVENTS = 10
CaseStatus = Literal["open", "closed"]


class RevisionView(BaseModel):
    revision_no: int
    token: str
    """The revisionToken: `GET /v1/settlements/{token}` shows the settlement."""
    status: str


class CaseEventView(BaseModel):
    id: int
    type: str
    created_at: datetime


class CaseSummary(BaseModel):
    id: str
    number: str
    country: str
    status: CaseStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, case: ClaimCase) -> CaseSummary:
        return cls(
            id=case.id,
            number=case.number,
            country=case.country,
            status="closed" if case.closed else "open",
            created_at=case.created_at,
            updated_at=case.updated_at,
        )


class CaseDetail(BaseModel):
    id: str
    number: str
    token: str
    country: str
    external_claim_id: str | None
    policy_number: str | None
    status: CaseStatus
    revisions: list[RevisionView]
    last_events: list[CaseEventView]
    """The case's latest events, newest first (at most 10)."""
    created_at: datetime | None
    updated_at: datetime | None
    source: Literal["workflow", "store"]
    """Where status and revisions come from: the live workflow, or the store when it did not answer."""


async def _live(request: Request, tenant: str, case_id: str) -> ClaimState | None:
    """The workflow's state, or None when it does not answer in time, is unreachable or gone."""
    handle = request.app.state.temporal.get_workflow_handle(case_workflow_id(tenant, case_id))
    try:
        state: ClaimState = await within(handle.query(ClaimWorkflow.status), QUERY_TIMEOUT_S, "The case")
    except (Unavailable, RPCError, WorkflowQueryFailedError):
        return None
    return state


@router.get("/{case_id}", response_model=CaseDetail, responses={404: {"description": "Unknown case"}})
async def get_case(case_id: uuid.UUID, request: Request, principal: Principal = Reader) -> CaseDetail:
    """The case: number, open or closed, revisions with their tokens and status, its last events."""
    sessions = request.app.state.sessions
    live = await _live(request, principal.tenant, str(case_id))
    stored = await claims.tenant_case(sessions, principal.tenant, str(case_id))
    events = await claims.case_events(sessions, principal.tenant, str(case_id), LAST_EVENTS)
    last = [CaseEventView(id=e.id or 0, type=e.type, created_at=e.created_at) for e in events]
    source: Literal["workflow", "store"]
    if live is not None:
        ref, closed, source = live.case, live.closed, "workflow"
        revisions = [
            RevisionView(**r.model_dump(include=set(RevisionView.model_fields))) for r in live.revisions
        ]
    elif stored is not None:
        ref, closed, source = claims.case_ref(stored[0]), stored[0].closed, "store"
        revisions = [RevisionView(**r.model_dump(include=set(RevisionView.model_fields))) for r in stored[1]]
    else:
        raise ApiError(404, "case_not_found", f"No case {case_id} for this tenant.")
    row = stored[0] if stored else None
    return CaseDetail(
        id=ref.uuid,
        number=ref.number,
        token=ref.token,
        country=ref.country,
        external_claim_id=ref.externalClaimId,
        policy_number=ref.policyNumber,
        status="closed" if closed else "open",
        revisions=revisions,
        last_events=last,
        created_at=row.created_at if row else None,
        updated_at=row.updated_at if row else None,
        source=source,
    )


@router.get("", response_model=Page[CaseSummary])
async def list_cases(
    request: Request,
    principal: Principal = Reader,
    number: Annotated[str | None, Query(max_length=100)] = None,
    status: CaseStatus | None = None,
    updated_since: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CaseSummary]:
    """The tenant's cases, oldest first; filters combine (AND). `GET /v1/cases/{id}` reads one."""
    after = decode(cursor, "cases", [datetime, str])
    rows = await claims.search_cases(
        request.app.state.sessions,
        principal.tenant,
        number=number,
        closed=None if status is None else status == "closed",
        updated_since=since(updated_since, "updated_since"),
        after=(after[0], after[1]) if after else None,
        limit=limit + 1,
    )
    shown, next_cursor, next_url = page(request, rows, limit, "cases", lambda c: [c.created_at, c.id])
    return Page(items=[CaseSummary.of(c) for c in shown], next_cursor=next_cursor, next=next_url)
