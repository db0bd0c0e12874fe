"""Messages of ClaimWorkflow: what the workflow, its activities and the API exchange."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.settlement import CaseRef, ChangedBy, SettlementInput, TerminationReason


class RevisionInfo(BaseModel):
    revision_no: int
    token: str
    status: str = "SETTLED"
    idempotency_key: str | None = None
    """The settle update's id: a repeat, even after continue-as-new, answers this revision."""


class ClaimState(BaseModel):
    case: CaseRef
    created_event_id: int | None = None
    closed: bool = False
    revisions: list[RevisionInfo] = []
    changes: int = 0
    """Close/reopen steps so far: numbers their events so a retried write is recognised."""


class ClaimInput(BaseModel):
    case: CaseRef
    state: ClaimState | None = None
    """Carried over by continue-as-new."""


class CloseRequest(BaseModel):
    changed_by: ChangedBy
    reason: TerminationReason = "None"
    description: str | None = None


class ReopenRequest(BaseModel):
    changed_by: ChangedBy


class CancelSettlement(BaseModel):
    revision_token: str
    changed_by: ChangedBy = ChangedBy(fullName="payflow", userType="system")
    """Who cancels, as `changedBy` in the cancel's `claim_updated` (the API sends the handler or its
    client; the default answers updates sent before the field existed)."""


class SettlementRecorded(BaseModel):
    revision_no: int
    revision_token: str
    event_ids: list[int]


class CaseChanged(BaseModel):
    event_id: int
    closed: bool


class CaseCreation(BaseModel):
    case: CaseRef
    correlation_id: str
    at: datetime


class SettlementWrite(BaseModel):
    case_id: str
    revision_no: int
    document: SettlementInput
    correlation_id: str
    at: datetime
    changed_by: ChangedBy
    idempotency_key: str | None = None
    """The settle update's id (the client's Idempotency-Key): a repeat finds the first revision."""


class CaseChangeWrite(BaseModel):
    case_id: str
    step: int
    change: str
    correlation_id: str
    at: datetime
    changed_by: ChangedBy
    reason: TerminationReason = "None"
    description: str | None = None


class CancelUpdate(BaseModel):
    """The `claim_updated` a cancel emits (SettlementCancelled, naming the revision)."""

    correlation_id: str
    at: datetime
    changed_by: ChangedBy


class RevisionCancel(BaseModel):
    case_id: str
    token: str
    update: CancelUpdate | None = None
    """None from runs before the `cancel-emits-claim-updated` patch: the cancel emits the reversal only."""
