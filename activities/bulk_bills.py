"""The gateway port's bulk-bill call, which fills the control-number pool, and its JSON adapter.

A gateway adapter that bills in bulk implements `BulkBiller`: the JSON simulator protocol answers
with the numbers at once (`JsonBulkBiller`); GePG acknowledges a bulk `gepgBillSubReq` with 7101 and
delivers the numbers later by callback, so its adapter answers accepted without bills and its
callback stores them with `store.pool.PoolStore.fill`.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from domain.pool import BulkOrder, BulkReply, PooledBill
from infra.settings import Settings

ACCEPTED = "7101"


class BulkBiller(Protocol):
    async def request_bulk(self, order: BulkOrder) -> BulkReply:
        """Bill `order.count` pool numbers; raise on an outage (retried), answer a refusal."""
        ...


class JsonBulkBiller:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    async def request_bulk(self, order: BulkOrder) -> BulkReply:
        """POST /bills/bulk with the request key as idempotency key: a retry never bills twice."""
        response = await self._http.post(
            f"{self._settings.gateway_url}/bills/bulk",
            json=order.model_dump(mode="json"),
            headers={"Idempotency-Key": order.request_key},
            timeout=self._settings.outbound_timeout_s,
        )
        if response.status_code >= 500:
            raise RuntimeError(f"gateway answered {response.status_code}")
        try:
            reply = response.json()
        except ValueError:
            reply = {}
        code, message = str(reply.get("code", response.status_code)), str(reply.get("message", ""))
        if not (response.is_success and code == ACCEPTED):
            return BulkReply(accepted=False, code=code, message=message)
        bills = [PooledBill.model_validate(b) for b in reply.get("bills", [])]
        return BulkReply(accepted=True, code=code, message=message, bills=bills)
