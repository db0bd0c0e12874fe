"""GePG's XML on the openIMIS callback routes (research §2.4, §2.5, §2.10): what a GePG deployment
posts to `/api/GetReqControlNumber`, `/api/GetPaymentData` and `/api/GetReconciliationData`, answered
with our signed ack.

The route picks this path by Content-Type (XML); JSON clients see no change. Order of checks: a body
that does not parse or bind answers 7242; a signature that does not verify against GePG's
certificate answers 7303 before anything is looked up, written or sent to a workflow; only then is
each bill or payment handed to the same code as the JSON route (the intent's `receive_control_number`
update; `PaymentService.receive`, which keeps the audit log). The ack is always HTTP 200, as GePG
expects; an outage still answers 503 (the `Unavailable` handler), so GePG delivers again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from fastapi import Request, Response
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api import gepg_pool
from api.auth import Principal
from api.intent_service import IntentService
from api.payment_service import Notification, PaymentService
from domain.intent import PaymentReport
from domain.payment_flow import ControlNumberReceipt
from domain.reconciliation import StatementLine
from gepg import codes, messages
from gepg.signing import Signer, Verifier, signer_from_pkcs12, verifier_from_certificate
from gepg.xml import Envelope, MessageError, SignatureError, verified
from payflow.settings import Settings
from store import gepg_statements
from store.db import SessionFactory
from store.payments import PaymentStore
from store.pool import PoolStore
from workflows.payment_intent import PaymentIntentWorkflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GepgKeys:
    signer: Signer
    gepg: Verifier


@cache
def _keys(key: Path, password: str, certificate: Path) -> GepgKeys:
    return GepgKeys(signer_from_pkcs12(key, password), verifier_from_certificate(certificate))


def keys(settings: Settings) -> GepgKeys | None:
    """Our signer and GePG's verifier, read once per process; None when GePG is not configured."""
    if not (settings.gepg_key_path and settings.gepg_certificate_path):
        return None
    return _keys(settings.gepg_key_path, settings.gepg_key_password, settings.gepg_certificate_path)


def is_xml(request: Request) -> bool:
    return "xml" in request.headers.get("content-type", "").lower()


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
    k: GepgKeys, raw: bytes, principal: Principal, store: PaymentStore, flows: IntentService, pool: PoolStore
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
        payment = await store.by_id(bill_id, principal.tenant)
        if payment is None:
            log.warning("GePG control number for unknown bill %s", bill_id)
            continue
        settled = result.status == codes.SETTLED
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


async def payments(k: GepgKeys, raw: bytes, principal: Principal, service: PaymentService) -> Response:
    """`gepgPmtSpInfo`: each payment through `PaymentService.receive`, as a JSON notification goes."""
    envelope = _verified(k, raw, messages.PAYMENT)
    if isinstance(envelope, str):
        return _ack(k, messages.PAYMENT_ACK, envelope)
    today = datetime.now(UTC).date()
    try:
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
            for p in messages.read_payment_info(envelope)
        ]
    except (MessageError, ValidationError):
        return _ack(k, messages.PAYMENT_ACK, codes.INVALID_REQUEST)
    for notification in notifications:  # each outcome is in the audit log, as for JSON
        await service.receive(principal, notification, raw.decode(errors="replace"))
    return _ack(k, messages.PAYMENT_ACK, codes.SUCCESS)


async def statement(k: GepgKeys, raw: bytes, principal: Principal, sessions: SessionFactory) -> Response:
    """`gepgSpReconcResp`: kept by its SpReconcReqId for the reconciliation activity waiting on it
    (activities/gepg_reconciliation.py), which compares it and feeds the payments we lack."""
    envelope = _verified(k, raw, messages.RECONCILIATION)
    if isinstance(envelope, str):
        return _ack(k, messages.RECONCILIATION_ACK, envelope, "ReconcStsCode")
    try:
        answer = messages.read_reconciliation(envelope)
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
    await gepg_statements.keep(sessions, answer.request_id, principal.tenant, answer.status_code, lines)
    return _ack(k, messages.RECONCILIATION_ACK, codes.SUCCESS, "ReconcStsCode")
