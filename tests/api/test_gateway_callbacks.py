"""The gateway's side of openIMIS: acknowledgements, control-number delivery, duplicates, refusals."""

from __future__ import annotations

import asyncio

from store.models import Payment, SmsMessage
from tests.api.helpers import count, intent, wait_for
from tests.api.test_payments import _intent_with_cn, _pay
from tests.stack import Stack, StackFactory


async def _pending_intent(stack: Stack) -> int:
    """An intent whose bill is posted while the gateway holds its control number."""
    r = await stack.post("/api/GetControlNumber", json=intent())
    body = r.json()
    assert body["error_occured"] is False and body["control_number"] is None, body
    return int(body["internal_identifier"])


async def _status(stack: Stack, payment_id: int) -> tuple[int, str | None, str | None]:
    async with stack.sessions() as s:
        p = await s.get(Payment, payment_id)
        assert p is not None
        return p.status, p.control_number, p.rejected_reason


async def test_ack_then_control_number_then_polling(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="gateway", cn_wait_s=0.3) as stack:
        stack.gateway.behaviour.callback = "hold"
        pid = await _pending_intent(stack)
        assert (await _status(stack, pid))[0] == 2  # POSTED: the gateway acknowledged the bill

        r = await stack.post(
            "/api/GetAssignedControlNumbers", json={"requests": [{"internal_identifier": str(pid)}]}
        )
        assert r.json() == {
            "error_occured": False,
            "assigned_control_numbers": [{"internal_identifier": str(pid), "control_number": None}],
        }

        ack = {"internal_identifier": pid, "error_occured": False, "error_message": None}
        r = await stack.post("/api/PostReqControlNumberAck", as_="gateway", json=ack)
        assert (r.status_code, r.content) == (200, b"")

        cn = {"internal_identifier": str(pid), "control_number": "991234567890", "error_occured": False}
        r = await stack.post("/api/GetReqControlNumber", as_="gateway", json=cn)
        assert (r.status_code, r.content) == (200, b"")
        assert await _status(stack, pid) == (3, "991234567890", None)
        r = await stack.post("/api/GetReqControlNumber", as_="gateway", json=cn)  # the gateway retries
        assert r.status_code == 200
        r = await stack.post(
            "/api/GetReqControlNumber", as_="gateway", json=cn | {"control_number": "990000000001"}
        )
        assert r.status_code == 400  # a different number for an assigned intent is refused

        r = await stack.post(
            "/api/GetAssignedControlNumbers",
            json={"requests": [{"internal_identifier": pid}, {"internal_identifier": "424242"}]},
        )
        assert r.json() == {"error_occured": True, "error_message": "2-Not valid internal identifier 424242"}
        r = await stack.post(
            "/api/GetAssignedControlNumbers", json={"requests": [{"internal_identifier": pid}]}
        )
        assert r.json()["assigned_control_numbers"] == [
            {"internal_identifier": str(pid), "control_number": "991234567890"}
        ]
        await wait_for(lambda: stack.sms_to("0681333045"), "the assigned SMS")
        assert "Control No:991234567890" in stack.sms_to("0681333045")[0]["text"]


async def test_duplicate_control_number_fails_the_second_intent(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="gateway", cn_wait_s=0.3) as stack:
        stack.gateway.behaviour.callback = "hold"
        first, second = await _pending_intent(stack), await _pending_intent(stack)
        cn = {"control_number": "995555555555", "error_occured": False}
        r = await stack.post(
            "/api/GetReqControlNumber", as_="gateway", json=cn | {"internal_identifier": first}
        )
        assert r.status_code == 200
        r = await stack.post(
            "/api/GetReqControlNumber", as_="gateway", json=cn | {"internal_identifier": second}
        )
        assert (r.status_code, r.json()) == (400, {"error_message": "2-Duplicate Control Number"})
        assert await _status(stack, second) == (-3, None, "8: Duplicated control number assigned")
        await wait_for(lambda: len(stack.sms_to("0681333045")) == 2, "two SMS")
        texts = sorted(m["text"] for m in stack.sms_to("0681333045"))
        assert texts[0].startswith("Control No:995555555555")
        assert texts[1].startswith("Request for control number for CHFID:070707070, Product:FCUL0001 was not")


async def test_gateway_error_and_refusal_fail_with_minus_two(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="gateway", cn_wait_s=0.3) as stack:
        stack.gateway.behaviour.callback = "hold"
        pid = await _pending_intent(stack)
        failure = {"internal_identifier": pid, "error_occured": True, "error_message": "7201:Failure"}
        r = await stack.post("/api/GetReqControlNumber", as_="gateway", json=failure)
        assert r.status_code == 200
        assert await _status(stack, pid) == (-2, None, "7201:Failure")

        stack.gateway.behaviour.ack = "refuse"
        r = await stack.post("/api/GetControlNumber", json=intent())
        body = r.json()
        assert (
            body["error_occured"] is True and body["error_message"] == "9-Control number cannot be assigned"
        )
        assert await _status(stack, int(body["internal_identifier"])) == (
            -2,
            None,
            "7242:Invalid Request Data",
        )
        await wait_for(lambda: len(stack.sms_to("0681333045")) == 2, "two not-assigned SMS")
        assert await count(stack, SmsMessage, SmsMessage.kind == "control_number_not_assigned") == 2


async def test_callbacks_only_for_the_gateways_own_tenant(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="gateway", cn_wait_s=0.3) as stack:
        stack.gateway.behaviour.callback = "hold"
        pid = await _pending_intent(stack)
        cn = {"internal_identifier": pid, "control_number": "997777777777", "error_occured": False}
        r = await stack.post("/api/GetReqControlNumber", as_="other", json=cn)
        assert r.status_code == 400
        r = await stack.post(
            "/api/GetAssignedControlNumbers", as_="other", json={"requests": [{"internal_identifier": pid}]}
        )
        assert r.status_code == 400 and "2-Not valid internal identifier" in r.json()["error_message"]
        assert (await _status(stack, pid))[0] == 2


async def test_a_retried_control_number_callback_is_accepted_after_the_bill_was_paid(
    make_stack: StackFactory,
) -> None:
    """Issue 19 (seen in the production-layout crash run): the gateway's control-number callback was
    taken but its answer lost (a 503 while Temporal restarted), the payer paid meanwhile; the
    gateway's retry of the same number is answered 200 like any repeat, not a final 400 "not awaiting
    a control number". Another number for that intent is still refused."""
    async with make_stack(cn_mode="gateway") as stack:
        pid, number = await _intent_with_cn(stack)
        await _pay(stack, number)
        async with asyncio.timeout(10):
            while (await _status(stack, pid))[0] != 5:  # noqa: ASYNC110 - the state is in the store
                await asyncio.sleep(0.05)

        cn = {"internal_identifier": str(pid), "control_number": number, "error_occured": False}
        r = await stack.post("/api/GetReqControlNumber", as_="gateway", json=cn)  # the retry
        assert (r.status_code, r.content) == (200, b""), r.text
        other = cn | {"control_number": "990000000002"}
        r = await stack.post("/api/GetReqControlNumber", as_="gateway", json=other)
        assert r.status_code == 400
        assert await _status(stack, pid) == (5, number, None)
