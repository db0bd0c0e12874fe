"""Flow A over GePG's signed XML on a real stack: intent → bill → control-number callback → payment
notification → matched (5) with its SMS; a tampered notification answers 7303 and leaves no trace."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from domain.payment_flow import payment_workflow_id
from gepg import codes, messages
from gepg.signing import signer_from_pkcs12
from gepg.xml import parse
from store.models import Payment, PaymentNotification
from tests.stack import GEPG_PASSWORD, Stack, StackFactory

INTENT = {
    "phone_number": "0681333045",
    "request_date": "2021-03-12",
    "policies": [{"insurance_number": "070707070", "insurance_product_code": "FCUL0001", "renewal": 1}],
    "language": "en",
    "smsRequired": True,
}


async def eventually(check: Any, limit_s: float = 20.0) -> Any:
    """Poll `check` (no fixed sleep) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not (result := await check()):
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)
    return result


async def test_flow_a_over_gepg(make_stack: StackFactory) -> None:
    async with make_stack(gepg=True) as s:
        r = await s.post("/api/GetControlNumber", json=INTENT)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["error_occured"] is False, answer
        payment_id = int(answer["internal_identifier"])

        async def assigned() -> str | None:
            async with s.sessions() as session:
                p = await session.get(Payment, payment_id)
                await session.refresh(p)
                return p.control_number if p and p.status == 3 else None

        cn = await eventually(assigned)
        await _tampered_payment_leaves_no_trace(s, answer, cn)
        callback = s.gateway.callbacks[0]
        assert callback["status"] == 200
        ack = parse(callback["answer"].encode(), messages.BILL_RESPONSE_ACK)
        assert messages.read_status_ack(ack) == codes.SUCCESS

        async with httpx.AsyncClient() as http:  # a payer pays the control number at a PSP
            paid = await http.post(f"{s.settings.gateway_url}/payments", json={"control_number": cn})
        assert paid.status_code == 201, paid.text

        async def matched() -> bool:
            async with s.sessions() as session:
                p = await session.get(Payment, payment_id)
                await session.refresh(p)
                return p is not None and p.status == 5

        await eventually(matched)
        [notified] = await eventually(lambda: _listed(s.gateway.notifications))  # logged once answered
        assert messages.read_status_ack(parse(notified["answer"].encode(), messages.PAYMENT_ACK)) == "7101"
        kinds = await eventually(lambda: _sms_kinds(s.sms_to(INTENT["phone_number"]), 3))
        assert len(kinds) >= 3


async def _tampered_payment_leaves_no_trace(s: Stack, answer: dict[str, Any], cn: str) -> None:
    """A payment of this live bill, signed by GePG and then altered: 7303, and neither the store nor
    the intent's workflow history holds any trace of it."""
    intent = s.temporal.get_workflow_handle(
        payment_workflow_id(await _intent_id(s, int(answer["internal_identifier"])))
    )
    before = await _updates(intent)
    signer = signer_from_pkcs12(s.settings.gepg_certificate_path.with_suffix(".p12"), GEPG_PASSWORD)
    info = messages.PaymentInfo(
        "TX-T",
        "SP001",
        "RC-T",
        "1",
        cn,
        Decimal("21000"),
        Decimal("21000"),
        datetime(2026, 3, 1),
        INTENT["phone_number"],
        "",
        "RC-T",
        "M-Pesa",
    )
    raw = messages.signed(signer, messages.payment_info([info]))
    r = await s.http.post(  # as GePG posts: no token
        "/api/GetPaymentData",
        content=raw.replace(b">21000.00<", b">1.00<", 1),
        headers={"Content-Type": "application/xml"},
    )
    assert messages.read_status_ack(parse(r.content, messages.PAYMENT_ACK)) == "7303"
    async with s.sessions() as session:
        assert (await session.exec(select(PaymentNotification))).all() == []
    assert await _updates(intent) == before  # the flow goes on (its SMS), but no update came


async def _updates(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The updates the workflow accepted so far (a payment is recorded by the `record_payment` update)."""
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        async for e in handle.fetch_history_events()
        if e.event_type == accepted
    ]


async def _intent_id(s: Stack, payment_id: int) -> str:
    async with s.sessions() as session:
        p = await session.get(Payment, payment_id)
        assert p is not None and p.intent_id
        return p.intent_id


async def _listed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return items


async def _sms_kinds(sent: list[dict[str, Any]], at_least: int) -> list[dict[str, Any]] | None:
    return sent if len(sent) >= at_least else None


async def test_tampered_payment_answers_7303_and_changes_nothing(make_stack: StackFactory) -> None:
    async with make_stack(gepg=True, with_worker=False) as s:
        signer = signer_from_pkcs12(s.settings.gepg_certificate_path.with_suffix(".p12"), GEPG_PASSWORD)
        info = messages.PaymentInfo(
            "TX9",
            "SP001",
            "RC9",
            "1",
            "991234567890",
            Decimal("10"),
            Decimal("10"),
            datetime(2026, 3, 1),
            "0681333045",
            "",
            "RC9",
            "M-Pesa",
        )
        raw = messages.signed(signer, messages.payment_info([info]))
        headers = {"Content-Type": "application/xml"}
        for body, code in ((raw.replace(b">10.00<", b">99.00<", 1), "7303"), (b"<Gepg><x/></Gepg>", "7242")):
            r = await s.http.post("/api/GetPaymentData", content=body, headers=headers)
            assert r.status_code == 200
            assert messages.read_status_ack(parse(r.content, messages.PAYMENT_ACK)) == code
        async with s.sessions() as session:
            assert (await session.exec(select(PaymentNotification))).all() == []
