"""Claim settlements in Scalepoint's shapes (research part 1, §1.3–§1.5): input, events, deltas.

A claim handler posts a settlement in the `case_settled` vocabulary (parties, expenses, obligations,
payments linked by `$id`/`$ref`). The first revision's event carries it whole; a re-settlement after
a reopen, or a cancel, carries the delta against what was last emitted, as Scalepoint's own tests
show it (domain/settlement_delta.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, model_validator

PAYLOAD_VERSION = "1.0.0"
ZERO = Decimal("0")


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


Amount = Annotated[Decimal, PlainSerializer(_number, return_type=int | float, when_used="json")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
UUID_PATTERN = r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$"
"""The published schema's `uuid` definition (research §1.3); payflow makes `case.uuid` itself, a UUID."""
Uuid = Annotated[str, Field(pattern=UUID_PATTERN)]


def _real_date(value: str) -> str:
    datetime.fromisoformat(value)  # the pattern admits 2026-13-40; this refuses it
    return value


DateText = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$",
        examples=["2026-11-30", "2018-09-10T11:22:39.760Z"],
    ),
    AfterValidator(_real_date),
]
"""An ISO 8601 date or date-time, kept as sent: the schema types `issueDate`/`dueDate` as plain strings
and Scalepoint's own sample sends date-times, so the event must carry them unchanged."""
Role = Literal["policyHolder", "claimant", "insuranceCompany", "serviceProvider"]
ExpenseType = Literal[
    "invoice",
    "repairInvoice",
    "assessmentInvoice",
    "rejectionInvoice",
    "damageServiceInvoice",
    "externalSupplierInvoice",
    "unrelatedInvoice",
    "creditNote",
    "paymentOnAccountInovice",
    "cashCompensation",
    "claimantOwnWork",
    "externalCompensation",
    "cashCollection",
]
RV_EXPENSE_TYPES = ("repairInvoice", "assessmentInvoice", "damageServiceInvoice", "externalSupplierInvoice")
"""Repair & Valuation invoices: paid to the `serviceProvider` party."""
ObligationType = Literal["compensation", "deductible", "depreciation", "creditNote", "vat", "manualReduction"]
SettlementType = Literal[
    "SETTLED_WITH_EMAIL",
    "SETTLED_WITHOUT_EMAIL",
    "SETTLED_EXTERNALLY",
    "SETTLED_FOR_REPLACEMENT",
    "CANCELLED",
]


class Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="forbid")


class Ref(Wire):
    ref: str = Field(alias="$ref", pattern=r"^/(parties|expenses|obligations)/\d+$")


class PartyId(Wire):
    schemeId: Literal["DK:CVR", "DK:CPR"]
    value: str


class Address(Wire):
    street: str | None = None
    street2: str | None = None
    city: str | None = None
    postalCode: str | None = None
    countryCode: Annotated[str, Field(pattern=r"^([A-Z]{2})?$")] | None = None
    """ISO 3166-1 alpha-2, or empty as Scalepoint's own sample sends it."""


class Contact(Wire):
    name: str | None = None
    telephone: str | None = None
    email: str | None = None


class Party(Wire):
    id_: str = Field(alias="$id", pattern=r"^/parties/\d+$")
    id: PartyId | None = None
    name: str
    username: str | None = None
    address: Address
    internalId: str | None = None
    roles: list[Role] = []
    contact: Contact | None = None


class Expense(Wire):
    id_: str = Field(alias="$id", pattern=r"^/expenses/\d+$")
    uuid: str | None = None
    id: str | None = None
    subtotal: Amount | None = None
    vat: Amount | None = None
    total: Amount
    currencyCode: Currency
    issueDate: DateText | None = None
    dueDate: DateText | None = None
    administrative: bool | None = None
    payerParty: Ref
    payeeParty: Ref
    expenseType: ExpenseType


class Obligation(Wire):
    id_: str = Field(alias="$id", pattern=r"^/obligations/\d+$")
    obligationType: ObligationType
    total: Amount
    currencyCode: Currency
    payerParty: Ref
    payeeParty: Ref
    expense: Ref | None = None
    creditNote: Ref | None = None
    ruleName: str | None = None


class FinancialAccount(Wire):
    id: str | None = None
    fiBranch: dict[str, str] | None = None
    paymentNote: Annotated[str, Field(max_length=20)] | None = None
    paymentDescription: str | None = None


