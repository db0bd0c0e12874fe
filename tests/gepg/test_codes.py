"""GePG replies read by their codes (issue 19 item 3, deliver 6), one table for every reader: a cancel
answered 7283 "Bill has been cancelled" (a retry after a lost reply) or 7101 counts as cancelled
whatever TrxSts says or lacks; a settled bill's 7279 is a final refusal; 7303 is retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request, Response

from activities.gepg_gateway import BILL_PATH, CANCEL_PATH, GepgGateway
from gepg import codes, messages
from gepg.signing import Signer, Verifier
from gepg.xml import element, envelope, parse, serialise, verified
from infra.settings import Settings
from payflow.servers import free_port, serve
from simulators import gepg as gepg_simulator
from store.models import Payment
from tests.faults.inject import FailAfterCommit
from tests.security.test_gepg_wrapping import intent, row
from tests.stack import StackFactory

PAYFLOW = rsa.generate_private_key(public_exponent=65537, key_size=2048)
GEPG = rsa.generate_private_key(public_exponent=65537, key_size=2048)
BILL = messages.Bill(
    bill_id="42",
    sub_sp_code="1001",
    sp_sys_id="TIMIS001",
    amount=Decimal("21000"),
    expires_at=datetime(2030, 1, 1),
    generated_at=datetime(2026, 3, 1),
    payer_id="070707070",
    payer_name="Amina",
    payer_phone="0681333045",
    items=[messages.BillItem("7", Decimal("21000"), "140101")],
)


def test_every_code_the_research_lists_has_one_meaning() -> None:
    listed = {"7101", "7201", "7242", "7279", "7283", "7301", "7302", "7303", "7324", "7226"}
    assert listed <= set(codes.CODES)
    assert codes.meaning("7101") is codes.Meaning.ACCEPTED
    assert codes.meaning("7283") is codes.meaning("7226") is codes.Meaning.ALREADY_DONE
    assert codes.meaning("7303") is codes.Meaning.RETRY
    assert codes.meaning("7279") is codes.meaning("9999") is codes.Meaning.REFUSED
    assert codes.meaning("7101;7242") is codes.Meaning.REFUSED  # the worst of several decides


@pytest.mark.parametrize(
    ("status", "code", "settled"),
    [
        (None, "7101", True),
        ("GF", "7101", True),
        ("GS", "7201", False),
        ("GS", None, True),
        ("GF", None, False),
    ],
)
def test_a_control_number_callback_is_read_by_its_code(
    status: str | None, code: str | None, settled: bool
) -> None:
    fields = [("BillId", "42"), ("PayCntrNum", "991234567890")]
    fields += [(tag, value) for tag, value in (("TrxSts", status), ("TrxStsCode", code)) if value]
    inner = serialise(element(messages.BILL_RESPONSE, element("BillTrxInf", *fields)))
    [result] = messages.read_bill_submission_response(parse(envelope(inner, ""), messages.BILL_RESPONSE))
    assert result.settled is settled


@asynccontextmanager
async def gateway(app: FastAPI) -> AsyncIterator[GepgGateway]:
    port = free_port()
    async with serve(app, port) as url, httpx.AsyncClient() as http:
        settings = Settings(gateway_url=url)
        yield GepgGateway(settings, http, Signer(PAYFLOW), Verifier(GEPG.public_key()))


async def test_a_cancel_retried_after_its_reply_was_lost_counts_as_cancelled() -> None:
    """The GePG simulator answers a second cancel as GePG does: GF 7283 "Bill has been cancelled"."""
    app = gepg_simulator.create_app("http://127.0.0.1:9", Signer(GEPG), Verifier(PAYFLOW.public_key()))
    async with gateway(app) as gepg:
        await gepg.send(
            BILL_PATH, "default.sp.in", messages.bill_submission("SP001", [BILL]), "gepgBillSubReqAck"
        )
        payment = Payment(id=42, intent_id="i-42")
        request = messages.bill_cancel_request("SP001", "TIMIS001", "42")
        lost = await gepg.send(CANCEL_PATH, "changebill.sp.in", request, messages.CANCEL_RESPONSE)
        assert messages.read_bill_cancel_response(lost) == "7101"  # its reply never reached us
        retried = await gepg.send(CANCEL_PATH, "changebill.sp.in", request, messages.CANCEL_RESPONSE)
        assert b"<TrxSts>GF</TrxSts><TrxStsCode>7283</TrxStsCode>" in retried.signed
        assert (await gepg.cancel_bill("i-42", payment)).cancelled


def peer(status: str | None, code: str) -> FastAPI:
    """An independent GePG that answers every cancel with `BillCanclTrxDt` of this TrxSts (None: absent)
    and TrxStsCode, signed."""
    app = FastAPI()

    @app.post(CANCEL_PATH)
    async def cancel(request: Request) -> Response:
        bill_id = messages.read_bill_cancel_request(
            verified(await request.body(), messages.CANCEL_REQUEST, Verifier(PAYFLOW.public_key()))
        )
        fields = [("BillId", bill_id), *([("TrxSts", status)] if status else []), ("TrxStsCode", code)]
        inner = element(messages.CANCEL_RESPONSE, element("BillCanclTrxDt", *fields))
        return Response(messages.signed(Signer(GEPG), inner), media_type="application/xml")

    return app


@pytest.mark.parametrize(
    ("status", "code", "cancelled"),
    [
        (None, "7101", True),
        (None, "7283", True),
        ("GF", "7283", True),
        ("GS", "7101", True),
        ("GF", "7279", False),
        (None, "7279", False),
    ],
)
async def test_a_cancel_reply_is_read_by_its_code(status: str | None, code: str, cancelled: bool) -> None:
    async with gateway(peer(status, code)) as gepg:
        outcome = await gepg.cancel_bill("i-42", Payment(id=42, intent_id="i-42"))
    assert outcome.cancelled is cancelled
    if not cancelled:
        assert (outcome.code, outcome.message) == (3, "7279:Bill already settled")


async def test_a_cancel_answered_invalid_signature_is_retried() -> None:
    async with gateway(peer("GF", "7303")) as gepg:
        with pytest.raises(RuntimeError, match="7303"):
            await gepg.cancel_bill("i-42", Payment(id=42, intent_id="i-42"))


async def test_a_cancel_whose_reply_was_lost_ends_cancelled_over_gepg(make_stack: StackFactory) -> None:
    """`cancel_bill` cancels at GePG, then its worker dies before reporting: the retry is answered
    7283, and the intent still ends 0 CANCELLED with the bill cancelled at GePG."""
    faults = FailAfterCommit(["cancel_bill"])
    async with make_stack(gepg=True, interceptors=[faults]) as s:
        payment_id = await intent(s, 3)
        r = await s.post("/api/payment/cancel", json={"payment_id": payment_id})
        assert r.status_code == 200 and r.json()["code"] == 0, r.text
        assert (await row(s, payment_id)).status == 0
        assert faults.injected["cancel_bill"] == 1
        [bill] = s.gateway.bills.values()
        assert bill["cancelled"] is True
