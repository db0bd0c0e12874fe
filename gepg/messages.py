"""GePG messages (research §5.2–§5.5, §2.8, §2.10): each one's elements in order, built and read.

`build` functions return the inner element; `signed` wraps it in its envelope with our signature.
`read_*` functions take a parsed `Envelope` and raise `MessageError` (answered 7242) when a required
element is missing or malformed. Amounts carry two decimals, times are `yyyy-MM-ddTHH:mm:ss`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from gepg import codes
from gepg.signing import Signer
from gepg.xml import Envelope, MessageError, element, envelope, serialise, text

TIME = "%Y-%m-%dT%H:%M:%S"
BILL_REQUEST, BILL_REQUEST_ACK = "gepgBillSubReq", "gepgBillSubReqAck"
BILL_RESPONSE, BILL_RESPONSE_ACK = "gepgBillSubResp", "gepgBillSubRespAck"
PAYMENT, PAYMENT_ACK = "gepgPmtSpInfo", "gepgPmtSpInfoAck"
CANCEL_REQUEST, CANCEL_RESPONSE = "gepgBillCanclReq", "gepgBillCanclResp"
RECONCILIATION_REQUEST, RECONCILIATION_REQUEST_ACK = "gepgSpReconcReq", "gepgSpReconcReqAck"
RECONCILIATION, RECONCILIATION_ACK = "gepgSpReconcResp", "gepgSpReconcRespAck"


def signed(signer: Signer, inner: etree._Element) -> bytes:
    content = serialise(inner)
    return envelope(content, signer.sign(content))


def amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _amount(node: etree._Element, tag: str) -> Decimal:
    try:
        return Decimal(text(node, tag))
    except InvalidOperation as err:
        raise MessageError(f"{node.tag}/{tag} is not an amount") from err


def _time(node: etree._Element, tag: str) -> datetime:
    try:
        return datetime.strptime(text(node, tag), TIME)
    except ValueError as err:
        raise MessageError(f"{node.tag}/{tag} is not yyyy-MM-ddTHH:mm:ss") from err


@dataclass(frozen=True)
class BillItem:
    ref: str
    amount: Decimal
    gfs_code: str


@dataclass(frozen=True)
class Bill:
    """One `BillTrxInf` of a bill submission."""

    bill_id: str
    sub_sp_code: str
    sp_sys_id: str
    amount: Decimal
    expires_at: datetime
    generated_at: datetime
    payer_id: str
    payer_name: str
    payer_phone: str
    items: list[BillItem]
    payer_email: str = "info@imis.co.tz"
    description: str = "Bill"
    generated_by: str = "Imis"
    approved_by: str = "Imis"
    currency: str = "TZS"
    pay_option: str = "3"


def bill_submission(sp_code: str, bills: list[Bill]) -> etree._Element:
    """`gepgBillSubReq`: one bill for an intent, many for a bulk (pool) request."""
    return element(
        BILL_REQUEST,
        element("BillHdr", ("SpCode", sp_code), ("RtrRespFlg", "true")),
        *(_bill(b) for b in bills),
    )


def _bill(b: Bill) -> etree._Element:
    items = [
        element(
            "BillItem",
            ("BillItemRef", i.ref),
            ("UseItemRefOnPay", "N"),
            ("BillItemAmt", amount(i.amount)),
            ("BillItemEqvAmt", amount(i.amount)),
            ("BillItemMiscAmt", "0.00"),
            ("GfsCode", i.gfs_code),
        )
        for i in b.items
    ]
    return element(
        "BillTrxInf",
        ("BillId", b.bill_id),
        ("SubSpCode", b.sub_sp_code),
        ("SpSysId", b.sp_sys_id),
        ("BillAmt", amount(b.amount)),
        ("MiscAmt", "0.00"),
        ("BillExprDt", b.expires_at.strftime(TIME)),
        ("PyrId", b.payer_id),
        ("PyrName", b.payer_name),
        ("BillDesc", b.description),
        ("BillGenDt", b.generated_at.strftime(TIME)),
        ("BillGenBy", b.generated_by),
        ("BillApprBy", b.approved_by),
        ("PyrCellNum", b.payer_phone),
        ("PyrEmail", b.payer_email),
        ("Ccy", b.currency),
        ("BillEqvAmt", amount(b.amount)),
        ("RemFlag", "true"),
        ("BillPayOpt", b.pay_option),
        element("BillItems", *items),
    )


def read_bill_submission(env: Envelope) -> tuple[str, list[Bill]]:
    header = env.inner.find("BillHdr")
    if header is None:
        raise MessageError("no BillHdr")
    sp_code = text(header, "SpCode")
    bills = [
        Bill(
            bill_id=text(n, "BillId"),
            sub_sp_code=text(n, "SubSpCode", False),
            sp_sys_id=text(n, "SpSysId", False),
            amount=_amount(n, "BillAmt"),
            expires_at=_time(n, "BillExprDt"),
            generated_at=_time(n, "BillGenDt"),
            payer_id=text(n, "PyrId", False),
            payer_name=text(n, "PyrName", False),
            payer_phone=text(n, "PyrCellNum", False),
            items=[
                BillItem(text(i, "BillItemRef"), _amount(i, "BillItemAmt"), text(i, "GfsCode", False))
                for i in n.iterfind("BillItems/BillItem")
            ],
        )
        for n in env.inner.iterfind("BillTrxInf")
    ]
    if not bills:
        raise MessageError("no BillTrxInf")
    return sp_code, bills


def status_ack(tag: str, code: str, field_name: str = "TrxStsCode") -> etree._Element:
    """Any of the acks: `gepgBillSubReqAck`, `gepgBillSubRespAck`, `gepgPmtSpInfoAck` (TrxStsCode),
    `gepgSpReconcReqAck`, `gepgSpReconcRespAck` (ReconcStsCode)."""
    return element(tag, (field_name, code))


def read_status_ack(env: Envelope, field_name: str = "TrxStsCode") -> str:
    return text(env.inner, field_name)


@dataclass(frozen=True)
class ControlNumberResult:
    """One `BillTrxInf` of `gepgBillSubResp`: the bill's control number (7101) or its failure."""

    bill_id: str
    control_number: str
    status: str
    """TrxSts as sent (GS/GF), empty when absent: the code is what is read."""
    code: str

    @property
    def settled(self) -> bool:
        return codes.meaning(self.code) is codes.Meaning.ACCEPTED and bool(self.control_number)


