"""Modern payment-intent routes: POST with Idempotency-Key, GET the live state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, Security

from api.auth import Principal, authorize
from api.deps import intents, payment_service, payments
from api.errors import ApiError, Unavailable
from api.intent_service import IntentService, fingerprint
from api.pagination import Cursor, Limit, Page, decode, page, since
from api.payment_service import PaymentService
from api.schemas import ROW_ID_MAX, PaymentIntentCreate, PaymentIntentSummary, PaymentIntentView
from domain.intent import INTENT_MESSAGES, MAX_INSURANCE_NUMBER, IntentLine, PaymentIntentInput
from domain.payment_flow import MatchResult
from domain.registry import PolicyStage
from domain.status import PaymentStatus
from store.models import Payment
from store.payments import PaymentStore

router = APIRouter(prefix="/v1/payment-intents", tags=["payment intents"])
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f3c52-3a55-4c1e-9a43-6f1d0c8e7a21")
PROBLEM_RESPONSES = {
    400: {"description": "Malformed JSON"},
    401: {"description": "Missing or bad token"},
    403: {"description": "Missing scope"},
    409: {"description": "Idempotency-Key reused with another body"},
    422: {"description": "Invalid or rejected intent (problem+json with `code`)"},
}


def _intent_id(principal: Principal, key: str | None) -> str:
    """A random id without a key; an empty Idempotency-Key counts as none, as in the check before."""
    if not key:
        return str(uuid.uuid4())
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{principal.tenant}\n{principal.client_id}\n{key}"))


@router.post("", status_code=201, response_model=PaymentIntentView, responses=PROBLEM_RESPONSES)
async def create_payment_intent(
    body: PaymentIntentCreate,
    request: Request,
    response: Response,
    principal: Principal = Security(authorize, scopes=["payments:write"]),
    service: IntentService = Depends(intents),
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for the control number")] = 0,
) -> PaymentIntentView:
    """Create a payment intent. The same Idempotency-Key with the same body returns the same intent."""
    if body.amount_to_be_paid and not body.officer_code:
        raise ApiError(
            422, "amount_requires_officer", "amount_to_be_paid is only allowed with an officer_code."
        )
    intent_id = _intent_id(principal, idempotency_key)
    request_hash = fingerprint(body.model_dump(mode="json"))
    existing = await service.existing_hash(intent_id) if idempotency_key else False
    if existing is not False:
        if existing != request_hash:
            raise ApiError(
                409, "idempotency_key_reused", "This Idempotency-Key was used with a different body."
            )
        state = await service.state(intent_id)
        response.status_code = 200
    else:
        settings = request.app.state.settings
        intent = PaymentIntentInput(
            intent_id=intent_id,
            tenant=principal.tenant,
            phone_number=body.phone_number,
            request_date=body.request_date,
            officer_code=body.officer_code or None,
            lines=[
                IntentLine(
                    insurance_number=p.insurance_number or None,
                    product_code=p.product_code,
                    stage=PolicyStage.RENEWAL if p.renewal else PolicyStage.NEW,
                    amount=p.amount,
                )
                for p in body.policies
            ],
            amount_to_be_paid=body.amount_to_be_paid,
            language=body.language,
            type_of_payment=body.type_of_payment,
            sms_required=body.sms_required,
            options=settings.intent_options,
        )
        state = await service.start(intent, wait, request_hash)
    if state is None:
        raise Unavailable(
            "The intent exists but its state is not readable yet; retry.",
            cause="no state from the workflow or the store",
            code="workflow_unavailable",
        )
    if state.error_code is not None:
        raise ApiError(
            422,
            "intent_rejected",
            INTENT_MESSAGES[state.error_code],
            intent_id=state.intent_id,
            openimis_code=state.error_code,
            payment_id=state.payment_id,
        )
    return PaymentIntentView.of(state)


async def _resolve(raw: str, principal: Principal, service: PaymentService) -> str:
    """The intent id in a path: the intent's UUID, or the numeric payment id the openIMIS routes
    answer as `internal_identifier` (ASCII digits only: `int()` would take other scripts' digits)."""
    if raw.isascii() and raw.isdigit():
        payment = await service.owned(principal, int(raw)) if int(raw) <= ROW_ID_MAX else None
        if payment is None:
            raise ApiError(404, "intent_not_found", f"No payment intent {raw} for this tenant.")
        return payment.intent_id
    try:
        return str(uuid.UUID(raw))
    except ValueError as err:
        raise ApiError(422, "invalid_intent_id", "The id is neither an intent id nor a payment id.") from err


@router.get("", response_model=Page[PaymentIntentSummary])
async def list_payment_intents(
    request: Request,
    principal: Principal = Security(authorize, scopes=["payments:read"]),
    store: PaymentStore = Depends(payments),
    control_number: Annotated[str | None, Query(max_length=50)] = None,
    insurance_number: Annotated[str | None, Query(max_length=MAX_INSURANCE_NUMBER)] = None,
    status: Annotated[PaymentStatus | None, Query(description="status code, e.g. 3 ASSIGNED")] = None,
    created_since: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[PaymentIntentSummary]:
    """The tenant's intents, oldest first, as the store has them; filters combine (AND). Read one with
    `GET /v1/payment-intents/{id}` (its id or its `payment_id`) for the live state and timeline."""
    after = decode(cursor, "intents", [int])
    since_utc = since(created_since, "created_since")
    rows = await store.search(
        principal.tenant,
        control_number=control_number,
        insurance_number=insurance_number,
        status=status,
        created_since=since_utc,
        after=after[0] if after else 0,
        limit=limit + 1,
    )
    shown, next_cursor, next_url = page(request, rows, limit, "intents", lambda p: [p.id])
    numbers = await store.insurance_numbers(p.id for p in shown if p.id is not None)
    items = [PaymentIntentSummary.of(p, numbers.get(p.id or 0, [])) for p in shown]
    return Page(items=items, next_cursor=next_cursor, next=next_url)


IntentId = Annotated[
    str, Path(max_length=45, description="the intent id, or its numeric payment id (`internal_identifier`)")
]


@router.get(
    "/{intent_id}", response_model=PaymentIntentView, responses={404: {"description": "Unknown intent"}}
)
async def get_payment_intent(
    intent_id: IntentId,
    principal: Principal = Security(authorize, scopes=["payments:read"]),
    service: IntentService = Depends(intents),
    payments: PaymentService = Depends(payment_service),
) -> PaymentIntentView:
    state = await service.state(await _resolve(intent_id, principal, payments))
    if state is None or state.tenant != principal.tenant:
        raise ApiError(404, "intent_not_found", f"No payment intent {intent_id} for this tenant.")
    return PaymentIntentView.of(state)


async def _owned_payment(
    raw: str, principal: Principal, service: PaymentService, flows: IntentService
) -> Payment:
    intent_id = await _resolve(raw, principal, service)
    payment = await service.by_intent(principal, intent_id)
    if payment is not None:
        return payment
    if await flows.known(intent_id, principal.tenant) is not None:
        raise Unavailable(
            "The intent is being created (its worker has not taken it up yet); retry.",
            cause="no payment record yet",
            code="intent_pending",
        )
    raise ApiError(404, "intent_not_found", f"No payment intent {raw} for this tenant.")


@router.post("/{intent_id}/cancel", response_model=PaymentIntentView, responses=PROBLEM_RESPONSES)
async def cancel_payment_intent(
    intent_id: IntentId,
    principal: Principal = Security(authorize, scopes=["payments:write"]),
    service: PaymentService = Depends(payment_service),
    flows: IntentService = Depends(intents),
) -> PaymentIntentView:
    """Cancel an unpaid intent: the bill is cancelled at the gateway first, then the SMS is sent."""
    payment = await _owned_payment(intent_id, principal, service, flows)
    outcome = await service.cancel(payment, "Cancelled on request")
    if not outcome.cancelled:
        raise ApiError(409, "not_cancellable", outcome.message or "The intent cannot be cancelled.")
    state = await flows.state(payment.intent_id)
    assert state is not None
    return PaymentIntentView.of(state)


@router.post("/{intent_id}/rematch", response_model=MatchResult, responses=PROBLEM_RESPONSES)
async def rematch_payment_intent(
    intent_id: IntentId,
    principal: Principal = Security(authorize, scopes=["payments:write"]),
    service: PaymentService = Depends(payment_service),
    flows: IntentService = Depends(intents),
) -> MatchResult:
    """Match a received payment now (after the family was registered, say); 409 when nothing waits."""
    payment = await _owned_payment(intent_id, principal, service, flows)
    result = await service.rematch(payment)
    if result is None:
        raise ApiError(409, "nothing_to_match", "This intent has no received payment waiting to be matched.")
    return result
