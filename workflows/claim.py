"""ClaimWorkflow: one per case; serialises everything that happens to it, so its events come in order.

Updates `settle`, `close`, `reopen`, `cancel_settlement`; query `status`. The case waits for its next
update indefinitely and continues as new when its history grows long.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces as acts
    from domain.claim_flow import (
        CancelSettlement,
        CancelUpdate,
        CaseChanged,
        CaseChangeWrite,
        CaseCreation,
        ClaimInput,
        ClaimState,
        CloseRequest,
        ReopenRequest,
        RevisionCancel,
        RevisionInfo,
        SettlementRecorded,
        SettlementWrite,
    )
    from domain.settlement import ChangedBy, SettlementInput
    from workflows import search_attributes as sa
    from workflows.activity_options import STORE_CALL


def case_workflow_id(tenant: str, case_id: str) -> str:
    return f"case-{tenant}-{case_id}"


CANCEL_UPDATED_PATCH = "cancel-emits-claim-updated"


@workflow.defn
class ClaimWorkflow:
    @workflow.init
    def __init__(self, request: ClaimInput) -> None:
        self._state = request.state or ClaimState(case=request.case)
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, request: ClaimInput) -> None:
        case = self._state.case
        if self._state.created_event_id is None:
            workflow.upsert_search_attributes(
                [sa.TENANT.value_set(case.tenant), sa.CASE_NUMBER.value_set(case.number)]
            )
            self._state.created_event_id = await workflow.execute_activity(
                acts.create_case,
                CaseCreation(case=case, correlation_id=str(workflow.uuid4()), at=workflow.now()),
                summary="create the case and its case_created event",
                **STORE_CALL,
            )
            self._details()
        await workflow.wait_condition(
            lambda: workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
        )
        workflow.continue_as_new(ClaimInput(case=case, state=self._state))

    @workflow.query
    def status(self) -> ClaimState:
        return self._state

    @workflow.update
    async def ready(self) -> ClaimState:
        """Answers once the case and its case_created event exist (used with update-with-start)."""
        await workflow.wait_condition(lambda: self._state.created_event_id is not None)
        return self._state

    @workflow.update
    async def settle(self, doc: SettlementInput) -> SettlementRecorded:
        await workflow.wait_condition(lambda: self._state.created_event_id is not None)
        async with self._lock:
            update = workflow.current_update_info()
            key = update.id if update is not None else None  # the client's Idempotency-Key, when sent
            if all(r.idempotency_key != key for r in self._state.revisions):
                self._require(closed=False)
            number = len(self._state.revisions) + 1
            token, event_ids = await workflow.execute_activity(
                acts.record_settlement,
                SettlementWrite(
                    case_id=self._state.case.uuid,
                    revision_no=number,
                    document=doc,
                    correlation_id=str(workflow.uuid4()),
                    at=workflow.now(),
                    changed_by=ChangedBy(
                        fullName=doc.approvedBy.name,
                        username=doc.approvedBy.username,
                        userType=doc.approvedBy.type,
                    ),
                    idempotency_key=key,
                ),
                summary=f"record settlement revision {number}",
                **STORE_CALL,
            )
            first = next((r for r in self._state.revisions if r.token == token), None)
            if first is not None:  # the key settled before (perhaps in an earlier run): same answer
                return SettlementRecorded(
                    revision_no=first.revision_no, revision_token=token, event_ids=event_ids
                )
            self._state.revisions.append(RevisionInfo(revision_no=number, token=token, idempotency_key=key))
            self._state.closed = doc.close
            self._details()
            return SettlementRecorded(revision_no=number, revision_token=token, event_ids=event_ids)

    @settle.validator
    def _validate_settle(self, doc: SettlementInput) -> None:
        update = workflow.current_update_info()
        if update is None or all(r.idempotency_key != update.id for r in self._state.revisions):
            self._require(closed=False)

    @workflow.update
    async def close(self, request: CloseRequest) -> CaseChanged:
        return await self._change("CaseClosed", request.changed_by, request.reason, request.description)

    @close.validator
    def _validate_close(self, request: CloseRequest) -> None:
        self._require(closed=False)

    @workflow.update
    async def reopen(self, request: ReopenRequest) -> CaseChanged:
        return await self._change("CaseReopened", request.changed_by)

    @reopen.validator
    def _validate_reopen(self, request: ReopenRequest) -> None:
        self._require(closed=True)

    @workflow.update
    async def cancel_settlement(self, request: CancelSettlement) -> RevisionInfo:
        async with self._lock:
            revision = self._revision(request.revision_token)
            cancel = RevisionCancel(case_id=self._state.case.uuid, token=request.revision_token)
            if workflow.patched(CANCEL_UPDATED_PATCH):  # SPEC §4: the cancel emits claim_updated too
                cancel.update = CancelUpdate(
                    correlation_id=str(workflow.uuid4()), at=workflow.now(), changed_by=request.changed_by
                )
            await workflow.execute_activity(
                acts.cancel_revision,
                cancel,
                summary=f"cancel revision {revision.revision_no}",
                **STORE_CALL,
            )
            revision.status = "CANCELLED"
            self._details()
            return revision

    @cancel_settlement.validator
    def _validate_cancel(self, request: CancelSettlement) -> None:
        if self._revision(request.revision_token).status != "SETTLED":
            raise ApplicationError("this revision is already cancelled", type="AlreadyCancelled")

    async def _change(
        self, change: str, by: ChangedBy, reason: str = "None", description: str | None = None
    ) -> CaseChanged:
        await workflow.wait_condition(lambda: self._state.created_event_id is not None)
        async with self._lock:
            self._require(closed=change == "CaseReopened")
            self._state.changes += 1
            event_id = await workflow.execute_activity(
                acts.record_case_change,
                CaseChangeWrite(
                    case_id=self._state.case.uuid,
                    step=self._state.changes,
                    change=change,
                    correlation_id=str(workflow.uuid4()),
                    at=workflow.now(),
                    changed_by=by,
                    reason=reason,
                    description=description,  # type: ignore[arg-type]
                ),
                summary=change,
                **STORE_CALL,
            )
            self._state.closed = change == "CaseClosed"
            self._details()
            return CaseChanged(event_id=event_id, closed=self._state.closed)

    def _require(self, *, closed: bool) -> None:
        if self._state.closed != closed:
            state = "closed: reopen it first" if self._state.closed else "open"
            raise ApplicationError(
                f"the case is {state}", type="CaseClosed" if self._state.closed else "CaseOpen"
            )

    def _revision(self, token: str) -> RevisionInfo:
        for revision in self._state.revisions:
            if revision.token == token:
                return revision
        raise ApplicationError("no such revision on this case", type="UnknownRevision")

    def _details(self) -> None:
        rows = "\n".join(f"| {r.revision_no} | `{r.token}` | {r.status} |" for r in self._state.revisions)
        workflow.set_current_details(
            f"**Case** {self._state.case.number} ({'closed' if self._state.closed else 'open'}), "
            f"{len(self._state.revisions)} settlement revision(s)\n\n"
            f"| revision | token | status |\n|---|---|---|\n{rows}"
        )
