"""Payment-gateway activities behind one port: post a bill, cancel it. The control number comes back
later by callback, whatever the protocol.

Each intent carries its protocol (`IntentOptions.gateway_protocol`, fixed at its start); the
activities pick that adapter (`JsonGateway`, `GepgGateway`) and keep what is common here: the
payment's lookup and the status the bill's answer leads to.
"""

from __future__ import annotations

from typing import Protocol

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.gepg_gateway import GepgGateway
from activities.json_gateway import JsonGateway
from domain.errors import NotFound
from domain.intent import GatewayProtocol
from domain.payment_flow import BillAck, BillRequest, CancelOutcome
from domain.status import PaymentStatus
from infra.settings import Settings
from store.models import Payment, PaymentDetail
from store.payments import PaymentStore


class GatewayPort(Protocol):
    async def post_bill(
        self, bill: BillRequest, payment: Payment, details: list[PaymentDetail]
    ) -> BillAck: ...

    async def cancel_bill(self, reference: str, payment: Payment | None) -> CancelOutcome:
        """`reference`: the bill's reference at the gateway (the intent id, or a pool bill's id)."""
        ...


class GatewayActivities:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, payments: PaymentStore) -> None:
        self._payments = payments
        self._adapters: dict[GatewayProtocol, GatewayPort] = {
            GatewayProtocol.JSON: JsonGateway(settings, http)
        }
        if settings.gepg_key_path and settings.gepg_certificate_path:
            self._adapters[GatewayProtocol.GEPG] = GepgGateway.from_settings(settings, http)

    def _adapter(self, protocol: GatewayProtocol) -> GatewayPort:
        adapter = self._adapters.get(protocol)
        if adapter is None:  # a deployment error no retry mends: the intent fails with the reason
            raise ApplicationError(
                f"no {protocol} gateway configured (GEPG_KEY_PATH, GEPG_CERTIFICATE_PATH)", non_retryable=True
            )
        return adapter

    @activity.defn
    async def post_bill(self, bill: BillRequest) -> BillAck:
        """Post the bill; a refusal is final (status -2), an outage raises so Temporal retries."""
        payment = await self._payments.by_id(bill.payment_id)
        if payment is None:
            raise NotFound(f"payment {bill.payment_id} not found")
        details = await self._payments.details(bill.payment_id)
        ack = await self._adapter(bill.protocol).post_bill(bill, payment, details)
        await self._payments.set_status(
            bill.payment_id,
            PaymentStatus.POSTED if ack.accepted else PaymentStatus.FAILED_REQUEST,
            reason=None if ack.accepted else f"{ack.code}:{ack.message}",
            only_from=[PaymentStatus.CREATED],
        )
        return ack

    @activity.defn
    async def cancel_bill(
        self, intent_id: str, protocol: GatewayProtocol = GatewayProtocol.JSON
    ) -> CancelOutcome:
        """Cancel the bill at the gateway (GePG bill cancellation); a paid bill cannot be cancelled.
        A pool-mode intent's bill is the pool bill whose number it holds."""
        adapter = self._adapter(protocol)
        payment = await self._payments.by_intent(intent_id)
        pooled = await self._payments.pooled_bill_id(payment.id) if payment and payment.id else None
        return await adapter.cancel_bill(pooled or intent_id, payment)
