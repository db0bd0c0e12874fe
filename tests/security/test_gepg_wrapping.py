"""Issue 20 item 1: GePG signature wrapping. A message GePG signed once (seen, say, in the audit log)
is put in an `<x>` beside a forged element of the same name whose end tag the old byte cut did not
find (`</tag >`); the signature still verified over the old message while the data was read from the
forged one. Every GePG message we receive is tried this way on a real stack: each is refused
(7242/7303, HTTP 200) with nothing stored and no workflow update sent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from lxml import etree
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType

from domain.payment_flow import payment_workflow_id
from gepg import messages
from gepg.signing import Signer, signer_from_pkcs12
from gepg.xml import parse, serialise
from store.models import GepgStatement, Payment, PaymentNotification, PooledNumber, PoolRequest
from tests.gepg.test_flow_a import INTENT, eventually
from tests.pool.test_pool_flow import POOL, behave, free, top_up
from tests.stack import GEPG_PASSWORD, Stack, StackFactory

XML = {"Content-Type": "application/xml"}
REFUSED = {"7242", "7303"}


def gepg_signer(s: Stack) -> Signer:
    """The GePG simulator's key: what signed the message an attacker once saw."""
    assert s.settings.gepg_certificate_path
    return signer_from_pkcs12(s.settings.gepg_certificate_path.with_suffix(".p12"), GEPG_PASSWORD)


def wrapped(signer: Signer, seen: etree._Element, forged: etree._Element) -> bytes:
    """The issue's body: `<Gepg><x>SIGNED</x><tag>FORGED</tag ><gepgSignature>SIG</gepgSignature></Gepg>`."""
    signed = serialise(seen)
    tag = str(seen.tag)
    forged_bytes = serialise(forged).replace(f"</{tag}>".encode(), f"</{tag} >".encode())
    signature = signer.sign(signed).encode()
    return b"<Gepg><x>%s</x>%s<gepgSignature>%s</gepgSignature></Gepg>" % (signed, forged_bytes, signature)


async def gepg_post(s: Stack, path: str, body: bytes, ack_tag: str, field: str = "TrxStsCode") -> str:
    """Post as GePG does (XML, no token) and read the ack's code."""
    r = await s.http.post(path, content=body, headers=XML)
    assert r.status_code == 200, r.text
    return messages.read_status_ack(parse(r.content, ack_tag), field)


def payment(cn: str, trx_id: str, paid: Decimal) -> messages.PaymentInfo:
    return messages.PaymentInfo(
        trx_id,
        "SP001",
        f"R-{trx_id}",
        "1",
        cn,
        paid,
        paid,
        datetime(2026, 3, 1),
        "0681333045",
        "",
        "R",
        "M-Pesa",
    )


async def row(s: Stack, payment_id: int) -> Payment:
    async with s.sessions() as session:
        p = await session.get(Payment, payment_id)
        assert p is not None
        await session.refresh(p)
        return p


async def updates(s: Stack, payment_id: int) -> list[str]:
    """The updates the intent's workflow accepted so far."""
    handle = s.temporal.get_workflow_handle(payment_workflow_id((await row(s, payment_id)).intent_id or ""))
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        async for e in handle.fetch_history_events()
        if e.event_type == accepted
    ]


async def intent(s: Stack, status: int) -> int:
    r = await s.post("/api/GetControlNumber", json=INTENT)
    assert r.status_code == 200, r.text
    payment_id = int(r.json()["internal_identifier"])

    async def reached() -> bool:
        return (await row(s, payment_id)).status == status

    await eventually(reached)
    return payment_id


async def test_a_payment_wrapped_around_a_signed_one_is_refused(make_stack: StackFactory) -> None:
    async with make_stack(gepg=True) as s:
        payment_id = await intent(s, 3)
        victim = await row(s, payment_id)
        assert victim.control_number
        before = await updates(s, payment_id)
        seen = messages.payment_info([payment("990000000001", "TX-SEEN", Decimal("10"))])
        forged = messages.payment_info([payment(victim.control_number, "TX-NEW", victim.amount_to_be_paid)])
        body = wrapped(gepg_signer(s), seen, forged)
        assert await gepg_post(s, "/api/GetPaymentData", body, messages.PAYMENT_ACK) in REFUSED
        async with s.sessions() as session:
            assert (await session.exec(select(PaymentNotification))).all() == []
        assert (await row(s, payment_id)).status == 3
        assert await updates(s, payment_id) == before


async def test_a_control_number_wrapped_around_a_signed_one_is_refused(make_stack: StackFactory) -> None:
    async with make_stack(gepg=True, cn_wait_s=0.1) as s:  # held numbers: GetControlNumber need not wait
        await behave(s, callback="hold")
        payment_id = await intent(s, 2)
        before = await updates(s, payment_id)
        seen = messages.bill_submission_response(
            [messages.ControlNumberResult("999999", "990000000001", "GS", "7101")]
        )
        forged = messages.bill_submission_response(
            [messages.ControlNumberResult(str(payment_id), "990000000666", "GS", "7101")]
        )
        body = wrapped(gepg_signer(s), seen, forged)
        assert await gepg_post(s, "/api/GetReqControlNumber", body, messages.BILL_RESPONSE_ACK) in REFUSED
        after = await row(s, payment_id)
        assert (after.status, after.control_number) == (2, None)
        assert await updates(s, payment_id) == before


async def test_pool_numbers_wrapped_around_a_signed_message_are_refused(make_stack: StackFactory) -> None:
    async with make_stack(gepg=True, **POOL) as s:
        await behave(s, callback="hold", delay_ms="0")
        await top_up(s, minimum=1, batch=1)
        async with s.sessions() as session:
            [pending] = (await session.exec(select(PoolRequest))).all()
        seen = messages.bill_submission_response(
            [messages.ControlNumberResult("999999", "990000000001", "GS", "7101")]
        )
        forged = messages.bill_submission_response(
            [messages.ControlNumberResult(f"pool-{pending.id}-1", "990000000666", "GS", "7101")]
        )
        body = wrapped(gepg_signer(s), seen, forged)
        assert await gepg_post(s, "/api/GetReqControlNumber", body, messages.BILL_RESPONSE_ACK) in REFUSED
        assert await free(s) == 0
        async with s.sessions() as session:
            assert (await session.exec(select(PooledNumber))).all() == []
            state = (
                await session.exec(select(PoolRequest.state).where(col(PoolRequest.id) == pending.id))
            ).one()
        assert state == "pending"


async def test_a_statement_wrapped_around_a_signed_one_is_refused(make_stack: StackFactory) -> None:
    async with make_stack(gepg=True, with_worker=False) as s:
        seen = messages.reconciliation(messages.Reconciliation("42", "SP001", "payflow", "7101", []))
        line = messages.ReconciledPayment(
            "1", "990000000666", "TX-NEW", Decimal("21000"), "R", datetime(2026, 3, 1), "M-Pesa", "0681333045"
        )
        forged = messages.reconciliation(messages.Reconciliation("77", "SP001", "payflow", "7101", [line]))
        body = wrapped(gepg_signer(s), seen, forged)
        ack = await gepg_post(
            s, "/api/GetReconciliationData", body, messages.RECONCILIATION_ACK, "ReconcStsCode"
        )
        assert ack in REFUSED
        async with s.sessions() as session:
            assert (await session.exec(select(GepgStatement))).all() == []
