"""The GePG adapter of the gateway port: signed XML bills and cancellations (research §5.2, §2.8).

A bill is one `gepgBillSubReq` posted to `/api/bill/sigqrequest` (`Gepg-Com: default.sp.in`); GePG's
signed `gepgBillSubReqAck` says 7101 when it took the bill, else the codes become "code:description"
reasons. A cancellation is `gepgBillCanclReq` with `Gepg-Com: changebill.sp.in`. Every reply is read
by its code (gepg/codes.py), not its TrxSts: GePG knows an intent's bill by BillId = our payment id
(a pool number's by its pool bill id, which its cancel names), so a retried post meets 7226
"Duplicate Bill Information" for the bill its first attempt left there, and a retried cancel 7283
"Bill has been cancelled": both count as done. A reply whose signature does not verify is not
trusted, nor is a 7303 final: the call raises and Temporal retries it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from lxml import etree

from domain.payment_flow import BillAck, BillRequest, CancelOutcome
from gepg import codes, messages
from gepg.signing import Signer, Verifier, signer_from_pkcs12, verifier_from_certificate
from gepg.xml import Envelope, MessageError, verified
from infra.settings import Settings
from store.models import Payment, PaymentDetail

BILL_PATH, CANCEL_PATH = "/api/bill/sigqrequest", "/api/bill/sigcancel_request"


def done(status: str, what: str) -> bool:
    """A reply's status code by the one table (gepg/codes.py): True when done (7101, or a retry
    meeting what its first attempt did: 7226, 7283), False when refused for good; a code to retry
    (7303) raises, so Temporal retries the call."""
    if codes.meaning(status) is codes.Meaning.RETRY:
        raise RuntimeError(f"GePG answered {what} with {codes.reasons(status)}: retried")
    return codes.done(status)


def bill_reply(status: str) -> tuple[bool, str, str]:
    """(taken, code, message) of a `gepgBillSubReqAck`; refused with "code:description" reasons."""
    if done(status, "a bill"):
        return True, codes.SUCCESS, "Successful"
    code, _, message = codes.reasons(status).partition(":")
    return False, code, message


class GepgGateway:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, signer: Signer, gepg: Verifier) -> None:
        self._settings = settings
        self._http = http
        self._signer = signer
        self._gepg = gepg

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient) -> GepgGateway:
        if not (settings.gepg_key_path and settings.gepg_certificate_path):
            raise ValueError("GePG needs PAYFLOW_GEPG_KEY_PATH and PAYFLOW_GEPG_CERTIFICATE_PATH")
        signer = signer_from_pkcs12(settings.gepg_key_path, settings.gepg_key_password)
        return cls(settings, http, signer, verifier_from_certificate(settings.gepg_certificate_path))

    def bill(self, bill: BillRequest, payment: Payment, details: list[PaymentDetail]) -> messages.Bill:
        """The `BillTrxInf` of an intent: payer = its officer, else the first line's insuree."""
        payer = payment.officer_code or (details[0].insurance_number if details else None) or ""
        return messages.Bill(
            bill_id=str(bill.payment_id),
            sub_sp_code=self._settings.gepg_sub_sp_code,
            sp_sys_id=self._settings.gepg_system_id,
            amount=payment.amount_to_be_paid,
            expires_at=bill.expires_at.astimezone(UTC).replace(tzinfo=None),
            generated_at=datetime.now(UTC).replace(tzinfo=None),
            payer_id=payer,
            payer_name=payer,
            payer_phone=payment.phone_number or "",
            items=[
                messages.BillItem(str(d.id), d.expected_amount, self._settings.gepg_gfs_code) for d in details
            ],
        )

    async def post_bill(self, bill: BillRequest, payment: Payment, details: list[PaymentDetail]) -> BillAck:
        inner = messages.bill_submission(self._settings.gepg_sp_code, [self.bill(bill, payment, details)])
        reply = await self.send(BILL_PATH, "default.sp.in", inner, messages.BILL_REQUEST_ACK)
        taken, code, message = bill_reply(messages.read_status_ack(reply))
        return BillAck(accepted=taken, code=code, message=message)

    async def cancel_bill(self, reference: str, payment: Payment | None) -> CancelOutcome:
        """Cancel the bill GePG knows by `reference`: the intent's own bill is BillId = payment id (see
        `bill`), a pool number's bill keeps its pool bill id (`pool-<request>-<n>`)."""
        if payment is None or payment.id is None:
            return CancelOutcome(cancelled=False, code=2, message=f"no payment for intent {reference}")
        bill_id = str(payment.id) if reference == payment.intent_id else reference
        inner = messages.bill_cancel_request(
            self._settings.gepg_sp_code, self._settings.gepg_system_id, bill_id
        )
        reply = await self.send(CANCEL_PATH, "changebill.sp.in", inner, messages.CANCEL_RESPONSE)
        code = messages.read_bill_cancel_response(reply)
        if done(code, "a cancel"):
            return CancelOutcome(cancelled=True)
        return CancelOutcome(cancelled=False, code=3, message=codes.reasons(code))

    async def send(self, path: str, command: str, inner: etree._Element, reply_tag: str) -> Envelope:
        """Post `inner` signed; GePG's signed reply, or raise (retried) on an outage or a bad reply."""
        response = await self._http.post(
            f"{self._settings.gateway_url}{path}",
            content=messages.signed(self._signer, inner),
            headers={
                "Content-Type": "application/xml",
                "Gepg-Code": self._settings.gepg_sp_code,
                "Gepg-Com": command,
            },
            timeout=self._settings.outbound_timeout_s,
        )
        if response.status_code >= 500:
            raise RuntimeError(f"GePG answered {response.status_code}")
        try:
            return verified(response.content, reply_tag, self._gepg)
        except MessageError as err:
            raise RuntimeError(
                f"GePG answered {response.status_code} without a signed {reply_tag}: {err}"
            ) from err
