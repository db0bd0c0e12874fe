"""Modern gateway callbacks: payments and control numbers, as problem+json on errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Security
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.auth import Principal, authorize
from api.deps import intents, payment_service
from api.errors import ApiError
from api.intent_service import IntentService
from api.payment_service import Notification, PaymentService
from api.schemas import RowId
from domain.intent import PAYMENT_DATA_MESSAGES, PaymentReport
from domain.payment_flow import ControlNumberReceipt
from workflows.payment_intent import PaymentIntentWorkflow

router = APIRouter(prefix="/v1/gateway", tags=["gateway"])
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
PROBLEMS = {
    3: (404, "unknown_control_number"),
    4: (422, "wrong_amount"),
    5: (409, "duplicate_payment"),
    6: (422, "unknown_officer"),
    7: (422, "unknown_product"),
    8: (422, "no_policy_to_renew"),
}


class GatewayPayment(BaseModel):
    """A payment; with a control number it pays that bill, without one it names the policy paid."""

    model_config = ConfigDict(extra="forbid")

    control_number: Text | None = None
    transaction_id: Text
    amount: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]
    received_date: date
    payment_date: date | None = None
    receipt: Text | None = None
    origin: Text | None = None
    payer_phone: Annotated[str, StringConstraints(max_length=20)] | None = None
    insurance_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=11)] | None
    ) = None
    product_code: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8)] | None
    ) = None
    renewal: bool = False
    officer_code: Annotated[str, StringConstraints(max_length=8)] | None = None


class PaymentAccepted(BaseModel):
    payment_id: int | None
    intent_id: str | None


@router.post("/payments", response_model=PaymentAccepted, status_code=202)
async def gateway_payment(
    body: GatewayPayment,
    request: Request,
    principal: Principal = Security(authorize, scopes=["gateway"]),
    service: PaymentService = Depends(payment_service),
) -> PaymentAccepted:
    """Record a payment; matching follows in the intent's workflow (poll the intent for status 5)."""
    if body.control_number and (body.insurance_number or body.product_code or body.officer_code):
        raise ApiError(422, "policy_with_control_number", "Give a control number or the policy, not both.")
    if not body.control_number and not (body.insurance_number and body.product_code):
        raise ApiError(
            422,
            "policy_required",
            "Without a control number, insurance_number and product_code are required.",
        )
    report = PaymentReport(
        control_number=body.control_number,
        transaction_id=body.transaction_id,
        receipt_no=body.receipt,
        amount=body.amount,
        received_date=body.received_date,
        payment_date=body.payment_date,
        origin=body.origin,
        payer_phone=body.payer_phone,
    )
    notification = Notification(
        report, body.insurance_number, body.product_code, body.renewal, body.officer_code
    )
    outcome = await service.receive(principal, notification, (await request.body()).decode(errors="replace"))
    if outcome.code:
        status, code = PROBLEMS.get(outcome.code, (422, "payment_rejected"))
        raise ApiError(
            status,
            code,
            PAYMENT_DATA_MESSAGES[outcome.code],
            openimis_code=outcome.code,
            payment_id=outcome.payment_id,
        )
    return PaymentAccepted(payment_id=outcome.payment_id, intent_id=outcome.intent_id)


class ControlNumberDelivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: RowId
    control_number: Text | None = None
    error: Annotated[str, StringConstraints(max_length=255)] | None = None


class ControlNumberOutcome(BaseModel):
    outcome: str
    status: int


@router.post("/control-numbers", response_model=ControlNumberOutcome)
async def gateway_control_number(
    body: ControlNumberDelivery,
    principal: Principal = Security(authorize, scopes=["gateway"]),
    service: PaymentService = Depends(payment_service),
    flows: IntentService = Depends(intents),
) -> ControlNumberOutcome:
    """Deliver the control number of a posted bill, or the gateway's failure to issue one."""
    if (body.control_number is None) == (body.error is None):
        raise ApiError(422, "control_number_or_error", "Give either control_number or error.")
    payment = await service.owned(principal, body.payment_id)
    if payment is None:
        raise ApiError(404, "unknown_payment", f"No payment {body.payment_id} for this tenant.")
    receipt = ControlNumberReceipt(
        control_number=body.control_number, error_occured=body.error is not None, error_message=body.error
    )
    try:
        result = await flows.update(payment.intent_id, PaymentIntentWorkflow.receive_control_number, receipt)
    except (WorkflowUpdateFailedError, RPCError) as err:
        detail = str(getattr(err, "cause", None) or err)
        raise ApiError(409, "not_awaiting_control_number", detail) from err
    if result.outcome == "refused":
        raise ApiError(409, "not_awaiting_control_number", result.message)
    if result.outcome == "duplicate":
        raise ApiError(409, "duplicate_control_number", "This control number is held by another payment.")
    return ControlNumberOutcome(outcome=result.outcome, status=int(result.status))
