"""Issue 19, found by the production-layout crash test: an update the server aborts is an outage.

A loaded or restarting Temporal server (1.32) aborts an update it had admitted when it drops its
in-memory update registry (a workflow task that timed out, a shard reloaded): the caller gets gRPC
ABORTED "workflow update was aborted" (serviceerror.AbortedByServer, which the server documents as
to be retried), and the update is not in the history. Read as a refusal, the API answered the
gateway's control number 400 (never sent again: the intent got no number), refused a valid payment
with 3, and answered a repeated notification accepted although its workflow never had the payment
(the store at 4, the workflow waiting for payment until the bill expires).

The abort is played at the client boundary (a client interceptor answers the first call of one
update as the server does); worker, server, store and HTTP are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.any_pb2 import Any as Any_
from temporalio.api.common.v1 import GrpcStatus
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowUpdateInput,
    WorkflowUpdateHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from tests.api.helpers import intent
from tests.faults.outages.helpers import SELF_PAYER, assigned_intent, audit_log, payment, payment_data
from tests.faults.outages.peers import TemporalServer
from tests.stack import StackFactory

ABORTED = RPCError("workflow update was aborted", RPCStatusCode.ABORTED, b"")
TASK_FAILED = RPCError(
    "Unable to perform workflow execution update due to unexpected workflow task failure.",
    RPCStatusCode.FAILED_PRECONDITION,
    GrpcStatus(
        code=RPCStatusCode.FAILED_PRECONDITION,
        details=[Any_(type_url="type.googleapis.com/temporal.api.errordetails.v1.WorkflowNotReadyFailure")],
    ).SerializeToString(),
)
"""What the server answers when the workflow task that carried the update failed or timed out."""


class AbortUpdates(Interceptor):
    """Answers the next `count` calls of update `name` as a server that aborted them."""

    def __init__(self) -> None:
        self.name, self.count, self.error = "", 0, ABORTED

    @contextmanager
    def aborting(self, name: str, count: int = 1, error: RPCError = ABORTED) -> Iterator[None]:
        self.name, self.count, self.error = name, count, error
        try:
            yield
        finally:
            self.count = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        hook = self

        class _Abort(OutboundInterceptor):
            async def start_workflow_update(
                self, input: StartWorkflowUpdateInput
            ) -> WorkflowUpdateHandle[Any]:
                if input.update == hook.name and hook.count > 0:
                    hook.count -= 1
                    raise hook.error
                return await super().start_workflow_update(input)

        return _Abort(next)


async def _factory(
    temporal: TemporalServer, db_url: str, signing_key: Path
) -> tuple[StackFactory, AbortUpdates]:
    aborts = AbortUpdates()
    base = await temporal.client()
    client = Client(**{**base.config(), "interceptors": [aborts]})
    return StackFactory(client, db_url, signing_key), aborts


@pytest.mark.parametrize("error", [ABORTED, TASK_FAILED], ids=["aborted", "task-failed"])
async def test_a_payment_whose_update_is_aborted_is_retried_not_refused(
    temporal: TemporalServer, db_url: str, signing_key: Path, error: RPCError
) -> None:
    factory, aborts = await _factory(temporal, db_url, signing_key)
    async with factory() as stack:
        bill = await assigned_intent(stack)
        with aborts.aborting("record_payment", error=error):
            first = await stack.post("/api/GetPaymentData", as_="gateway", json=payment_data(bill, "TX-AB-1"))
        again = await stack.post("/api/GetPaymentData", as_="gateway", json=payment_data(bill, "TX-AB-1"))
        outcomes = [n.outcome for n in await audit_log(stack, "TX-AB-1")]
        status = (await payment(stack, bill.id or 0)).status
    assert first.status_code == 503 and first.headers["retry-after"], first.text
    assert again.status_code == 200, again.text
    assert outcomes == ["unavailable", "accepted"], outcomes
    assert status == 5


async def test_a_repeated_payment_whose_update_is_aborted_is_not_answered_accepted(
    temporal: TemporalServer, db_url: str, signing_key: Path
) -> None:
    """The store holds the receipt (recorded by an attempt whose answer was lost), its workflow does
    not: the repeat must reach the workflow before it is answered accepted."""
    factory, aborts = await _factory(temporal, db_url, signing_key)
    async with factory() as stack:
        bill = await assigned_intent(stack)
        ok = await stack.post("/api/GetPaymentData", as_="gateway", json=payment_data(bill, "TX-AB-2"))
        assert ok.status_code == 200, ok.text
        with aborts.aborting("record_payment"):
            repeat = await stack.post(
                "/api/GetPaymentData", as_="gateway", json=payment_data(bill, "TX-AB-2")
            )
    assert repeat.status_code == 503, repeat.text


async def test_a_control_number_whose_update_is_aborted_is_retried_not_refused(
    temporal: TemporalServer, db_url: str, signing_key: Path
) -> None:
    factory, aborts = await _factory(temporal, db_url, signing_key)
    async with factory(cn_mode="gateway", cn_wait_s=0.3) as stack:
        stack.gateway.behaviour.callback = "hold"
        r = await stack.post("/api/GetControlNumber", json=intent(**SELF_PAYER))
        pid = r.json()["internal_identifier"]
        cn = {"internal_identifier": pid, "control_number": "997777777771", "error_occured": False}
        with aborts.aborting("receive_control_number"):
            first = await stack.post("/api/GetReqControlNumber", as_="gateway", json=cn)
        again = await stack.post("/api/GetReqControlNumber", as_="gateway", json=cn)
        status = (await payment(stack, int(pid))).status
    assert first.status_code == 503, first.text
    assert again.status_code == 200, again.text
    assert status == 3