class CreditAccount(Wire):
    accountId: Annotated[str, Field(max_length=8)]


class PaymentMeans(Wire):
    paymentMeansCode: (
        Literal[
            "DOMESTIC_BANK_TRANSFER",
            "INTERNATIONAL_BANK_TRANSFER",
            "FIK_PAYMENT",
            "NEMKONTO_BANK_TRANSFER",
            "GIRO_TRANSFER",
        ]
        | None
    ) = None
    paymentChannelCode: Literal["DK:BANK", "DK:FIK", "IBAN", "DK:NEMKONTO", "SE:GIRO", "NO:BANK"] | None = (
        None
    )
    payerFinancialAccount: FinancialAccount | None = None
    payeeFinancialAccount: FinancialAccount | None = None
    paymentId: str | None = None
    instructionId: str | None = None
    creditAccount: CreditAccount | None = None


class Payment(Wire):
    uuid: str
    dueDate: DateText
    total: Amount
    currencyCode: Currency
    payerParty: Ref
    payeeParty: Ref
    paymentMeans: PaymentMeans | None = None
    additionalPaymentMeans: list[PaymentMeans] = []
    expenses: list[Ref]
    obligations: list[Ref]


class ApprovedBy(Wire):
    email: str | None = None
    name: str
    username: str | None = None
    type: Literal["user", "automatic"]


class Summary(Wire):
    manualReduction: Amount | None = None
    shareOfVat: Amount
    deductible: Amount
    depreciation: Amount


class SettledItem(Wire):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="allow")

    category: str
    description: str
    replacementAmount: Amount
    subCategory: str | None = None
    itemId: str | None = None
    depreciation: Amount | None = None
    quantity: int | None = None


class SettlementDetails(Wire):
    """What the Settlement API shows beyond the event (research §1.5)."""

    settlementType: SettlementType = "SETTLED_WITH_EMAIL"
    replacementAmount: Amount = ZERO
    repairAmount: Amount | None = None
    settledItems: list[SettledItem] = []


class SettlementInput(Wire):
    """A settlement as the claim handler posts it: the `case_settled` body, plus Settlement API details."""

    approvedBy: ApprovedBy
    summary: Summary
    parties: list[Party] = Field(min_length=1)
    expenses: list[Expense] = []
    obligations: list[Obligation] = []
    payments: list[Payment] = []
    details: SettlementDetails = SettlementDetails()
    close: bool = True
    """Settling closes the case (a `claim_updated` CaseClosed follows), as in ClaimShop."""

    @model_validator(mode="after")
    def _links_resolve(self) -> SettlementInput:
        ids = (
            [p.id_ for p in self.parties] + [e.id_ for e in self.expenses] + [o.id_ for o in self.obligations]
        )
        if len(ids) != len(set(ids)):
            raise ValueError("every $id must be unique")
        dangling = sorted({r.ref for r in _refs(self)} - set(ids))
        if dangling:
            raise ValueError(f"$ref to nothing: {', '.join(dangling)}")
        return self


class NewExpense(Expense):
    uuid: Uuid | None = None


class NewPayment(Payment):
    uuid: Uuid


class NewSettlement(SettlementInput):
    """A settlement as a claim handler posts it now: also the schema's uuid pattern on expenses and
    payments. SettlementInput does not check it, so that revisions stored and workflow histories
    recorded before the rule (the old demo's `"e1"`, `"p1"`) still load and replay."""

    expenses: list[NewExpense] = []  # type: ignore[assignment]
    payments: list[NewPayment] = []  # type: ignore[assignment]

    @model_validator(mode="after")
    def _rv_invoices_pay_a_service_provider(self) -> NewSettlement:
        """An RV invoice is the repairer's or valuer's bill: its payee must be a `serviceProvider`."""
        roles = {p.id_: p.roles for p in self.parties}
        wrong = [
            e.id_
            for e in self.expenses
            if e.expenseType in RV_EXPENSE_TYPES and "serviceProvider" not in roles.get(e.payeeParty.ref, [])
        ]
        if wrong:
            raise ValueError(f"RV invoices must be paid to a serviceProvider party: {', '.join(wrong)}")
        return self


