"""Activity options shared by the workflows: how long a store write may take and how it retries."""

from datetime import timedelta

from temporalio.common import RetryPolicy

STORE_CALL = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
"""Store writes are idempotent, so they retry until the database answers."""
