"""Activity options shared by the workflows: how long a call may take and how it retries.

Transient failures (database, gateway or SMS provider down) retry with backoff until they end, so an
outage never fails a workflow; the logic errors of `domain.errors` fail at once.
"""

from datetime import timedelta

from temporalio.common import RetryPolicy

from domain.errors import LOGIC_ERRORS


def retrying(initial_s: float = 1, maximum: timedelta = timedelta(seconds=30), **more: object) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=initial_s),
        maximum_interval=maximum,
        non_retryable_error_types=LOGIC_ERRORS,
        **more,  # type: ignore[arg-type]
    )


STORE_CALL = {"start_to_close_timeout": timedelta(seconds=30), "retry_policy": retrying()}
"""Store writes are idempotent, so they retry until the database answers."""

LOCAL_STORE_CALL = {"start_to_close_timeout": timedelta(seconds=10), "retry_policy": retrying()}
"""The same steps run as local activities: within the workflow task, retried in the worker first."""
