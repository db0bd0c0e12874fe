"""GePG's XML on the openIMIS callback routes (research §2.4, §2.5, §2.10): what a GePG deployment
posts to `/api/GetReqControlNumber`, `/api/GetPaymentData` and `/api/GetReconciliationData`, answered
with our signed ack.

GePG sends no token: its signature is the authentication (SPEC §6). The deployment maps GePG's
certificate (`gepg_certificate_path`) and our SpCode (`gepg_sp_code`) to one tenant (`gepg_tenant`),
for whom a verified message acts as a `gateway` client would. `GepgRoute` takes a request only when it
is XML in a deployment that speaks GePG; any other goes on to the JSON route of the same path, which
keeps its token. Order of checks: a body that is not exactly one signed envelope answers 7242, a
signature that does not verify against GePG's certificate 7303, before anything is looked up,
written, logged with its data or sent to a workflow; a message for another SpCode, or one that does
not bind, 7242; only then is each bill or payment handed to the same code as the JSON route (the
intent's `receive_control_number` update; `PaymentService.receive`, which keeps the audit log). The
ack is always HTTP 200, as GePG expects; an outage still answers 503 (the `Unavailable` handler), so
GePG delivers again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api import gepg_pool
from api.auth import Principal
from api.deps import intents, payment_service, payments
from api.errors import OPENIMIS_TAG, problem
from api.intent_service import IntentService
from api.payment_service import Notification, PaymentService
from domain.intent import PaymentReport
from domain.payment_flow import ControlNumberReceipt
from domain.reconciliation import StatementLine
from gepg import codes, messages
from gepg.signing import Signer, Verifier, signer_from_pkcs12, verifier_from_certificate
from gepg.xml import Envelope, MessageError, SignatureError, verified
from infra.settings import Settings
from store import gepg_statements
from store.db import SessionFactory
from store.payments import PaymentStore
from store.pool import PoolStore
from workflows.payment_intent import PaymentIntentWorkflow

log = logging.getLogger(__name__)
CLIENT_ID = "gepg"
"""The client a GePG message is logged under (the audit log's client_id)."""


@dataclass(frozen=True)
class GepgKeys:
    signer: Signer
    gepg: Verifier
    sp_code: str
    principal: Principal
    """The tenant GePG's certificate and our SpCode map to, with the gateway's scope."""


@cache
def _keys(key: Path, password: str, certificate: Path, sp_code: str, tenant: str) -> GepgKeys:
    principal = Principal(client_id=CLIENT_ID, tenant=tenant, scopes=frozenset({"gateway"}))
    signer, gepg = signer_from_pkcs12(key, password), verifier_from_certificate(certificate)
    return GepgKeys(signer, gepg, sp_code, principal)


def keys(settings: Settings) -> GepgKeys | None:
    """Our signer, GePG's verifier and its tenant, read once per process; None when GePG is not
    configured (key, GePG's certificate and the tenant they map to)."""
    if not (settings.gepg_key_path and settings.gepg_certificate_path and settings.gepg_tenant):
        return None
    return _keys(
        settings.gepg_key_path,
        settings.gepg_key_password,
        settings.gepg_certificate_path,
        settings.gepg_sp_code,
        settings.gepg_tenant,
    )


def _is_xml(headers: Headers) -> bool:
    return "xml" in headers.get("content-type", "").lower()


class GepgRoute(APIRoute):
    """A route for GePG's XML only: a JSON request (or any request where GePG is not configured)
    does not match it and reaches the token-checked JSON route of the same path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        if keys(scope["app"].state.settings) is None or not _is_xml(Headers(scope=scope)):
            return Match.NONE, {}
        return match, child


router = APIRouter(prefix="/api", tags=[OPENIMIS_TAG])


def _gepg(request: Request) -> GepgKeys:
    k = keys(request.app.state.settings)
    assert k is not None, "GepgRoute matched without GePG configured"
    request.state.tenant = k.principal.tenant  # for the request's log line (api/telemetry.py)
    return k


async def get_req_control_number(
    request: Request,
    store: PaymentStore = Depends(payments),
    flows: IntentService = Depends(intents),
) -> Response:
    pool = PoolStore(request.app.state.sessions)
    return await control_numbers(_gepg(request), await request.body(), store, flows, pool)


async def get_payment_data(request: Request, service: PaymentService = Depends(payment_service)) -> Response:
    return await payments_received(_gepg(request), await request.body(), service)


for path, endpoint in (
    ("/GetReqControlNumber", get_req_control_number),
    ("/GetPaymentData", get_payment_data),
):  # the JSON routes of these paths document them
    router.add_api_route(
        path, endpoint, methods=["POST"], include_in_schema=False, route_class_override=GepgRoute
    )


@router.post(
    "/GetReconciliationData",
    summary="GePG delivers a reconciliation statement (gepgSpReconcResp), signed, without a token",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string"}}}}
    },
    responses={
        200: {"description": "signed gepgSpReconcRespAck", "content": {"application/xml": {}}},
        404: {"description": "this deployment does not speak GePG"},
        415: {"description": "not XML: only GePG posts here"},
    },
)
async def get_reconciliation_data(request: Request) -> Response:
    """GePG's asynchronous answer to our `gepgSpReconcReq` (research §2.10): XML only, no JSON twin."""
    if keys(request.app.state.settings) is None:
        return problem(404, "gepg_not_configured", "this deployment does not speak GePG")
    if not _is_xml(request.headers):
        return problem(415, "unsupported_media_type", "GePG posts gepgSpReconcResp as application/xml")
    return await statement(_gepg(request), await request.body(), request.app.state.sessions)


def _ack(k: GepgKeys, tag: str, code: str, field_name: str = "TrxStsCode") -> Response:
    inner = messages.status_ack(tag, code, field_name)
    return Response(messages.signed(k.signer, inner), media_type="application/xml")


def _verified(k: GepgKeys, raw: bytes, tag: str) -> Envelope | str:
    """The envelope, or the code to answer: 7242 when it is not exactly one, 7303 when unsigned."""
    try:
        return verified(raw, tag, k.gepg)
    except SignatureError as err:
        log.warning("GePG %s refused: %s", tag, err)
        return codes.INVALID_SIGNATURE
    except MessageError as err:
        log.warning("GePG %s refused: %s", tag, err)
        return codes.INVALID_REQUEST


async def control_numbers(
    k: GepgKeys, raw: bytes, store: PaymentStore, flows: IntentService, pool: PoolStore
) -> Response:
    """`gepgBillSubResp`: each bill's control number (GS) or failure (GF) to its intent, or to the
    control-number pool for the bills of a bulk request (api/gepg_pool.py)."""
    envelope = _verified(k, raw, messages.BILL_RESPONSE)
    if isinstance(envelope, str):
        return _ack(k, messages.BILL_RESPONSE_ACK, envelope)
    try:
        results, pooled = gepg_pool.split(messages.read_bill_submission_response(envelope))
    except (MessageError, ValueError):
        return _ack(k, messages.BILL_RESPONSE_ACK, codes.INVALID_REQUEST)
    await gepg_pool.receive(pool, pooled)
    for result in results:
        bill_id = int(result.bill_id)
        payment = await store.by_id(bill_id, k.principal.tenant)
        if payment is None:
            log.warning("GePG control number for unknown bill %s", bill_id)
            continue
        settled = result.settled
        receipt = ControlNumberReceipt(
            control_number=result.control_number if settled else None,
            error_occured=not settled,
            error_message=None if settled else codes.reasons(result.code),
        )
        try:
            await flows.update(payment.intent_id, PaymentIntentWorkflow.receive_control_number, receipt)
        except (WorkflowUpdateFailedError, RPCError) as err:  # cancelled meanwhile, or its flow ended
            log.warning("GePG control number for bill %s not taken: %s", bill_id, err)
    return _ack(k, messages.BILL_RESPONSE_ACK, codes.SUCCESS)


async def payments_received(k: GepgKeys, raw: bytes, service: PaymentService) -> Response:
    """`gepgPmtSpInfo`: each payment through `PaymentService.receive`, as a JSON notification goes."""
    envelope = _verified(k, raw, messages.PAYMENT)
    if isinstance(envelope, str):
        return _ack(k, messages.PAYMENT_ACK, envelope)
    today = datetime.now(UTC).date()
    try:
        received = messages.read_payment_info(envelope)
        if any(p.sp_code != k.sp_code for p in received):
            raise MessageError("a payment for another SpCode")
        notifications = [
            Notification(
                PaymentReport(
                    control_number=p.control_number,
                    transaction_id=p.trx_id,
                    receipt_no=p.pay_ref_id or None,
                    amount=p.paid_amount,
                    received_date=today,
                    payment_date=p.paid_at.date(),
                    origin=p.psp_name or None,
                    payer_phone=p.payer_phone or None,
                )
            )
            for p in received
        ]
    except (MessageError, ValidationError):
        return _ack(k, messages.PAYMENT_ACK, codes.INVALID_REQUEST)
    for notification in notifications:  # each outcome is in the audit log, as for JSON
        await service.receive(k.principal, notification, raw.decode(errors="replace"))
    return _ack(k, messages.PAYMENT_ACK, codes.SUCCESS)


async def statement(k: GepgKeys, raw: bytes, sessions: SessionFactory) -> Response:
    """`gepgSpReconcResp`: kept by its SpReconcReqId for the reconciliation activity waiting on it
    (activities/gepg_reconciliation.py), which compares it and feeds the payments we lack."""
    envelope = _verified(k, raw, messages.RECONCILIATION)
    if isinstance(envelope, str):
        return _ack(k, messages.RECONCILIATION_ACK, envelope, "ReconcStsCode")
    try:
        answer = messages.read_reconciliation(envelope)
        if answer.sp_code != k.sp_code:
            raise MessageError("a statement for another SpCode")
        lines = [
            StatementLine(
                control_number=p.control_number,
                transaction_id=p.psp_trx_id,
                amount=p.paid_amount,
                paid_on=p.paid_at.date(),
                receipt=p.pay_ref_id or None,
                payer_phone=p.payer_phone or None,
                psp=p.psp_name or None,
            )
            for p in answer.payments
        ]
    except (MessageError, ValidationError):
        return _ack(k, messages.RECONCILIATION_ACK, codes.INVALID_REQUEST, "ReconcStsCode")
    await gepg_statements.keep(sessions, answer.request_id, k.principal.tenant, answer.status_code, lines)
    return _ack(k, messages.RECONCILIATION_ACK, codes.SUCCESS, "ReconcStsCode")
