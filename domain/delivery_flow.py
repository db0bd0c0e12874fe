"""Messages of WebhookDeliveryWorkflow."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.webhooks import DEFAULT_SCHEDULE

DELIVERY_WORKFLOW = "WebhookDeliveryWorkflow"


def delivery_workflow_id(event_id: int, endpoint_id: str) -> str:
    """One delivery workflow per (event, endpoint): the relay starts it, a replay starts it again."""
    return f"delivery-{event_id}-{endpoint_id}"


class AttemptOutcome(BaseModel):
    result: str  # succeeded, failed, gone (410: endpoint disabled), disabled (endpoint disabled)
    status_code: int | None = None
    retry_after: float | None = None
    error: str | None = None


class DeliveryInput(BaseModel):
    delivery_id: int
    event_id: int
    endpoint_id: str
    tenant: str
    event_type: str
    series: int = 1
    schedule: list[int] = list(DEFAULT_SCHEDULE)
    attempted: int = 0
    """Attempts of this series made before the workflow: 1 when the outbox relay made the first one
    and it failed; the workflow goes on with the next attempt on the schedule."""
    last: AttemptOutcome | None = None
    """The outcome of the relay's attempt (its Retry-After pushes the next attempt back)."""


class AttemptRequest(BaseModel):
    delivery_id: int
    series: int
    number: int
    at: datetime
    """Workflow time of the attempt: the five-day failure rule runs on it, so it is replay-safe."""


class DeliveryDone(BaseModel):
    delivery_id: int
    series: int
    status: str
