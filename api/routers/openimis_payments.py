"""openIMIS ePayment routes for money received (research §2.5, §2.7–§2.9): same fields, codes, texts."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from api.auth import Principal, authorize
from api.deps import payment_service
from api.errors import OPENIMIS_TAG
from api.openimis_schemas import (
    CANCEL_PAYMENT,
    MATCH_PAYMENT,
    PAYMENT_DATA,
    RECONCILIATION_PERIOD,
    request_body,
)
from api.openimis_wire import WireError, body, ddmmyyyy, internal_identifier, payment_data
from api.payment_service import Notification, PaymentService
from api.routers.openimis import read_json
from domain.intent import PAYMENT_DATA_MESSAGES, PaymentReport
from domain.payment_flow import MatchResult
from store.models import Payment

router = APIRouter(prefix="/api", tags=[OPENIMIS_TAG])
MATCH_CONCURRENCY = 8


def _data_message(code: int, message: str, data: Any = None, status: int = 200) -> JSONResponse:
    """openIMIS DataMessage, camel-cased on output as Json.NET's defaults do."""
    return JSONResponse(
        {"code": code, "messageValue": message, "errorOccured": code != 0, "data": data}, status_code=status
    )


@router.post(
    "/GetPaymentData", summary="Gateway notifies a payment", openapi_extra=request_body(PAYMENT_DATA)
)
async def get_payment_data(
    request: Request,
    principal: Principal = Security(authorize, scopes=["gateway"]),
    service: PaymentService = Depends(payment_service),
) -> Response:
    raw = (await request.body()).decode(errors="replace")
    try:
        fields = payment_data(await read_json(request))
        notification = Notification(report=PaymentReport(**fields.pop("report")), **fields)
    except (WireError, ValidationError) as err:
        message = str(err) if isinstance(err, WireError) else PAYMENT_DATA_MESSAGES[2]
        leading = re.match(r"\d+", message)
        await service.log_rejected_body(principal, raw, int(leading.group()) if leading else 2, message)
        return JSONResponse({"error_message": message}, status_code=400)
    outcome = await service.receive(principal, notification, raw)
    if outcome.code:
        return JSONResponse({"error_message": PAYMENT_DATA_MESSAGES[outcome.code]}, status_code=400)
    return _data_message(0, PAYMENT_DATA_MESSAGES[0], {"internal_identifier": str(outcome.payment_id)})


def _matched_rows(payment: Payment, result: MatchResult | None) -> list[dict[str, Any]]:
    if result is None:
        return [
            {
                "fdMsg": "No Payment matched",
                "productCode": None,
                "paymentId": payment.id,
                "insuranceNumber": None,
                "isActivated": False,
                "paymentMatched": 0,
            }
        ]
    return [
        {
            "fdMsg": "Payment matched" if result.matched else f"{line.error}: {line.message}",
            "productCode": line.product_code,
            "paymentId": payment.id,
            "insuranceNumber": line.insurance_number,
            "isActivated": line.activated,
            "paymentMatched": int(result.matched),
        }
        for line in result.lines
    ]


@router.post(
    "/MatchPayment",
    summary="Match one payment, or every unmatched one (0)",
    openapi_extra=request_body(MATCH_PAYMENT),
)
async def match_payment(
    request: Request,
    principal: Principal = Security(authorize, scopes=["payments:write"]),
    service: PaymentService = Depends(payment_service),
) -> JSONResponse:
    try:
        b = body(await read_json(request))
        raw_id = b.get("internal_identifier")
        target = internal_identifier(raw_id, PAYMENT_DATA_MESSAGES[2]) if raw_id not in (None, 0, "0") else 0
        if b.get("audit_user_id") is None:
            raise WireError("audit_user_id is required")
    except WireError as err:
        return JSONResponse({"error_message": str(err)}, status_code=400)
    if target:
        payment = await service.owned(principal, target)
        if payment is None:
            return _data_message(1, "1-The paymentId does not exist", [])
        payments = [payment]
    else:
        payments = await service.awaiting_match(principal)  # openIMIS' 0 matched nothing; here it means all
    limit = asyncio.Semaphore(MATCH_CONCURRENCY)

    async def one(payment: Payment) -> list[dict[str, Any]]:
        async with limit:
            return _matched_rows(payment, await service.rematch(payment))

    rows = [row for batch in await asyncio.gather(*(one(p) for p in payments)) for row in batch]
    matched = len({r["paymentId"] for r in rows if r["paymentMatched"]})
    return _data_message(0, f"{matched} Payment(s) matched" if matched else "No Payment matched", rows)


@router.post("/payment/cancel", summary="Cancel an unpaid bill", openapi_extra=request_body(CANCEL_PAYMENT))
async def cancel_payment(
    request: Request,
    principal: Principal = Security(authorize, scopes=["payments:write"]),
    service: PaymentService = Depends(payment_service),
) -> JSONResponse:
    try:
        b = body(await read_json(request))
    except WireError as err:
        return JSONResponse({"error_message": str(err)}, status_code=400)
    payment = None
    if b.has("control_number"):
        found = await service.by_control_number(principal, str(b.get("control_number")))
        payment = found
    elif b.has("payment_id"):
        try:
            payment = await service.owned(principal, internal_identifier(b.get("payment_id"), "bad"))
        except WireError:
            payment = None
    else:
        return _data_message(1, "CancelPayment:1:Missing Control Number")
    if payment is None:
        return _data_message(2, "CancelPayment:2:Control Number doesn't exists")
    outcome = await service.cancel(payment, "Cancelled on request")
    if not outcome.cancelled:
        return _data_message(3, "CancelPayment:3:Failed to cancel", {"reason": outcome.message})
    return _data_message(0, "CancelPayment:0:Success", {"internal_identifier": str(payment.id)})


@router.post(
    "/ProvideReconciliationData",
    summary="Payments received in a period",
    openapi_extra=request_body(RECONCILIATION_PERIOD),
)
async def provide_reconciliation_data(
    request: Request,
    principal: Principal = Security(authorize, scopes=["gateway"]),
    service: PaymentService = Depends(payment_service),
) -> JSONResponse:
    try:
        b = body(await read_json(request))
        if not b.has("date_from") or not b.has("date_to"):
            raise WireError("1-Missing specification of the period")
        first = ddmmyyyy(b.get("date_from"), "1-Missing specification of the period")
        last = ddmmyyyy(b.get("date_to"), "1-Missing specification of the period")
        if first > last:
            raise WireError("2-Beginning date follows closing date of the period")
        if first > datetime.now(UTC).date():
            raise WireError("3-The period is in the future")
    except WireError as err:
        return JSONResponse({"error_occurred": True, "error_message": str(err)}, status_code=400)
    rows = await service.reconciliation_items(principal, first, last)
    return JSONResponse({"transactions": rows, "error_occurred": False})