def bill_submission_response(results: list[ControlNumberResult]) -> etree._Element:
    return element(
        BILL_RESPONSE,
        *(
            element(
                "BillTrxInf",
                ("BillId", r.bill_id),
                ("PayCntrNum", r.control_number),
                ("TrxSts", r.status),
                ("TrxStsCode", r.code),
            )
            for r in results
        ),
    )


def read_bill_submission_response(env: Envelope) -> list[ControlNumberResult]:
    results = [
        ControlNumberResult(
            text(n, "BillId"), text(n, "PayCntrNum", False), text(n, "TrxSts", False), status_code(n)
        )
        for n in env.inner.iterfind("BillTrxInf")
    ]
    if not results:
        raise MessageError("no BillTrxInf")
    return results


def status_code(node: etree._Element) -> str:
    """A bill's TrxStsCode, which decides (gepg/codes.py); a reply with only TrxSts reads as 7101 for
    GS and 7201 for GF; one with neither is not a reply."""
    code, status = text(node, "TrxStsCode", False), text(node, "TrxSts", False)
    if code:
        return code
    if status in (codes.SETTLED, codes.FAILED):
        return codes.SUCCESS if status == codes.SETTLED else codes.FAILURE
    raise MessageError(f"{node.tag} has neither TrxStsCode nor TrxSts GS/GF")


