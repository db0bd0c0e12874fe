"""Golden tests: our GePG XML and signatures byte-for-byte equal to what the research's rules give,
built here independently (string template, `cryptography` directly); hostile XML is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from activities.gepg_bulk_bills import pool_bills
from domain.pool import BulkOrder
from gepg import messages
from gepg.signing import Signer, Verifier
from gepg.xml import MessageError, parse
from infra.settings import Settings

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
AT = datetime(2026, 3, 1, 10, 30, 0)


def expected(inner: str) -> bytes:
    """The research's rule: RSA-SHA1 PKCS#1 v1.5 over the inner element's UTF-8 bytes, Base64."""
    sig = base64.b64encode(KEY.sign(inner.encode(), padding.PKCS1v15(), hashes.SHA1())).decode()
    envelope = f"<Gepg>{inner}<gepgSignature>{sig}</gepgSignature></Gepg>"
    return f'<?xml version="1.0" encoding="UTF-8"?>{envelope}'.encode()


BILL = messages.Bill(
    bill_id="42",
    sub_sp_code="1001",
    sp_sys_id="TIMIS001",
    amount=Decimal("21000"),
    expires_at=AT.replace(month=4),
    generated_at=AT,
    payer_id="070707070",
    payer_name="Amina Juma",
    payer_phone="0681333045",
    items=[messages.BillItem("7", Decimal("21000"), "140101")],
)
CASES = {
    "bill": (
        messages.bill_submission("SP001", [BILL]),
        "<gepgBillSubReq><BillHdr><SpCode>SP001</SpCode><RtrRespFlg>true</RtrRespFlg></BillHdr>"
        "<BillTrxInf><BillId>42</BillId><SubSpCode>1001</SubSpCode><SpSysId>TIMIS001</SpSysId>"
        "<BillAmt>21000.00</BillAmt><MiscAmt>0.00</MiscAmt><BillExprDt>2026-04-01T10:30:00</BillExprDt>"
        "<PyrId>070707070</PyrId><PyrName>Amina Juma</PyrName><BillDesc>Bill</BillDesc>"
        "<BillGenDt>2026-03-01T10:30:00</BillGenDt><BillGenBy>Imis</BillGenBy><BillApprBy>Imis</BillApprBy>"
        "<PyrCellNum>0681333045</PyrCellNum><PyrEmail>info@imis.co.tz</PyrEmail><Ccy>TZS</Ccy>"
        "<BillEqvAmt>21000.00</BillEqvAmt><RemFlag>true</RemFlag><BillPayOpt>3</BillPayOpt><BillItems>"
        "<BillItem><BillItemRef>7</BillItemRef><UseItemRefOnPay>N</UseItemRefOnPay>"
        "<BillItemAmt>21000.00</BillItemAmt><BillItemEqvAmt>21000.00</BillItemEqvAmt>"
        "<BillItemMiscAmt>0.00</BillItemMiscAmt><GfsCode>140101</GfsCode></BillItem></BillItems>"
        "</BillTrxInf></gepgBillSubReq>",
    ),
    "pool bills": (
        messages.bill_submission(
            "SP001",
            pool_bills(
                Settings(),
                BulkOrder(
                    request_key="k",
                    request_id=9,
                    product_code="FCUL0001",
                    amount=Decimal("10000"),
                    expires_at=AT.replace(year=2029, tzinfo=UTC),
                    count=2,
                ),
                AT,
            ),
        ),
        "<gepgBillSubReq><BillHdr><SpCode>SP001</SpCode><RtrRespFlg>true</RtrRespFlg></BillHdr>"
        + "".join(
            f"<BillTrxInf><BillId>pool-9-{n}</BillId><SubSpCode>1001</SubSpCode><SpSysId>TIMIS001</SpSysId>"
            "<BillAmt>10000.00</BillAmt><MiscAmt>0.00</MiscAmt><BillExprDt>2029-03-01T10:30:00</BillExprDt>"
            f"<PyrId>pool-9-{n}</PyrId><PyrName>CHF IMIS</PyrName><BillDesc>Bill</BillDesc>"
            "<BillGenDt>2026-03-01T10:30:00</BillGenDt><BillGenBy>Imis</BillGenBy><BillApprBy>Imis</BillApprBy>"
            "<PyrCellNum></PyrCellNum><PyrEmail>info@imis.co.tz</PyrEmail><Ccy>TZS</Ccy>"
            "<BillEqvAmt>10000.00</BillEqvAmt><RemFlag>true</RemFlag><BillPayOpt>3</BillPayOpt><BillItems>"
            "<BillItem><BillItemRef>FCUL0001</BillItemRef><UseItemRefOnPay>N</UseItemRefOnPay>"
            "<BillItemAmt>10000.00</BillItemAmt><BillItemEqvAmt>10000.00</BillItemEqvAmt>"
            "<BillItemMiscAmt>0.00</BillItemMiscAmt><GfsCode>140101</GfsCode></BillItem></BillItems>"
            "</BillTrxInf>"
            for n in (1, 2)
        )
        + "</gepgBillSubReq>",
    ),
    "control number": (
        messages.bill_submission_response([messages.ControlNumberResult("42", "991234567890", "GS", "7101")]),
        "<gepgBillSubResp><BillTrxInf><BillId>42</BillId><PayCntrNum>991234567890</PayCntrNum>"
        "<TrxSts>GS</TrxSts><TrxStsCode>7101</TrxStsCode></BillTrxInf></gepgBillSubResp>",
    ),
    "control number ack": (
        messages.status_ack(messages.BILL_RESPONSE_ACK, "7101"),
        "<gepgBillSubRespAck><TrxStsCode>7101</TrxStsCode></gepgBillSubRespAck>",
    ),
    "payment ack": (
        messages.status_ack(messages.PAYMENT_ACK, "7303"),
        "<gepgPmtSpInfoAck><TrxStsCode>7303</TrxStsCode></gepgPmtSpInfoAck>",
    ),
    "cancel": (
        messages.bill_cancel_request("SP001", "TIMIS001", "42"),
        "<gepgBillCanclReq><SpCode>SP001</SpCode><SpSysId>TIMIS001</SpSysId><BillId>42</BillId>"
        "</gepgBillCanclReq>",
    ),
    "reconciliation request": (
        messages.reconciliation_request("77", "SP001", "TIMIS001", AT.date()),
        "<gepgSpReconcReq><SpReconcReqId>77</SpReconcReqId><SpCode>SP001</SpCode><SpSysId>TIMIS001</SpSysId>"
        "<TnxDt>2026-03-01</TnxDt><ReconcOpt>1</ReconcOpt></gepgSpReconcReq>",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_message_and_signature_are_byte_for_byte(name: str) -> None:
    inner, template = CASES[name]
    assert messages.signed(Signer(KEY), inner) == expected(template)


def test_payment_notification_round_trips_and_a_tampered_one_fails() -> None:
    info = messages.PaymentInfo(
        "TX1",
        "SP001",
        "RC1",
        "42",
        "991234567890",
        Decimal("21000"),
        Decimal("21000"),
        AT,
        "0681333045",
        "Amina",
        "RC1",
        "M-Pesa",
    )
    raw = messages.signed(Signer(KEY), messages.payment_info([info]))
    envelope = parse(raw, messages.PAYMENT)
    verifier = Verifier(KEY.public_key())
    assert verifier.valid(envelope.signed, envelope.signature)
    assert messages.read_payment_info(envelope) == [info]
    tampered = parse(raw.replace(b"<PaidAmt>21000.00", b"<PaidAmt>21.00"), messages.PAYMENT)
    assert not verifier.valid(tampered.signed, tampered.signature)


BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><Gepg><gepgPmtSpInfo>&lol3;</gepgPmtSpInfo></Gepg>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Gepg><gepgPmtSpInfo>&xxe;</gepgPmtSpInfo></Gepg>"""


@pytest.mark.parametrize("raw", [BOMB, EXTERNAL, BOMB.lower().replace(b"doctype", b"DocType")])
def test_entities_are_refused(raw: bytes) -> None:
    with pytest.raises(MessageError):
        parse(raw, messages.PAYMENT)
