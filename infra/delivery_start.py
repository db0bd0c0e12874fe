"""Starting a webhook delivery's workflow, shared by the outbox relay (an activity) and support's
replay (the API and the CLI): by the workflow's name, so neither imports `workflows/`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.delivery_flow import DELIVERY_WORKFLOW, DeliveryInput, delivery_workflow_id
from infra.settings import Settings


async def start_delivery(
    client: Client, settings: Settings, request: DeliveryInput, *, replay: bool = False
) -> bool:
    """Start the delivery's workflow on the configured schedule; False when one already ran (or
    runs) and this is no replay."""
    request = request.model_copy(update={"schedule": settings.webhook_schedule_seconds})
    try:
        await client.start_workflow(
            DELIVERY_WORKFLOW,
            request,
            id=delivery_workflow_id(request.event_id, request.endpoint_id),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE
            if replay
            else WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"{request.event_type} → endpoint {request.endpoint_id}",
            static_details=(
                f"**Tenant:** {request.tenant}  \n**Event:** {request.event_id} ({request.event_type})  \n"
                f"**Series:** {request.series}{' (replay)' if request.series > 1 else ''}  \n"
                f"**Schedule (s):** {settings.webhook_schedule}"
            ),
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
