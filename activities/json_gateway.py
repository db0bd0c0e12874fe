"""The JSON adapter of the gateway port: payflow's own simulator protocol (simulators/gateway.py)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.exceptions import ApplicationError

from domain.payment_flow import BillAck, BillRequest, CancelOutcome, bill_refused
from domain.webhooks import retry_after_seconds
from infra.settings import Settings
from store.models import Payment, PaymentDetail

ACCEPTED = "7101"


class JsonGateway:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    async def post_bill(self, bill: BillRequest, payment: Payment, details: list[PaymentDetail]) -> BillAck:
        """The intent id is the idempotency key: a retry never makes a second bill. Only a definitive
        refusal (`bill_refused`) is final; any other failure raises, so Temporal retries (after the
        gateway's Retry-After, if it sent one)."""
        body = {
            "bill_id": str(payment.id),
            "reference": bill.intent_id,
            "amount": str(payment.amount_to_be_paid),
            "currency": "TZS",
            "payer_phone": payment.phone_number,
            "payer_id": payment.officer_code or (details[0].insurance_number if details else None),
            "expires_at": bill.expires_at.isoformat(),
            "items": [
                {
                    "ref": str(d.id),
                    "amount": str(d.expected_amount),
                    "product_code": d.product_code,
                    "insurance_number": d.insurance_number,
                }
                for d in details
            ],
            "callback_url": f"{self._settings.api_url}/api/GetReqControlNumber",
            "payment_url": f"{self._settings.api_url}/api/GetPaymentData",
        }
        response = await self._http.post(
            f"{self._settings.gateway_url}/bills",
            json=body,
            headers={"Idempotency-Key": bill.intent_id},
            timeout=self._settings.outbound_timeout_s,
        )
        reply = _json(response)
        if not response.is_success and not bill_refused(response.status_code, reply.get("code")):
            delay = retry_after_seconds(response.headers.get("retry-after"))
            raise ApplicationError(
                f"gateway answered {response.status_code}: {reply.get('message', '')}",
                type="GatewayUnavailable",
                next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
            )
        code, message = str(reply.get("code", response.status_code)), str(reply.get("message", ""))
        return BillAck(accepted=response.is_success and code == ACCEPTED, code=code, message=message)

    async def cancel_bill(self, reference: str, payment: Payment | None) -> CancelOutcome:
        """Cancelled, or no such bill (a post the gateway never took): nothing is payable either way."""
        response = await self._http.post(
            f"{self._settings.gateway_url}/bills/{reference}/cancel",
            headers={"Idempotency-Key": f"{reference}:cancel"},
            timeout=self._settings.outbound_timeout_s,
        )
        if response.status_code >= 500:
            raise RuntimeError(f"gateway answered {response.status_code}")
        reply = _json(response)
        if response.status_code == 404 or (response.is_success and reply.get("status") == "GS"):
            return CancelOutcome(cancelled=True, message=str(reply.get("message", "")))
        return CancelOutcome(
            cancelled=False, code=3, message=f"{reply.get('code', '')}:{reply.get('message', '')}"
        )


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
