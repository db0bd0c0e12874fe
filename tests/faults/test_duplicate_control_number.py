"""Issue 19, the bill rule on a duplicate: a bill the gateway numbered with a control number another
intent already holds is refused (-3), and must be cancelled at the gateway before the flow ends, as
every other bill payflow gives up on (tests/faults/test_bill_safety.py)."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.intent import CNMode
from domain.payment_flow import ControlNumberReceipt, IntentState
from domain.status import PaymentStatus as S
from tests.api.helpers import wait_for
from tests.workflows.harness import Harness, harness, record
from workflows.payment_intent import PaymentIntentWorkflow

SELF_PAYER = {"officer_code": None}
NUMBER = "990000000881"


async def _numbered(h: Harness, handle: WorkflowHandle[Any, Any], number: str) -> Any:
    """Deliver `number` by update once the bill is at the gateway, as its callback would."""
    await wait_for(lambda: handle.id.removeprefix("payment-intent-") in h.gateway.bills, "the bill")
    return await handle.execute_update(
        PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number=number)
    )


async def test_a_duplicate_control_number_cancels_its_bill_at_the_gateway(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with harness(time_env.client, db_url) as h:
        first = await h.start(CNMode.GATEWAY, **SELF_PAYER)
        assert (await _numbered(h, first, NUMBER)).status is S.ASSIGNED
        second = await h.start(CNMode.GATEWAY, **SELF_PAYER)
        answer = await _numbered(h, second, NUMBER)
        final: IntentState = await second.result()
        await record(second, "duplicate_control_number")
        await first.terminate()
    bill = h.gateway.bills[second.id.removeprefix("payment-intent-")]
    assert answer.outcome == "duplicate" and final.status is S.FAILED_CONTROL_NUMBER
    assert bill.get("cancelled") is True, bill
    assert h.gateway.bills[first.id.removeprefix("payment-intent-")].get("cancelled") is None
