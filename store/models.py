"""SQLModel tables: the openIMIS registry (SPEC §3.1), payments, SMS outbox and OAuth clients."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Column, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel
from ulid import ULID


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_webhook_id() -> str:
    """A webhook-id unique across tenants and deployments (a ULID: random, ordered by creation time,
    so the unique index grows at its end); an event keeps it for every retry, replay and endpoint."""
    return f"msg_{ULID()}"


def money(nullable: bool = False, default: Decimal | None = Decimal("0")) -> Decimal:
    return Field(default=default, sa_column=Column(Numeric(18, 2), nullable=nullable))


class Location(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=8)
    name: str
    type: str = Field(max_length=1)  # R region, D district, W ward, V village
    parent_id: int | None = Field(default=None, foreign_key="location.id")


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=8)
    name: str
    location_id: int | None = Field(default=None, foreign_key="location.id")
    lump_sum: Decimal = money()
    premium_adult: Decimal = money()
    premium_child: Decimal = money()
    member_threshold: int = 0
    max_members: int = 0
    general_assembly_lump_sum: Decimal = money()
    general_assembly_fee: Decimal = money()
    registration_lump_sum: Decimal = money()
    registration_fee: Decimal = money()
    enrolment_discount_perc: Decimal = money()
    enrolment_discount_period: int = 0
    renewal_discount_perc: Decimal = money()
    renewal_discount_period: int = 0
    insurance_period: int = 12
    administration_period: int = 0
    grace_period_enrolment: int = 0
    grace_period_renewal: int = 0
    start_cycles: str = ""  # comma-separated "dd-MM"
    date_from: date | None = None
    date_to: date | None = None


class Officer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=8)
    name: str = ""
    phone: str | None = None
    location_id: int | None = Field(default=None, foreign_key="location.id")


class Family(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    location_id: int | None = Field(default=None, foreign_key="location.id")


class Insuree(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    chfid: str = Field(unique=True, index=True, max_length=12)
    family_id: int = Field(foreign_key="family.id", index=True)
    is_head: bool = False
    last_name: str = ""
    other_names: str = ""
    birth_date: date
    relationship: int | None = None
    phone: str | None = None
    language: str | None = None


class Policy(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(foreign_key="family.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    stage: str = Field(max_length=1)  # N new, R renewal
    status: int  # 1 idle, 2 active, 4 suspended, 8 expired, 16 ready
    enroll_date: date
    start_date: date
    effective_date: date | None = None
    expiry_date: date
    value: Decimal = money()


class Premium(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    amount: Decimal = money()
    receipt: str = ""
    pay_date: date
    pay_type: str = Field(default="C", max_length=1)
    payment_detail_id: int | None = Field(default=None, unique=True)
    """The payment line this premium was created for: unique, so a line makes one premium at most."""


class Payment(SQLModel, table=True):
    """One payment intent (openIMIS tblPayment); `id` is the openIMIS internal_identifier."""

    id: int | None = Field(default=None, primary_key=True)
    intent_id: str = Field(unique=True, max_length=36)
    tenant: str = Field(index=True)
    status: int = Field(index=True)
    rejected_reason: str | None = None
    officer_code: str | None = Field(default=None, max_length=8)
    phone_number: str
    language: str | None = None
    sms_required: bool = False
    request_date: date
    type_of_payment: str | None = None
    expected_amount: Decimal = money()
    transfer_fee: Decimal = money()
    amount_to_be_paid: Decimal = money()
    control_number: str | None = Field(default=None, unique=True, max_length=50)
    cn_requested_at: datetime | None = None
    cn_received_at: datetime | None = None
    received_amount: Decimal = money()
    received_date: date | None = None
    payment_date: date | None = None
    payer_phone: str | None = None
    transaction_no: str | None = Field(default=None, max_length=50)
    receipt_no: str | None = Field(default=None, max_length=100)
    payment_origin: str | None = Field(default=None, max_length=50)
    surplus: Decimal = money()
    """Money received beyond what the lines still owed when matched: kept, never booked as premium."""
    fee_added: Decimal = money()
    """The transfer fee added back to `received_amount` before matching (research §2.5 step 2)."""
    valued_on: date | None = None
    """The day the lines were valued, in the deployment's time zone: the bill's prices hold for it."""
    matched_at: datetime | None = None
    match_note: str | None = None
    last_not_matched_sms_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class PaymentDetail(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("payment_id", "line_no"),)

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    line_no: int
    insurance_number: str | None = Field(default=None, max_length=12, index=True)
    product_code: str = Field(max_length=8)
    stage: str = Field(max_length=1)
    expected_amount: Decimal = money()
    basis: str | None = None
    amount: Decimal | None = money(nullable=True, default=None)
    premium_id: int | None = Field(default=None, foreign_key="premium.id")


class PaymentReceipt(SQLModel, table=True):
    """One payment the gateway reported for an intent; the tenant's transaction id makes it unique
    (two tenants' PSPs may use the same transaction id)."""

    __table_args__ = (UniqueConstraint("tenant", "transaction_id"),)

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    tenant: str
    """The payment's tenant, copied so the per-tenant key can be a plain unique constraint."""
    transaction_id: str = Field(max_length=50)
    amount: Decimal = money()
    received_date: date
    payment_date: date | None = None
    receipt_no: str | None = Field(default=None, max_length=100)
    origin: str | None = Field(default=None, max_length=50)
    payer_phone: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class PaymentNotification(SQLModel, table=True):
    """Audit log of every payment notification the API received, accepted or not (openIMIS keeps a
    rejected notification as a -3 payment row; here it is a log entry linked to the intent)."""

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(index=True)
    client_id: str
    payment_id: int | None = Field(default=None, foreign_key="payment.id", index=True)
    control_number: str | None = None
    transaction_id: str | None = Field(default=None, index=True)
    amount: Decimal | None = money(nullable=True, default=None)
    accepted: bool
    code: int
    """The openIMIS code answered; -1 when there was no answer but a 503 to retry (outcome unavailable)."""
    reason: str
    body: str
    outcome: str = "rejected"
    """accepted, rejected, or unavailable (503: not confirmed, the gateway retries)."""
    attempt: int = 1
    """1 for the first notification of a transaction, 2 and on for the gateway's retries of it."""
    accepted_transaction: str | None = Field(default=None, unique=True, max_length=200)
    """"tenant\\ntransaction id" on the accepted row only: one accepted row per gateway transaction."""
    received_at: datetime = Field(default_factory=utcnow)


class ReconciliationIssue(SQLModel, table=True):
    """A difference between the gateway's statement and our records, for operators."""

    __table_args__ = (UniqueConstraint("day", "transaction_id", "control_number", "kind"),)
    """Per statement line: two tenants' bills may carry the same PSP transaction id."""

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    kind: str  # recorded_missing_payment, amount_mismatch, unknown_control_number
    control_number: str | None = None
    transaction_id: str
    gateway_amount: Decimal = money()
    our_amount: Decimal | None = money(nullable=True, default=None)
    detail: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class SmsMessage(SQLModel, table=True):
    """SMS outbox: one row per notice, keyed so a retried activity never sends a notice twice."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    payment_id: int | None = Field(default=None, foreign_key="payment.id", index=True)
    kind: str
    recipient: str
    language: str
    text: str
    status: str = "queued"  # queued, sent, failed
    attempts: int = 0
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    resends: int = 0
    """Attempts of the resend sweep (the backoff grows with them)."""
    next_attempt_at: datetime | None = Field(default=None, index=True)
    """When the sweep may try a failed notice again; None while it is not failed."""


class OAuthClient(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(unique=True, index=True)
    name: str = ""
    secret_hash: str
    tenant: str
    scopes: str  # space-separated
    revoked: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ClaimCase(SQLModel, table=True):
    """A claim case (Scalepoint ClaimShop case) of a tenant; its flow is ClaimWorkflow."""

    id: str = Field(primary_key=True, max_length=36)  # the case uuid
    tenant: str = Field(index=True)
    country: str = Field(default="dk", max_length=2)
    token: str = Field(unique=True)
    number: str = Field(index=True)
    external_claim_id: str | None = None
    policy_number: str | None = None
    closed: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    """Last settlement, cancellation, close or reopen: what `GET /v1/cases?updated_since=` filters on."""


class SettlementRevision(SQLModel, table=True):
    """One settlement of a case, re-fetchable by its unguessable token through the Settlement API."""

    __table_args__ = (
        UniqueConstraint("case_id", "revision_no"),
        UniqueConstraint("case_id", "idempotency_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, max_length=36)
    case_id: str = Field(foreign_key="claimcase.id", index=True)
    tenant: str = Field(index=True)
    revision_no: int
    status: str = "SETTLED"  # SETTLED, CANCELLED
    document: str
    """The settlement as posted (SettlementInput JSON): the Settlement API shows it whole."""
    idempotency_key: str | None = Field(default=None, max_length=255)
    """The client's Idempotency-Key: a repeat returns this revision, across runs and retention."""
    created_at: datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """The tenant's event log (outbox): the id is the Events API cursor."""

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(index=True)
    webhook_id: str = Field(default_factory=new_webhook_id, unique=True, max_length=40)
    """The Standard Webhooks `webhook-id` of every delivery of the event; `msg_<id>` for events
    written before it was stored (their deliveries keep the id they were sent with)."""
    type: str = Field(index=True)
    dedupe_key: str = Field(unique=True)
    """Who wrote it and why (workflow id + step): a retried activity cannot append twice."""
    payload: str
    created_at: datetime = Field(default_factory=utcnow, index=True)
    dispatched_at: datetime | None = Field(default=None, index=True)
    """When its webhook deliveries were started (the outbox relay's mark)."""


class ClientKey(SQLModel, table=True):
    """A public key a client signs `private_key_jwt` assertions with; several allow rotation."""

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(index=True)
    kid: str = Field(unique=True)
    public_pem: str
    revoked: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class UsedAssertion(SQLModel, table=True):
    """Client-assertion ids already used: a replayed assertion is refused (RFC 7523 §3)."""

    jti: str = Field(primary_key=True, max_length=255)
    client_id: str
    expires_at: datetime


class WebhookEndpoint(SQLModel, table=True):
    """A tenant's webhook receiver, optionally behind the customer's own OAuth2 (Scalepoint's push)."""

    id: str = Field(primary_key=True, max_length=40)
    tenant: str = Field(index=True)
    url: str
    description: str = ""
    event_types: str = ""  # comma-separated; empty: every event
    enabled: bool = True
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    """Start of the current run of failed attempts; five days of it disable the endpoint."""
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_scope: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class EndpointSecret(SQLModel, table=True):
    """Signing secrets: the current one (no expiry) and, after a rotation, the previous for 24 h."""

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: str = Field(foreign_key="webhookendpoint.id", index=True)
    secret: str
    expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """One event to one endpoint; its workflow is `delivery-<event id>-<endpoint id>`."""

    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    endpoint_id: str = Field(foreign_key="webhookendpoint.id", index=True)
    tenant: str = Field(index=True)
    event_type: str = Field(index=True)
    status: str = Field(default="pending", index=True)  # pending, succeeded, failed
    series: int = 1
    """1 for the first run, +1 for every replay; the webhook-id never changes."""
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class DeliveryAttempt(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("delivery_id", "series", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id", index=True)
    series: int
    number: int
    at: datetime
    status_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    response_body: str | None = None
    result: str | None = Field(default=None, max_length=16)
    """The attempt's outcome (succeeded, failed, gone, disabled), so a retried activity answers as the
    first run did; None on rows logged before it was kept (read from the status code)."""
    retry_after: float | None = None
    """The receiver's Retry-After (429/503), in seconds."""


class PoolRequest(SQLModel, table=True):
    """A bulk bill request for a product's control-number pool (research §5.3): `pending` while the
    gateway is asked, `done` once its numbers are in the pool, `failed` (with the reason) otherwise;
    a failed request has no numbers, since they are stored in one transaction with `done`."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)
    product_code: str = Field(max_length=8)
    count: int
    state: str = Field(max_length=8)
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    """When its bills expire, fixed when it is opened (null on rows from before migration 0012)."""


class PooledNumber(SQLModel, table=True):
    """One pooled control number: free until an intent takes it (`payment_id` set, in the same
    transaction that gives the payment its number); never handed out again, even if that intent is
    cancelled, since a payer may still pay it."""

    id: int | None = Field(default=None, primary_key=True)
    control_number: str = Field(unique=True, max_length=50)
    product_code: str = Field(max_length=8, index=True)
    bill_id: str = Field(max_length=50)
    request_id: int = Field(foreign_key="poolrequest.id", index=True)
    expires_at: datetime
    payment_id: int | None = Field(default=None, foreign_key="payment.id", unique=True)
    assigned_at: datetime | None = None
    officer_code: str | None = Field(default=None, max_length=8, index=True)
    """The enrolment officer holding it (GetControlNumbersForEO): only his intents take it."""
    reserved_at: datetime | None = None


class ReconciliationDay(SQLModel, table=True):
    """A statement day: `pending` until a run reconciled its statement (`done`) or an operator marked it
    (`marked`); every scheduled run retries the pending days, so no day is lost to a refusal or to a run
    the schedule skipped."""

    day: date = Field(primary_key=True)
    state: str = Field(default="pending", max_length=8)
    attempts: int = 0
    outcome: str | None = None
    """What the last attempt found (its counts), why it was refused, or the operator's reason."""
    updated_at: datetime = Field(default_factory=utcnow)


class GepgStatement(SQLModel, table=True):
    """GePG's answer to a reconciliation request (`gepgSpReconcResp`, research §5.5), kept until the
    reconciliation activity that asked for it reads it: GePG answers on a callback to the API, while
    the request went out from the worker. `lines` is the `Statement` as JSON."""

    request_id: str = Field(primary_key=True, max_length=30)
    tenant: str = Field(max_length=50)
    """The gateway client that delivered it: the statement itself spans every tenant's bills."""
    status_code: str = Field(max_length=10)
    lines: str
    received_at: datetime = Field(default_factory=utcnow)
