"""Claim-handler routes: create a case, settle it, close and reopen it (scope platform-case:write)."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Security
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.admission import Admission
from api.auth import Principal, authorize
from api.errors import ApiError
from api.workflow_calls import within
from domain.claim_flow import (
    CancelSettlement,
    CaseChanged,
    ClaimInput,
    CloseRequest,
    ReopenRequest,
    RevisionInfo,
    SettlementRecorded,
)
from domain.errors import Conflict
from domain.settlement import CaseRef, ChangedBy, NewSettlement, TerminationReason
from store import claims
from workflows.claim import ClaimWorkflow, case_workflow_id

router = APIRouter(prefix="/v1/cases", tags=["claim cases"])
CASE_NAMESPACE = uuid.UUID("7f2d8f60-1c2b-4d7e-9a55-3c1e2b9f0d44")
PROBLEMS = {
    "CaseClosed": (409, "case_closed"),
    "CaseOpen": (409, "case_open"),
    "UnknownRevision": (404, "unknown_revision"),
    "AlreadyCancelled": (409, "already_cancelled"),
}
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Text
    country: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] = "dk"
    external_claim_id: Text | None = None
    policy_number: Text | None = None


class CaseView(BaseModel):
    id: str
    tenant: str
    number: str
    token: str
    closed: bool
    case_created_event_id: int | None
    revisions: list[RevisionInfo]


class Handler(BaseModel):
    """Who changes the case (the claim handler), as `changedBy` in `claim_updated`."""

    model_config = ConfigDict(extra="forbid")

    full_name: Text
    username: Text | None = None

    def as_changed_by(self) -> ChangedBy:
        return ChangedBy(fullName=self.full_name, username=self.username)


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changed_by: Handler
    termination_reason: TerminationReason = "None"
    termination_reason_description: Annotated[str, StringConstraints(max_length=500)] | None = None


class HandlerBody(BaseModel):
    """Who reopens a case or cancels a settlement."""

    model_config = ConfigDict(extra="forbid")

    changed_by: Handler


async def _update(
    request: Request, principal: Principal, case_id: uuid.UUID, update: Any, arg: Any, key: str | None = None
) -> Any:
    """Send the update; with an Idempotency-Key it becomes the update id, so a retry joins the first."""
    handle = request.app.state.temporal.get_workflow_handle(case_workflow_id(principal.tenant, str(case_id)))
    update_id = f"{update.__name__}-{key}" if key else None
    try:
        call = handle.execute_update(update, arg, id=update_id)
        return await within(call, request.app.state.settings.update_timeout_s, "The case")
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        status, code = PROBLEMS.get(kind or "", (409, "case_update_refused"))
        raise ApiError(status, code, str(cause or err)) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "case_not_found", f"No case {case_id} for this tenant.") from err
        raise


@router.post("", status_code=201, response_model=CaseView)
async def create_case(
    body: CaseCreate,
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:write"]),
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> CaseView:
    """Open a case; its `case_created` event is in the tenant's log when this answers."""
    case_id = str(
        uuid.uuid5(CASE_NAMESPACE, f"{principal.tenant}\n{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    case = CaseRef(
        uuid=case_id,
        token=f"c.{secrets.token_hex(8)}",
        number=body.number,
        tenant=principal.tenant,
        country=body.country,
        externalClaimId=body.external_claim_id,
        policyNumber=body.policy_number,
    )
    start = WithStartWorkflowOperation(
        ClaimWorkflow.run,
        ClaimInput(case=case),
        id=case_workflow_id(principal.tenant, case_id),
        task_queue=request.app.state.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Claim case {body.number} ({principal.tenant}, {body.country})",
        static_details=(
            f"**Tenant:** {principal.tenant}  \n**External claim id:** {body.external_claim_id or '—'}  \n"
            f"**Policy number:** {body.policy_number or '—'}  \n**Case id:** {case_id}"
        ),
    )
    admission: Admission = request.app.state.admission
    async with admission.slot("case"):
        call = request.app.state.temporal.execute_update_with_start_workflow(
            ClaimWorkflow.ready, start_workflow_operation=start
        )
        state = await within(call, admission.timeout_s, "The case")
    return CaseView(
        id=state.case.uuid,
        tenant=state.case.tenant,
        number=state.case.number,
        token=state.case.token,
        closed=state.closed,
        case_created_event_id=state.created_event_id,
        revisions=state.revisions,
    )


@router.post("/{case_id}/settlements", status_code=201, response_model=SettlementRecorded)
async def settle_case(
    case_id: uuid.UUID,
    body: NewSettlement,
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:write"]),
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SettlementRecorded:
    """Settle: a new revision with its token and the `case_settled` event (a delta after a reopen).
    Send an Idempotency-Key: a retry with the same key and body returns the same revision, at any later
    time; the key with another body is refused (422 `idempotency_key_reused`)."""
    if idempotency_key:
        key = f"settle-{idempotency_key}"
        try:
            first = await claims.settled_with_key(
                request.app.state.sessions, str(case_id), key, principal.tenant, body
            )
        except Conflict as err:
            raise ApiError(422, "idempotency_key_reused", f"{err}; send a new key.") from err
        if first is not None:
            return first
    result: SettlementRecorded = await _update(
        request, principal, case_id, ClaimWorkflow.settle, body, idempotency_key
    )
    return result


@router.post("/{case_id}/close", response_model=CaseChanged)
async def close_case(
    case_id: uuid.UUID,
    body: CloseBody,
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:write"]),
) -> CaseChanged:
    by = body.changed_by.as_changed_by()
    arg = CloseRequest(
        changed_by=by, reason=body.termination_reason, description=body.termination_reason_description
    )
    result: CaseChanged = await _update(request, principal, case_id, ClaimWorkflow.close, arg)
    return result


@router.post("/{case_id}/reopen", response_model=CaseChanged)
async def reopen_case(
    case_id: uuid.UUID,
    body: HandlerBody,
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:write"]),
) -> CaseChanged:
    by = body.changed_by.as_changed_by()
    result: CaseChanged = await _update(
        request, principal, case_id, ClaimWorkflow.reopen, ReopenRequest(changed_by=by)
    )
    return result


@router.post("/{case_id}/settlements/{revision_token}/cancel", response_model=RevisionInfo)
async def cancel_settlement(
    case_id: uuid.UUID,
    revision_token: Annotated[str, Field(max_length=36)],
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:write"]),
    body: HandlerBody | None = None,
) -> RevisionInfo:
    """Cancel a revision: the Settlement API then answers it with status CANCELLED. The reversing
    `case_settled` (when it was the standing revision) and a `claim_updated` naming it follow; its
    `changedBy` is the body's `changed_by`, or else this API client."""
    by = (
        body.changed_by.as_changed_by()
        if body
        else ChangedBy(fullName=principal.client_id, userType="system")
    )
    arg = CancelSettlement(revision_token=revision_token, changed_by=by)
    result: RevisionInfo = await _update(request, principal, case_id, ClaimWorkflow.cancel_settlement, arg)
    return result