def same_settlement(stored: str, doc: SettlementInput) -> bool:
    """Whether `doc` is the settlement stored (as JSON) under an Idempotency-Key: only then may the key
    answer with that revision; the same key with another body is a client error, not a retry."""
    return SettlementInput.model_validate_json(stored).model_dump(mode="json") == doc.model_dump(mode="json")


def _refs(doc: SettlementInput) -> Iterable[Ref]:
    for item in (*doc.expenses, *doc.obligations, *doc.payments):
        yield item.payerParty
        yield item.payeeParty
    for o in doc.obligations:
        yield from (r for r in (o.expense, o.creditNote) if r is not None)
    for p in doc.payments:
        yield from (*p.expenses, *p.obligations)


class CaseRef(BaseModel):
    uuid: str
    token: str
    number: str
    tenant: str
    country: str = "dk"
    externalClaimId: str | None = None
    policyNumber: str | None = None


def settlement_document(
    case: CaseRef,
    revision_token: str,
    status: str,
    at: datetime,
    doc: SettlementInput,
    superseded_by: str | None = None,
) -> dict[str, Any]:
    """The Settlement API answer for one revision (research §1.5): always the whole revision. Status
    and type follow how the case was closed, as Scalepoint's `CaseSettlementDataApiTests` show:
    externally → CLOSED_EXTERNAL (the insurer pays the claimant itself), with or without mail →
    SETTLED (Scalepoint pays out), cancelled → CANCELLED; `supersededBy` names the next revision."""
    details = doc.details
    repair = details.repairAmount or ZERO
    if status == "CANCELLED":
        kind = "CANCELLED"
    else:
        kind = details.settlementType
        status = "CLOSED_EXTERNAL" if kind == "SETTLED_EXTERNALLY" else status
    return {
        "case": {"token": case.token, "number": case.number, "policyNumber": case.policyNumber},
        "settlementDetails": {
            "revisionToken": revision_token,
            "status": status,
            **({"supersededBy": superseded_by} if superseded_by else {}),
            "approvedBy": doc.approvedBy.name,
            "timestamp": at.isoformat(),
            "settlementType": kind,
            "deductible": _number(doc.summary.deductible),
            "manualReduction": _number(doc.summary.manualReduction or ZERO),
            "replacementAmount": _number(details.replacementAmount),
            "repairAmount": _number(repair),
            "subTotalAmount": _number(details.replacementAmount + repair),
            "settledItems": [i.model_dump(mode="json", exclude_none=True) for i in details.settledItems],
        },
    }


TerminationReason = Literal["None", "NotCovered", "BelowDeductible", "CreatedByMistake"]


class ChangedBy(BaseModel):
    fullName: str
    username: str | None = None
    userType: str = "user"


def claim_updated(
    case: CaseRef,
    correlation_id: str,
    at: datetime,
    change: str,
    changed_by: ChangedBy,
    reason: TerminationReason = "None",
    description: str | None = None,
    revision_token: str | None = None,
) -> dict[str, Any]:
    """`claim_updated` with one change: CaseClosed or CaseReopened (research §1.4), or payflow's
    SettlementCancelled, whose `revisionToken` names the cancelled revision: Scalepoint's guide has
    the customer fetch a revision by its token from the Settlement API, which answers it CANCELLED."""
    return {
        "eventType": "claim_updated",
        "payloadVersion": PAYLOAD_VERSION,
        "correlationId": correlation_id,
        "timestamp": at.isoformat(),
        "case": {"number": case.number, "token": case.token, "caseType": "ContentsClaim"},
        "changedBy": changed_by.model_dump(exclude_none=True),
        "changes": [
            {
                "property": change,
                "isTerminated": reason != "None",
                "terminationReason": reason,
                "terminationReasonDescription": description,
                **({"revisionToken": revision_token} if revision_token else {}),
            }
        ],
    }


def case_created(case: CaseRef, correlation_id: str, at: datetime) -> dict[str, Any]:
    return {
        "eventType": "case_created",
        "payloadVersion": PAYLOAD_VERSION,
        "correlationId": correlation_id,
        "timestamp": at.isoformat(),
        "case": {
            "token": case.token,
            "number": case.number,
            "company": case.tenant,
            "sourceSystem": "payflow",
        },
        "policy": {"number": case.policyNumber},
    }
