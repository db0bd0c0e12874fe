"""Two tenants' PSPs report one transaction id: both payments are matched, and neither tenant's answers
name the other's payment or intent, nor do the other's ids find anything (issue 10)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.helpers import intent
from tests.stack import Stack, StackFactory

TENANTS = {"demo": ("eo", "gateway"), "other-tenant": ("other", "other")}
"""tenant → (client that asks for the bill, client the gateway reports payments with)"""


ID_KEYS = {"id", "intent_id", "payment_id", "paymentId", "internal_identifier"}


def _ids(answer: Any) -> set[str]:
    """Every payment or intent id in a JSON answer, as text."""
    if isinstance(answer, list):
        return set().union(*(_ids(v) for v in answer))
    if not isinstance(answer, dict):
        return set()
    own = {str(v) for k, v in answer.items() if k in ID_KEYS and v is not None}
    return own.union(*(_ids(v) for v in answer.values()))


async def _pay(stack: Stack, payer: str, gateway: str) -> dict[str, Any]:
    """A self-payer renewal billed and paid with transaction TX-SAME (twice: the retry is the same
    notification, accepted again); its ids and every value the tenant was answered."""
    r = await stack.post("/api/GetControlNumber", as_=payer, json=intent(enrolment_officer_code=None))
    billed = r.json()
    state = (await stack.get(f"/v1/payment-intents/{billed['internal_identifier']}", as_=payer)).json()
    body = {
        "control_number": billed["control_number"],
        "transaction_identification": "TX-SAME",
        "received_amount": state["amount_to_be_paid"],
        "received_date": "2026-11-22",
        "payment_date": "2026-11-22",
        "payer_phone_number": "0754111222",
    }
    paid = await stack.post("/api/GetPaymentData", as_=gateway, json=body)
    assert paid.status_code == 200, paid.text
    assert paid.json()["data"] == {"internal_identifier": billed["internal_identifier"]}
    again = await stack.post("/api/GetPaymentData", as_=gateway, json=body)
    assert again.json() == paid.json()  # the same notification again is accepted (issue 19 item 6)
    return {
        "payment_id": billed["internal_identifier"],
        "intent_id": state["id"],
        "control_number": billed["control_number"],
        "answers": _ids([billed, state, paid.json(), again.json()]),
    }


async def _matched(stack: Stack, client: str, intent_id: str) -> dict[str, Any]:
    for _ in range(200):
        state = (await stack.get(f"/v1/payment-intents/{intent_id}", as_=client)).json()
        if state["status"] == 5:
            return dict(state)
        await asyncio.sleep(0.05)
    raise AssertionError(f"intent {intent_id} not matched: {state}")


async def test_same_transaction_id_in_two_tenants(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        paid = {t: await _pay(stack, *clients) for t, clients in TENANTS.items()}
        for tenant, (client, _) in TENANTS.items():
            state = await _matched(stack, client, paid[tenant]["intent_id"])
            assert state["timeline"][-1]["status_name"] == "MATCHED"
        mine, theirs = paid["demo"], paid["other-tenant"]
        assert mine["payment_id"] != theirs["payment_id"]
        for me, other, client in ((mine, theirs, "eo"), (theirs, mine, "other")):
            answers = me["answers"] | _ids(await _matched(stack, client, me["intent_id"]))
            assert not {other["payment_id"], other["intent_id"]} & answers
            for path in (
                f"/v1/payment-intents/{other['intent_id']}",
                f"/v1/payment-intents/{other['payment_id']}",
            ):
                r = await stack.get(path, as_=client)
                assert (r.status_code, r.json()["code"]) == (404, "intent_not_found")
            r = await stack.post(
                "/api/GetAssignedControlNumbers",
                as_=client,
                json={"requests": [{"internal_identifier": other["payment_id"]}]},
            )
            assert r.json()["error_occured"] is True
            r = await stack.post(
                "/api/payment/cancel", as_=client, json={"control_number": other["control_number"]}
            )
            assert r.json()["code"] == 2  # "Control Number doesn't exists" for this tenant