@dataclass(frozen=True)
class PaymentInfo:
    """One `PymtTrxInf` of `gepgPmtSpInfo` (research §5.4)."""

    trx_id: str
    sp_code: str
    pay_ref_id: str
    bill_id: str
    control_number: str
    bill_amount: Decimal
    paid_amount: Decimal
    paid_at: datetime
    payer_phone: str
    payer_name: str
    psp_receipt: str
    psp_name: str
    pay_option: str = "3"
    currency: str = "TZS"
    channel: str = "MOBILE"
    payer_email: str = ""
    account: str = ""


def payment_info(payments: list[PaymentInfo]) -> etree._Element:
    return element(
        PAYMENT,
        *(
            element(
                "PymtTrxInf",
                ("TrxId", p.trx_id),
                ("SpCode", p.sp_code),
                ("PayRefId", p.pay_ref_id),
                ("BillId", p.bill_id),
                ("PayCtrNum", p.control_number),
                ("BillAmt", amount(p.bill_amount)),
                ("PaidAmt", amount(p.paid_amount)),
                ("BillPayOpt", p.pay_option),
                ("CCy", p.currency),
                ("TrxDtTm", p.paid_at.strftime(TIME)),
                ("UsdPayChnl", p.channel),
                ("PyrCellNum", p.payer_phone),
                ("PyrEmail", p.payer_email),
                ("PyrName", p.payer_name),
                ("PspReceiptNumber", p.psp_receipt),
                ("PspName", p.psp_name),
                ("CtrAccNum", p.account),
            )
            for p in payments
        ),
    )


def read_payment_info(env: Envelope) -> list[PaymentInfo]:
    payments = [
        PaymentInfo(
            trx_id=text(n, "TrxId"),
            sp_code=text(n, "SpCode", False),
            pay_ref_id=text(n, "PayRefId", False),
            bill_id=text(n, "BillId", False),
            control_number=text(n, "PayCtrNum"),
            bill_amount=_amount(n, "BillAmt"),
            paid_amount=_amount(n, "PaidAmt"),
            paid_at=_time(n, "TrxDtTm"),
            payer_phone=text(n, "PyrCellNum", False),
            payer_name=text(n, "PyrName", False),
            psp_receipt=text(n, "PspReceiptNumber", False),
            psp_name=text(n, "PspName", False),
            pay_option=text(n, "BillPayOpt", False),
            currency=text(n, "CCy", False),
            channel=text(n, "UsdPayChnl", False),
            payer_email=text(n, "PyrEmail", False),
            account=text(n, "CtrAccNum", False),
        )
        for n in env.inner.iterfind("PymtTrxInf")
    ]
    if not payments:
        raise MessageError("no PymtTrxInf")
    return payments


def bill_cancel_request(sp_code: str, sp_sys_id: str, bill_id: str) -> etree._Element:
    return element(CANCEL_REQUEST, ("SpCode", sp_code), ("SpSysId", sp_sys_id), ("BillId", bill_id))


def read_bill_cancel_request(env: Envelope) -> str:
    return text(env.inner, "BillId")


def bill_cancel_response(bill_id: str, status: str, code: str) -> etree._Element:
    return element(
        CANCEL_RESPONSE,
        element("BillCanclTrxDt", ("BillId", bill_id), ("TrxSts", status), ("TrxStsCode", code)),
    )


def read_bill_cancel_response(env: Envelope) -> str:
    """The status code of the first `BillCanclTrxDt` (research §2.8), whatever its TrxSts says."""
    first = env.inner.find("BillCanclTrxDt")
    if first is None:
        raise MessageError("no BillCanclTrxDt")
    return status_code(first)


def reconciliation_request(request_id: str, sp_code: str, sp_sys_id: str, day: date) -> etree._Element:
    """`gepgSpReconcReq` for one day's transactions (ReconcOpt 1: successful ones)."""
    return element(
        RECONCILIATION_REQUEST,
        ("SpReconcReqId", request_id),
        ("SpCode", sp_code),
        ("SpSysId", sp_sys_id),
        ("TnxDt", day.isoformat()),
        ("ReconcOpt", "1"),
    )


