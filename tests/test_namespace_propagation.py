"""`payflow temporal setup` right after the namespace is registered (docs/deployment.md step 3; seen
in CI as "Namespace payflow is not found" one call after "successfully registered"): the frontend
answers NOT_FOUND until its namespace cache refreshes, and setup waits that out, nothing else."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from payflow.temporal_setup import once_namespace_serves


def _step(error: RPCError, failures: int) -> tuple[list[int], object]:
    calls: list[int] = []

    async def step() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return "started"

    return calls, step


async def test_a_namespace_not_yet_served_is_waited_for() -> None:
    unknown = RPCError("Namespace payflow is not found.", RPCStatusCode.NOT_FOUND, b"")
    calls, step = _step(unknown, failures=2)
    assert await once_namespace_serves(step) == "started"  # type: ignore[arg-type]
    assert len(calls) == 3


@pytest.mark.parametrize(
    "error",
    [
        RPCError("permission denied", RPCStatusCode.PERMISSION_DENIED, b""),
        RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""),
    ],
)
async def test_other_errors_are_not_retried(error: RPCError) -> None:
    calls, step = _step(error, failures=5)
    with pytest.raises(RPCError):
        await once_namespace_serves(step)  # type: ignore[arg-type]
    assert len(calls) == 1


async def test_a_namespace_that_never_serves_fails_after_the_bound() -> None:
    unknown = RPCError("Namespace x is not found.", RPCStatusCode.NOT_FOUND, b"")
    calls, step = _step(unknown, failures=10**6)
    with pytest.raises(RPCError, match="not found"):
        await once_namespace_serves(step, within_s=0.6)  # type: ignore[arg-type]
    assert 1 < len(calls) < 5
