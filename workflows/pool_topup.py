"""PoolTopUpWorkflow: keep every product's control-number pool at its minimum (research §5.3).

Run by the `payflow-pool-topup` schedule: finds the products whose free numbers fell below the
minimum and requests a bulk bill for each, one after the other (one gateway call at a time). A
product whose request fails is reported and tried again on the next run; the others go on.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces as acts
    from domain.pool import BulkRequest, TopUpInput, TopUpResult
    from workflows.activity_options import STORE_CALL, retrying


@workflow.defn
class PoolTopUpWorkflow:
    @workflow.run
    async def run(self, topup: TopUpInput) -> list[TopUpResult]:
        shortfalls = await workflow.execute_activity(
            acts.pool_shortfalls, topup, summary="count the free numbers per product", **STORE_CALL
        )
        results = []
        for gap in shortfalls:
            request = BulkRequest(
                key=f"{workflow.info().run_id}:{gap.product_code}",
                product_code=gap.product_code,
                count=gap.count,
                expiry_days=topup.expiry_days,
            )
            try:
                result = await workflow.execute_activity(
                    acts.request_pool_numbers,
                    request,
                    summary=f"request {gap.count} numbers for {gap.product_code}",
                    start_to_close_timeout=timedelta(seconds=60),
                    schedule_to_close_timeout=timedelta(minutes=5),
                    retry_policy=retrying(maximum=timedelta(seconds=20)),
                )
            except ActivityError as err:  # the gateway stayed down: the next run asks again
                reason = str(err.cause or err)
                result = TopUpResult(
                    product_code=gap.product_code, requested=gap.count, added=0, reason=reason
                )
            results.append(result)
        return results
