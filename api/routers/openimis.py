"""openIMIS ePayment-compatible routes (research §2): field names, codes, messages and statuses kept.

Existing clients (the EO Android app, gateways) switch base URL and token and nothing else.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import JSONResponse, Response
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.auth import Principal, authorize
from api.deps import intents, payments
from api.errors import OPENIMIS_TAG
from api.intent_service import IntentService
from api.openimis_schemas import (
    ACKNOWLEDGEMENT,
    ASSIGNED_CONTROL_NUMBERS,
    CONTROL_NUMBER_DELIVERY,
    INTENT_OF_PAY,
    MAX_IDENTIFIERS,
    request_body,
)
from api.openimis_wire import WireError, body, intent_of_pay, internal_identifier, payment_or_intent
from domain.intent import INTENT_MESSAGES, PaymentIntentInput
from domain.payment_flow import Acknowledgement, ControlNumberReceipt, IntentState, payment_workflow_id
from domain.status import PaymentStatus
from store.models import Payment
from store.payments import PaymentStore
from workflows.payment_intent import PaymentIntentWorkflow

router = APIRouter(prefix="/api", tags=[OPENIMIS_TAG])

ACK_FAILED = "1-Request for control number cannot be posted in the  external payment gateway"
CN_FAILED = "1-Control number cannot be assigned by the external payment gateway"
CN_DUPLICATE = "2-Duplicate Control Number"
WRONG_IDENTIFIER = "1-  Wrong format of internal identifier"


def _v2_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error_occured": True, "error_message": message}, status_code=status)


def _error(message: str) -> JSONResponse:
    return JSONResponse({"error_message": message}, status_code=400)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise WireError("2-Wrong format of input data") from err


async def _owned(store: PaymentStore, payment_id: int, principal: Principal) -> Payment | None:
    return await store.by_id(payment_id, principal.tenant)


def _control_number_answer(state: IntentState) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "error_occured": False,
        "error_message": INTENT_MESSAGES[0],
        # No payment record yet (its worker has not taken the intent up): the intent id stands in for
        # it, and GetAssignedControlNumbers accepts either.
        "internal_identifier": str(state.payment_id) if state.payment_id is not None else state.intent_id,
        "control_number": state.control_number,
    }
    if state.error_code is not None:
        answer |= {"error_occured": True, "error_message": INTENT_MESSAGES[state.error_code]}
    elif state.status is PaymentStatus.FAILED_CONTROL_NUMBER:
        answer |= {"error_occured": True, "error_message": INTENT_MESSAGES[8]}
    elif state.status is PaymentStatus.FAILED_REQUEST:
        answer |= {"error_occured": True, "error_message": INTENT_MESSAGES[9]}
    return answer


@router.post(
    "/GetControlNumber",
    summary="Create a payment intent and obtain its control number",
    openapi_extra=request_body(INTENT_OF_PAY),
)
async def get_control_number(
    request: Request,
    principal: Principal = Security(authorize, scopes=["payments:write"]),
    service: IntentService = Depends(intents),
) -> JSONResponse:
    try:
        fields = intent_of_pay(await read_json(request))
    except WireError as err:
        return _v2_error(str(err))
    settings = request.app.state.settings
    intent = PaymentIntentInput(
        intent_id=str(uuid.uuid4()), tenant=principal.tenant, options=settings.intent_options, **fields
    )
    state = await service.start(intent, settings.cn_wait_s)
    return JSONResponse(_control_number_answer(state))


@router.post(
    "/GetAssignedControlNumbers",
    summary="Control numbers of earlier intents",
    openapi_extra=request_body(ASSIGNED_CONTROL_NUMBERS),
)
async def get_assigned_control_numbers(
    request: Request,
    principal: Principal = Security(authorize, scopes=["payments:read"]),
    store: PaymentStore = Depends(payments),
) -> JSONResponse:
    try:
        raw = body(await read_json(request)).get("requests")
        if not isinstance(raw, list) or not raw:
            raise WireError(WRONG_IDENTIFIER)
        if len(raw) > MAX_IDENTIFIERS:
            raise WireError(f"2-Wrong format of input data: at most {MAX_IDENTIFIERS} identifiers")
        ids = [payment_or_intent(body(r).get("internal_identifier"), WRONG_IDENTIFIER) for r in raw]
    except WireError as err:
        return _v2_error(str(err))
    numeric = {i for i in ids if isinstance(i, int)}
    intents = {i for i in ids if isinstance(i, str)}
    found: dict[int | str, str | None] = {}
    for p in await store.by_ids(principal.tenant, numeric, intents):  # one query for both kinds
        if p.id is not None:
            found |= {k: p.control_number for k in (p.id, p.intent_id) if k in numeric or k in intents}
    missing = [i for i in dict.fromkeys(ids) if isinstance(i, str) and i not in found]
    for intent_id in await _started(request.app.state.temporal, principal.tenant, missing):
        found[intent_id] = None  # started, no payment record yet: no control number either
    unknown = [str(i) for i in dict.fromkeys(ids) if i not in found]
    if unknown:
        return _v2_error("2-Not valid internal identifier " + ",".join(unknown))
    assigned = [{"internal_identifier": str(i), "control_number": found[i]} for i in dict.fromkeys(ids)]
    return JSONResponse({"error_occured": False, "assigned_control_numbers": assigned})


async def _started(temporal: Client, tenant: str, intent_ids: list[str]) -> list[str]:
    """Which of these intents (UUIDs) the tenant started: one visibility query for all of them, so
    that ids nobody started cost one Temporal call per request, not one each."""
    if not intent_ids:
        return []
    ids = {payment_workflow_id(i): i for i in intent_ids}
    quoted = tenant.replace("\\", "\\\\").replace("'", "\\'")
    listed = ", ".join(f"'{w}'" for w in ids)
    query = f"WorkflowId IN ({listed}) AND Tenant = '{quoted}'"
    return [ids[w.id] async for w in temporal.list_workflows(query) if w.id in ids]


@router.post(
    "/PostReqControlNumberAck",
    summary="Gateway acknowledges a bill",
    openapi_extra=request_body(ACKNOWLEDGEMENT),
)
async def post_req_control_number_ack(
    request: Request,
    principal: Principal = Security(authorize, scopes=["gateway"]),
    store: PaymentStore = Depends(payments),
    service: IntentService = Depends(intents),
) -> Response:
    try:
        b = body(await read_json(request))
        payment_id = internal_identifier(b.get("internal_identifier"), WRONG_IDENTIFIER)
        ack = Acknowledgement(
            error_occured=bool(b.get("error_occured")), error_message=b.get("error_message")
        )
    except (WireError, ValueError) as err:
        return _error(str(err) if isinstance(err, WireError) else "2-Wrong format of input data")
    payment = await _owned(store, payment_id, principal)
    if payment is None:
        return _error(ACK_FAILED)
    try:
        await service.update(payment.intent_id, PaymentIntentWorkflow.acknowledge, ack)
    except (WorkflowUpdateFailedError, RPCError):
        return _error(ACK_FAILED)
    return Response(status_code=200)


@router.post(
    "/GetReqControlNumber",
    summary="Gateway delivers a control number",
    openapi_extra=request_body(CONTROL_NUMBER_DELIVERY),
)
async def get_req_control_number(
    request: Request,
    principal: Principal = Security(authorize, scopes=["gateway"]),
    store: PaymentStore = Depends(payments),
    service: IntentService = Depends(intents),
) -> Response:
    try:
        b = body(await read_json(request))
        payment_id = internal_identifier(b.get("internal_identifier"), WRONG_IDENTIFIER)
        if b.get("error_occured") is None:
            raise WireError("2-Wrong format of input data")
        receipt = ControlNumberReceipt(
            control_number=None if b.get("control_number") is None else str(b.get("control_number")),
            error_occured=bool(b.get("error_occured")),
            error_message=b.get("error_message"),
        )
    except (WireError, ValueError) as err:
        return _error(str(err) if isinstance(err, WireError) else "2-Wrong format of input data")
    payment = await _owned(store, payment_id, principal)
    if payment is None:
        return _error(CN_FAILED)
    try:
        result = await service.update(
            payment.intent_id, PaymentIntentWorkflow.receive_control_number, receipt
        )
    except (WorkflowUpdateFailedError, RPCError):
        if receipt.control_number and receipt.control_number == payment.control_number:
            return Response(status_code=200)  # a repeat whose first answer was lost; the flow went on
        return _error(CN_FAILED)
    if result.outcome == "refused":  # the intent was cancelled meanwhile
        return _error(CN_FAILED)
    if result.outcome == "duplicate":
        return _error(CN_DUPLICATE)
    return Response(status_code=200)
