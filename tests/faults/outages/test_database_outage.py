"""Database unreachable: every route that needs it answers 503 + Retry-After, logged as one line
(issue 9, 14). openIMIS routes answer in openIMIS' shape, the others in problem+json.

Two honest outages: an API whose PostgreSQL URL points at a port nothing listens on (always runs), and
a stack on the real PostgreSQL behind a TCP path that is cut and restored (pooled connections die).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from infra.settings import Settings
from payflow.servers import free_port, serve
from tests.faults.outages.helpers import assert_retryable, assigned_intent, failure_lines
from tests.faults.outages.peers import TcpProxy
from tests.stack import StackFactory

CN = "990000000001"
PAID = {
    "control_number": CN,
    "transaction_identification": "TX-DB-1",
    "received_amount": "21000",
    "received_date": "2026-11-22",
}
GATEWAY_PAYMENT = {
    "control_number": CN,
    "transaction_id": "TX-DB-2",
    "amount": "1",
    "received_date": "2026-11-22",
}
CN_DELIVERED = {"internal_identifier": 1, "control_number": CN, "error_occured": False}
PERIOD = {"date_from": "01112026", "date_to": "02112026"}
INTENT = str(uuid.uuid4())
REQUESTS: list[tuple[str, str, str, Any]] = [
    ("eo", "POST", "/api/GetAssignedControlNumbers", {"requests": [{"internal_identifier": 1}]}),
    ("gateway", "POST", "/api/GetPaymentData", PAID),
    ("gateway", "POST", "/api/GetPaymentData", {"control_number": "1"}),  # a bad body, logged as such
    ("eo", "POST", "/api/MatchPayment", {"internal_identifier": 1, "audit_user_id": 1}),
    ("eo", "POST", "/api/payment/cancel", {"payment_id": 1}),
    ("gateway", "POST", "/api/ProvideReconciliationData", PERIOD),
    ("gateway", "POST", "/api/PostReqControlNumberAck", {"internal_identifier": 1, "error_occured": False}),
    ("gateway", "POST", "/api/GetReqControlNumber", CN_DELIVERED),
    ("eo", "GET", "/v1/payment-intents/1", None),
    ("eo", "POST", f"/v1/payment-intents/{INTENT}/cancel", None),
    ("gateway", "POST", "/v1/gateway/payments", GATEWAY_PAYMENT),
    ("gateway", "POST", "/v1/gateway/control-numbers", {"payment_id": 1, "control_number": CN}),
    ("claims", "GET", f"/v1/settlements/{INTENT}", None),
    ("claims", "GET", "/api/events/v1/dk/external/demo/receive", None),
    ("support", "GET", "/v1/endpoints", None),
    ("support", "GET", "/v1/deliveries", None),
]
SCOPES = {
    "eo": ["payments:write", "payments:read"],
    "gateway": ["gateway"],
    "claims": ["platform-case:read", "events"],
    "support": ["support"],
}
OPENIMIS = ("/api/Get", "/api/Post", "/api/Match", "/api/payment", "/api/Provide")


@asynccontextmanager
async def api_on(
    database_url: str, env: WorkflowEnvironment, signing_key: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The API alone, as its own server, on `database_url`; tokens are issued by its TokenService."""
    port = free_port()
    settings = Settings(
        database_url=database_url,
        task_queue=f"payflow-test-{uuid.uuid4()}",
        api_url=f"http://127.0.0.1:{port}",
        jwt_private_key_path=signing_key,
    )
    app = create_app(settings, env.client)
    async with serve(app, port) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        issue = app.state.tokens.issue
        yield (
            http,
            {who: issue(f"{who}-client", "demo", scopes)["access_token"] for who, scopes in SCOPES.items()},
        )


async def test_every_route_answers_503_while_the_database_is_unreachable(
    dev_env: WorkflowEnvironment, api_log: pytest.LogCaptureFixture, signing_key: Path
) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/payflow"
    async with api_on(nowhere, dev_env, signing_key) as (http, tokens):
        grant = {"grant_type": "client_credentials"}
        r = await http.post("/connect/token", data=grant, auth=("eo", "secret"))
        assert_retryable(r, openimis=False)  # was 500 with a traceback
        for who, method, path, body in REQUESTS:
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            r = await http.request(method, path, headers=headers, json=body)
            assert_retryable(r, openimis=path.startswith(OPENIMIS))
    lines = failure_lines(api_log)  # no traceback, no error line
    assert len(lines) == len(REQUESTS) + 1, lines
    assert all("database_unavailable" in line and "ConnectionRefusedError" in line for line in lines), lines


async def test_a_cut_database_connection_is_503_until_it_is_back(
    dev_env: WorkflowEnvironment, any_db_url: str, api_log: pytest.LogCaptureFixture, signing_key: Path
) -> None:
    if not any_db_url.startswith("postgresql"):
        pytest.skip("a TCP path to cut needs the PostgreSQL server")
    target = httpx.URL(any_db_url.replace("postgresql+asyncpg", "postgresql"))
    proxy = TcpProxy(target.host, target.port or 5432)
    await proxy.open()
    proxied = any_db_url.replace(f"@{target.host}:{target.port}/", f"@127.0.0.1:{proxy.port}/")
    try:
        async with StackFactory(dev_env.client, proxied, signing_key)(cn_mode="internal") as stack:
            await stack.token("gateway")  # the API's pool holds connections through the proxy now
            await assigned_intent(stack)  # and the worker's (which checks none before using it)
            await proxy.cut()
            r = await stack.post("/api/GetPaymentData", as_="gateway", json=PAID)
            assert_retryable(r, openimis=True)
            stack.tokens.clear()
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await stack.token("eo")
            assert_retryable(refused.value.response, openimis=False)
            await proxy.open()
            r = await stack.post("/api/GetPaymentData", as_="gateway", json=PAID)
            assert (r.status_code, r.json()) == (400, {"error_message": "3-Wrong control_number"})
            # the worker's pooled connections died with the cut: its first store step fails on one,
            # the pool is emptied and the step's retry answers
            assert (await assigned_intent(stack)).control_number
    finally:
        await proxy.cut()
    assert len(failure_lines(api_log)) == 2
