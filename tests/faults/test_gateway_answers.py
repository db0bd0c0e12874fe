"""Issue 19, item 9: only a definitive refusal of a bill is final; the rest are outages, retried.

A gateway on 127.0.0.1 answers `post_bill` with each status; the JSON adapter must give a refusal
(the intent fails with -2) only for 400/404/409/422 carrying a gateway code, and raise (Temporal
retries) for 408, 429, an expired credential (401/403), 5xx, or a 4xx without a refusal code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from temporalio.exceptions import ApplicationError

from activities.json_gateway import JsonGateway
from domain.payment_flow import BillRequest
from infra.settings import Settings
from payflow.servers import free_port, serve
from store.models import Payment

ANSWER: dict[str, Any] = {}


def _gateway() -> FastAPI:
    app = FastAPI()

    @app.post("/bills")
    async def bills(response: Response) -> Any:
        response.status_code = ANSWER["status"]
        for name, value in ANSWER.get("headers", {}).items():
            response.headers[name] = value
        return ANSWER.get("body", {})

    return app


@pytest.fixture
async def gateway() -> AsyncIterator[JsonGateway]:
    port = free_port()
    async with serve(_gateway(), port) as url, httpx.AsyncClient() as http:
        yield JsonGateway(Settings(gateway_url=url), http)


async def _post(gateway: JsonGateway, status: int, body: dict[str, Any], **headers: str) -> Any:
    ANSWER.update(status=status, body=body, headers=headers)
    bill = BillRequest(intent_id="i-1", payment_id=1, expires_at=datetime(2026, 12, 31, tzinfo=UTC))
    return await gateway.post_bill(bill, Payment(id=1, intent_id="i-1", amount_to_be_paid=100), [])


REFUSAL = {"code": "7242", "message": "Invalid Request Data"}


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_a_refusal_with_a_gateway_code_is_final(gateway: JsonGateway, status: int) -> None:
    ack = await _post(gateway, status, REFUSAL)
    assert (ack.accepted, ack.code) == (False, "7242")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (408, {}),
        (429, {"code": "7201", "message": "Too many requests"}),
        (401, {"code": "7201", "message": "Token expired"}),
        (403, {"message": "Forbidden"}),
        (400, {}),  # no refusal code: a proxy's answer, not the gateway's
        (502, {}),
        (503, {"code": "7201", "message": "Service unavailable"}),
    ],
)
async def test_other_answers_are_outages_retried(
    gateway: JsonGateway, status: int, body: dict[str, Any]
) -> None:
    with pytest.raises(Exception) as raised:
        await _post(gateway, status, body)
    assert not (isinstance(raised.value, ApplicationError) and raised.value.non_retryable)


async def test_a_429_is_retried_after_its_retry_after(gateway: JsonGateway) -> None:
    with pytest.raises(ApplicationError) as raised:
        await _post(gateway, 429, {}, **{"Retry-After": "7"})
    assert raised.value.next_retry_delay is not None and raised.value.next_retry_delay.total_seconds() == 7
    assert not raised.value.non_retryable