def read_reconciliation_request(env: Envelope) -> tuple[str, date]:
    try:
        return text(env.inner, "SpReconcReqId"), date.fromisoformat(text(env.inner, "TnxDt"))
    except ValueError as err:
        raise MessageError("TnxDt is not yyyy-MM-dd") from err


@dataclass(frozen=True)
class ReconciledPayment:
    """One `ReconcTrxInf` of `gepgSpReconcResp` (research §5.5)."""

    bill_id: str
    control_number: str
    psp_trx_id: str
    paid_amount: Decimal
    pay_ref_id: str
    paid_at: datetime
    psp_name: str
    payer_phone: str
    currency: str = "TZS"
    account: str = ""
    channel: str = "MOBILE"
    psp_code: str = ""
    payer_name: str = ""
    payer_email: str = ""
    remarks: str = ""


@dataclass(frozen=True)
class Reconciliation:
    request_id: str
    sp_code: str
    sp_name: str
    status_code: str
    payments: list[ReconciledPayment] = field(default_factory=list)


def reconciliation(r: Reconciliation) -> etree._Element:
    return element(
        RECONCILIATION,
        element(
            "ReconcBatchInfo",
            ("SpReconcReqId", r.request_id),
            ("SpCode", r.sp_code),
            ("SpName", r.sp_name),
            ("ReconcStsCode", r.status_code),
        ),
        element(
            "ReconcTrans",
            *(
                element(
                    "ReconcTrxInf",
                    ("SpBillId", p.bill_id),
                    ("BillCtrNum", p.control_number),
                    ("pspTrxId", p.psp_trx_id),
                    ("PaidAmt", amount(p.paid_amount)),
                    ("CCy", p.currency),
                    ("PayRefId", p.pay_ref_id),
                    ("TrxDtTm", p.paid_at.strftime(TIME)),
                    ("CtrAccNum", p.account),
                    ("UsdPayChnl", p.channel),
                    ("PspName", p.psp_name),
                    ("PspCode", p.psp_code),
                    ("DptCellNum", p.payer_phone),
                    ("DptName", p.payer_name),
                    ("DptEmailAddr", p.payer_email),
                    ("Remarks", p.remarks),
                    ("ReconcRsv1", ""),
                    ("ReconcRsv2", ""),
                    ("ReconcRsv3", ""),
                )
                for p in r.payments
            ),
        ),
    )


def read_reconciliation(env: Envelope) -> Reconciliation:
    info = env.inner.find("ReconcBatchInfo")
    if info is None:
        raise MessageError("no ReconcBatchInfo")
    return Reconciliation(
        request_id=text(info, "SpReconcReqId"),
        sp_code=text(info, "SpCode", False),
        sp_name=text(info, "SpName", False),
        status_code=text(info, "ReconcStsCode"),
        payments=[
            ReconciledPayment(
                bill_id=text(n, "SpBillId", False),
                control_number=text(n, "BillCtrNum"),
                psp_trx_id=text(n, "pspTrxId"),
                paid_amount=_amount(n, "PaidAmt"),
                pay_ref_id=text(n, "PayRefId", False),
                paid_at=_time(n, "TrxDtTm"),
                psp_name=text(n, "PspName", False),
                payer_phone=text(n, "DptCellNum", False),
                currency=text(n, "CCy", False),
                account=text(n, "CtrAccNum", False),
                channel=text(n, "UsdPayChnl", False),
                psp_code=text(n, "PspCode", False),
                payer_name=text(n, "DptName", False),
                payer_email=text(n, "DptEmailAddr", False),
                remarks=text(n, "Remarks", False),
            )
            for n in env.inner.iterfind("ReconcTrans/ReconcTrxInf")
        ],
    )
