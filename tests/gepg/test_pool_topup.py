"""The pool top-up over GePG (research §5.3): a bulk `gepgBillSubReq` to the GePG simulator, whose
signed `gepgBillSubResp` callbacks (one per bill) the API pools by the request id in the bill ids; a
request whose bills come back GF leaves no rows."""

from __future__ import annotations

import httpx
from sqlmodel import col, select

from domain.pool import TopUpResult
from store.models import PooledNumber, PoolRequest
from tests.pool.test_pool_flow import POOL, PRODUCT, behave, free, top_up, wait_for_request, wait_until
from tests.stack import StackFactory


async def test_gepg_callbacks_fill_the_pool_and_a_failed_bill_leaves_no_rows(
    make_stack: StackFactory,
) -> None:
    async with make_stack(gepg=True, **POOL) as stack:
        await behave(stack, callback="error", delay_ms="0")  # GePG answers every bill GF (7201)
        assert await top_up(stack, minimum=2, batch=2) == [
            TopUpResult(product_code=PRODUCT, requested=2, added=0)
        ]
        await wait_for_request(stack, "7201:Failure")
        assert await free(stack) == 0

        await behave(stack, callback="assign", delay_ms="0")
        # accepted with 7101: the numbers follow by callback, not in the reply
        assert await top_up(stack, minimum=3, batch=3) == [
            TopUpResult(product_code=PRODUCT, requested=3, added=0)
        ]
        await wait_until(stack, lambda n: n == 3)

        async with stack.sessions() as s:
            requests = (await s.exec(select(PoolRequest).order_by(col(PoolRequest.id)))).all()
            pooled = (await s.exec(select(PooledNumber).order_by(col(PooledNumber.id)))).all()
        assert [(r.state, r.reason) for r in requests] == [("failed", "7201:Failure"), ("done", None)]
        done = requests[1]
        assert sorted(p.bill_id for p in pooled) == [f"pool-{done.id}-{n}" for n in (1, 2, 3)]
        assert {(p.request_id, p.expires_at) for p in pooled} == {(done.id, done.expires_at)}
        async with httpx.AsyncClient() as http:
            sim = (await http.get(f"{stack.settings.gateway_url}/_sim/bills")).json()
        billed = {b["bill_id"]: b for b in sim["bills"]}
        assert {p.bill_id: p.control_number for p in pooled} == {
            bill_id: billed[bill_id]["control_number"] for bill_id in (p.bill_id for p in pooled)
        }
        assert {billed[p.bill_id]["payer_id"] for p in pooled} == {
            p.bill_id for p in pooled
        }  # PyrId = BillId
        acks = [c["answer"] for c in sim["callbacks"]]  # 2 GF + 3 GS callbacks, each acked 7101 signed
        assert len(acks) == 5
        assert all("<TrxStsCode>7101</TrxStsCode>" in a and "<gepgSignature>" in a for a in acks)
