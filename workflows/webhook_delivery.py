"""WebhookDeliveryWorkflow: one event to one endpoint, attempts on durable timers until one succeeds.

Attempts follow the schedule (0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default) with ±20 %
jitter from `workflow.random()`; a receiver's Retry-After (429/503) pushes the next attempt back.
Exhausted, the delivery is `failed` (the dead letter); a replay starts a new run with a new series.
The outbox relay makes a first series' attempt 1 itself and starts this workflow only when it failed
(`DeliveryInput.attempted`): a delivery that succeeds at once costs Temporal nothing.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import interfaces as acts
    from domain.delivery_flow import AttemptRequest, DeliveryDone, DeliveryInput
    from domain.webhooks import next_delay
    from workflows import search_attributes as sa
    from workflows import ui_details
    from workflows.activity_options import local_since, retrying

CALL = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": retrying(),
}
LOCAL_STEPS_PATCH = "local-delivery-steps"
"""Since this patch an attempt and the closing record are local activities: a delivery that succeeds
at once is one workflow task instead of three, and no activity task round trips through the server."""


@workflow.defn
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, request: DeliveryInput) -> str:
        workflow.upsert_search_attributes(
            [
                sa.TENANT.value_set(request.tenant),
                sa.ENDPOINT_ID.value_set(request.endpoint_id),
                sa.DELIVERY_STATUS.value_set("pending"),
            ]
        )
        status, number, outcome = "failed", request.attempted, request.last
        retry_after = outcome.retry_after if outcome is not None else None
        total = len(request.schedule)
        while (
            delay := next_delay(request.schedule, number + 1, workflow.random().random(), retry_after)
        ) is not None:
            workflow.set_current_details(
                ui_details.delivery("pending", number, total, outcome, workflow.now() + delay)
            )
            number += 1
            if delay > timedelta(0):
                await workflow.sleep(delay, summary=f"attempt {number} of {total}")
            outcome = await local_since(
                LOCAL_STEPS_PATCH,
                acts.attempt,
                AttemptRequest(
                    delivery_id=request.delivery_id, series=request.series, number=number, at=workflow.now()
                ),
                f"attempt {number}",
                CALL,
                CALL,
            )
            if outcome.result == "succeeded":
                status = "succeeded"
                break
            if outcome.result in ("gone", "disabled"):
                break
            retry_after = outcome.retry_after
        await local_since(
            LOCAL_STEPS_PATCH,
            acts.finish_delivery,
            DeliveryDone(delivery_id=request.delivery_id, series=request.series, status=status),
            f"delivery {status}",
            CALL,
            CALL,
        )
        workflow.upsert_search_attributes([sa.DELIVERY_STATUS.value_set(status)])
        workflow.set_current_details(ui_details.delivery(status, number, total, outcome, None))
        return status
