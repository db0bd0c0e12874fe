"""Issue 19 item 2 over GePG: a pool-mode intent cancelled on request, or expiring, cancels at GePG the
pool bill whose number it holds (BillId `pool-<request>-<n>`, not the payment's id), so no bill stays
payable once its flow has ended. Real stack, GePG simulator on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from activities.gateway import GatewayActivities
from domain.intent import GatewayProtocol
from domain.payment_flow import CancelOutcome, payment_workflow_id
from domain.status import PaymentStatus
from store.models import Payment, PooledNumber
from store.payments import PaymentStore
from tests.api.helpers import intent
from tests.gepg.test_flow_a import eventually
from tests.pool.test_pool_flow import POOL, top_up, wait_until
from tests.stack import Stack, StackFactory
from workflows.payment_intent import PaymentIntentWorkflow


async def pooled_intent(stack: Stack) -> tuple[Payment, str]:
    """One GePG pool number, taken by an officer's intent: its payment (ASSIGNED) and pool bill id."""
    await top_up(stack, minimum=1, batch=1)
    await wait_until(stack, lambda n: n == 1)
    r = await stack.post("/api/GetControlNumber", json=intent(smsRequired=False))
    assert r.json()["error_occured"] is False, r.text
    payment_id = int(r.json()["internal_identifier"])

    async def assigned() -> tuple[Payment, str] | None:
        async with stack.sessions() as s:
            payment = await s.get(Payment, payment_id)
            await s.refresh(payment)
            q = select(PooledNumber.bill_id).where(PooledNumber.payment_id == payment_id)
            bill_id = (await s.exec(q)).first()
        return (payment, bill_id) if payment and payment.status == 3 and bill_id else None

    return await eventually(assigned)


async def sim_bill(stack: Stack, bill_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        bills = (await http.get(f"{stack.settings.gateway_url}/_sim/bills")).json()["bills"]
    return next(b for b in bills if b["bill_id"] == bill_id)


async def cancelled_at_gepg(stack: Stack, payment: Payment, bill_id: str) -> None:
    """The pool bill ends cancelled at GePG, and a retried cancel (its reply lost) meets 7283 "Bill has
    been cancelled": done, not a refusal."""
    assert (await sim_bill(stack, bill_id)).get("cancelled") is True
    async with httpx.AsyncClient() as http:
        gateway = GatewayActivities(stack.settings, http, PaymentStore(stack.sessions))
        again = await gateway.cancel_bill(payment.intent_id, GatewayProtocol.GEPG)
    assert again == CancelOutcome(cancelled=True)
    assert (await sim_bill(stack, bill_id)).get("cancelled") is True


async def test_a_gepg_pool_intent_cancelled_on_request_cancels_its_pool_bill(
    make_stack: StackFactory,
) -> None:
    async with make_stack(gepg=True, **POOL) as stack:
        payment, bill_id = await pooled_intent(stack)
        r = await stack.post("/api/payment/cancel", json={"payment_id": payment.id})
        assert r.json()["code"] == 0, r.text
        await cancelled_at_gepg(stack, payment, bill_id)


async def test_a_gepg_pool_intent_that_expires_cancels_its_pool_bill(
    time_env: WorkflowEnvironment, db_url: str, signing_key: Path
) -> None:
    """On the time-skipping server: waiting for the result skips the bill's day to its expiry."""
    settings = {**POOL, "bill_expiry_days": 1, "reminder_days": 0}
    async with StackFactory(time_env.client, db_url, signing_key)(gepg=True, **settings) as stack:
        with time_env.auto_time_skipping_disabled():  # the top-up's wait skips no time
            payment, bill_id = await pooled_intent(stack)
        handle = time_env.client.get_workflow_handle_for(
            PaymentIntentWorkflow.run, payment_workflow_id(payment.intent_id)
        )
        async with time_env.time_skipping_unlocked():  # type: ignore[attr-defined]  # not started here
            final = await handle.result()
        assert (final.status, final.reason) == (PaymentStatus.CANCELLED, "Bill expired")
        await cancelled_at_gepg(stack, payment, bill_id)
