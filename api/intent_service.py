"""How the API drives payment-intent workflows: start (update-with-start), read state, send updates."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api.admission import Admission
from api.errors import Unavailable
from api.workflow_calls import within
from domain.intent import PaymentIntentInput
from domain.payment_flow import IntentState, LineState, payment_workflow_id
from domain.registry import PolicyStage
from domain.status import PaymentStatus
from infra.settings import Settings
from store.models import Payment
from store.payments import PaymentStore
from workflows import search_attributes
from workflows.payment_intent import PaymentIntentWorkflow

QUERY_TIMEOUT_S = 3.0


def fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _summary(request: PaymentIntentInput) -> str:
    products = ", ".join(sorted({ln.product_code for ln in request.lines}))
    who = f"officer {request.officer_code}" if request.officer_code else "self-payer"
    count = f"{len(request.lines)} polic{'y' if len(request.lines) == 1 else 'ies'}"
    return f"Payment intent: {count} ({products}), {who}"


def _details(request: PaymentIntentInput) -> str:
    rows = "\n".join(
        f"| {n} | {ln.product_code} | {ln.stage.value} |" for n, ln in enumerate(request.lines, 1)
    )
    return (
        f"**Tenant:** {request.tenant}  \n**Control number mode:** {request.options.cn_mode.value}  \n"
        f"**Request date:** {request.request_date}\n\n| line | product | stage |\n|---|---|---|\n{rows}"
    )


class IntentService:
    def __init__(
        self, client: Client, settings: Settings, payments: PaymentStore, admission: Admission
    ) -> None:
        self._client = client
        self._settings = settings
        self._payments = payments
        self._admission = admission

    def handle(self, intent_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(payment_workflow_id(intent_id))

    async def start(
        self, request: PaymentIntentInput, wait_s: float, request_hash: str | None = None
    ) -> IntentState:
        """Start the workflow and wait up to `wait_s` for its control number (update-with-start).

        Raises `Unavailable` (503) only when nothing was started (too many starts in flight, or Temporal
        unreachable); once the workflow exists, a worker that does not answer within the start timeout
        gives the intent as known so far (PENDING, no control number).
        """
        memo = {"tenant": request.tenant} | ({"request_hash": request_hash} if request_hash else {})
        operation = WithStartWorkflowOperation(
            PaymentIntentWorkflow.run,
            request,
            id=payment_workflow_id(request.intent_id),
            task_queue=self._settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo=memo,
            search_attributes=search_attributes.at_start(
                request,
                [
                    search_attributes.insurance_number_hash(self._settings.search_hash_key, n)
                    for n in request.insurance_numbers
                ],
            ),
            static_summary=_summary(request),
            static_details=_details(request),
        )
        async with self._admission.slot("payment"):
            call = self._client.execute_update_with_start_workflow(
                PaymentIntentWorkflow.await_control_number, wait_s, start_workflow_operation=operation
            )
            try:
                return await within(call, wait_s + self._admission.timeout_s, "The payment workflow")
            except Unavailable:
                known = await self._known_or_none(request.intent_id, request.tenant)
                if known is None:
                    raise
                return known

    async def _memo(self, intent_id: str) -> dict[str, Any] | None:
        """The workflow's memo; None when there is no such workflow."""
        try:
            description = await within(self.handle(intent_id).describe(), QUERY_TIMEOUT_S, "Temporal")
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return await description.memo()

    async def existing_hash(self, intent_id: str) -> str | bool | None:
        """The request hash in an existing workflow's memo; False when there is no such workflow."""
        memo = await self._memo(intent_id)
        if memo is None:
            return False
        value = memo.get("request_hash")
        return value if isinstance(value, str) else None

    async def state(self, intent_id: str) -> IntentState | None:
        """Live state from the workflow's query; else the store's record; else, for a workflow whose
        worker has not written its record yet, the intent as PENDING."""
        try:
            return await within(
                self.handle(intent_id).query(PaymentIntentWorkflow.status), QUERY_TIMEOUT_S, "The workflow"
            )
        except (Unavailable, RPCError):
            return await self.known(intent_id)

    async def known(self, intent_id: str, tenant: str | None = None) -> IntentState | None:
        """The intent from the store, or PENDING when only its workflow exists (of `tenant`, if given)."""
        payment = await self._payments.by_intent(intent_id, tenant)
        if payment is not None:
            return await self.from_store(payment)
        memo = await self._memo(intent_id)
        owner = memo.get("tenant") if memo else None
        if not isinstance(owner, str) or (tenant is not None and owner != tenant):
            return None
        return IntentState(intent_id=intent_id, tenant=owner, cn_mode=self._settings.cn_mode)

    async def _known_or_none(self, intent_id: str, tenant: str) -> IntentState | None:
        """After a failed start: the intent if it was started, None if not or if Temporal cannot tell."""
        try:
            return await self.known(intent_id, tenant)
        except Unavailable:
            return None

    async def from_store(self, payment: Payment) -> IntentState:
        assert payment.id is not None
        details = await self._payments.details(payment.id)
        return IntentState(
            intent_id=payment.intent_id,
            tenant=payment.tenant,
            cn_mode=self._settings.cn_mode,
            payment_id=payment.id,
            status=PaymentStatus(payment.status),
            control_number=payment.control_number,
            expected_amount=payment.expected_amount,
            transfer_fee=payment.transfer_fee,
            amount_to_be_paid=payment.amount_to_be_paid,
            reason=payment.rejected_reason,
            lines=[
                LineState(
                    insurance_number=d.insurance_number,
                    product_code=d.product_code,
                    stage=PolicyStage(d.stage),
                    expected_amount=d.expected_amount,
                    basis=d.basis,
                )
                for d in details
            ],
        )

    async def update(self, intent_id: str, update: Any, *args: Any, update_id: str | None = None) -> Any:
        """Send an update; the same `update_id` joins an earlier one (Temporal dedupes it within the run)."""
        call = self.handle(intent_id).execute_update(update, args=list(args), id=update_id)
        return await within(call, self._settings.update_timeout_s, "The payment workflow")
