"""Activity interfaces: the names and typed signatures the workflows call.

Workflows import only this module (domain models and temporalio), never the implementations that pull
in the store or httpx; the classes in `activities/` implement these names, and tests substitute any of
them by registering a function with the same `@activity.defn(name=...)`.
"""

from __future__ import annotations

from datetime import date, datetime

from temporalio import activity

from domain.claim_flow import CaseChangeWrite, CaseCreation, RevisionCancel, SettlementWrite
from domain.delivery_flow import AttemptOutcome, AttemptRequest, DeliveryDone
from domain.intent import GatewayProtocol, PaymentIntentInput
from domain.payment_flow import (
    BillAck,
    BillRequest,
    CancelOutcome,
    ControlNumberWrite,
    MatchRequest,
    MatchResult,
    ReceiptResult,
    ReceiptWrite,
    SmsNotice,
    StatusWrite,
    StoreView,
    ValuationResult,
)
from domain.pool import BulkRequest, PoolDraw, PoolShortfall, PoolTake, TopUpInput, TopUpResult
from domain.reconciliation import Comparison, MissingPayment, ReconciliationReport, RunDays, Statement
from domain.sms import ResendReport

# --- payment intent (store) ---


@activity.defn(name="value_intent")
async def value_intent(request: PaymentIntentInput) -> ValuationResult: ...


@activity.defn(name="assign_internal_control_number")
async def assign_internal_control_number(payment_id: int) -> str: ...


@activity.defn(name="store_control_number")
async def store_control_number(write: ControlNumberWrite) -> str: ...


@activity.defn(name="record_receipt")
async def record_receipt(write: ReceiptWrite) -> ReceiptResult: ...


@activity.defn(name="match_payment")
async def match_payment(request: MatchRequest) -> MatchResult: ...


@activity.defn(name="record_status")
async def record_status(write: StatusWrite) -> bool: ...


@activity.defn(name="move_status")
async def move_status(write: StatusWrite) -> StoreView: ...


# --- control-number pool ---


@activity.defn(name="take_pool_number")
async def take_pool_number(take: PoolTake) -> PoolDraw: ...


@activity.defn(name="pool_shortfalls")
async def pool_shortfalls(topup: TopUpInput) -> list[PoolShortfall]: ...


@activity.defn(name="request_pool_numbers")
async def request_pool_numbers(request: BulkRequest) -> TopUpResult: ...


# --- payment gateway and SMS ---


@activity.defn(name="post_bill")
async def post_bill(bill: BillRequest) -> BillAck: ...


@activity.defn(name="cancel_bill")
async def cancel_bill(intent_id: str, protocol: GatewayProtocol = GatewayProtocol.JSON) -> CancelOutcome: ...


@activity.defn(name="send_sms")
async def send_sms(notice: SmsNotice) -> str: ...


@activity.defn(name="resend_sms")
async def resend_sms(now: datetime) -> ResendReport: ...


# --- reconciliation ---


@activity.defn(name="open_reconciliation_days")
async def open_reconciliation_days(days: RunDays) -> list[date]: ...


@activity.defn(name="finish_reconciliation_day")
async def finish_reconciliation_day(report: ReconciliationReport) -> None: ...


@activity.defn(name="fetch_statement")
async def fetch_statement(day: date) -> Statement: ...


@activity.defn(name="compare_statement")
async def compare_statement(statement: Statement) -> Comparison: ...


@activity.defn(name="reconcile_statement")
async def reconcile_statement(day: date) -> Comparison: ...


@activity.defn(name="feed_payment")
async def feed_payment(missing: MissingPayment) -> bool: ...


# --- claims ---


@activity.defn(name="create_case")
async def create_case(creation: CaseCreation) -> int: ...


@activity.defn(name="record_settlement")
async def record_settlement(write: SettlementWrite) -> tuple[str, list[int]]: ...


@activity.defn(name="record_case_change")
async def record_case_change(write: CaseChangeWrite) -> int: ...


@activity.defn(name="cancel_revision")
async def cancel_revision(cancel: RevisionCancel) -> bool: ...


# --- webhook delivery ---


@activity.defn(name="attempt")
async def attempt(request: AttemptRequest) -> AttemptOutcome: ...


@activity.defn(name="finish_delivery")
async def finish_delivery(done: DeliveryDone) -> None: ...
