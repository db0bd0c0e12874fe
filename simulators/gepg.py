"""GePG simulator: the gateway simulator's behaviour (simulators/gateway.py) over GePG's signed XML.

It signs with its own key and verifies payflow's messages with payflow's certificate: bills
(`/api/bill/sigqrequest`, one or many `BillTrxInf`), cancellations (`/api/bill/sigcancel_request`),
control-number callbacks (`gepgBillSubResp`), payment notifications (`gepgPmtSpInfo`) and
reconciliation (`gepgSpReconcReq` answered by a `gepgSpReconcResp` callback). The switches
are the JSON simulator's (`/_sim/behaviour`, `/_sim/release`, `POST /payments`, `GET /statements`): a
refusal answers 7242, a duplicate control number or a refused cancel as GePG codes them. A message
whose signature does not verify answers 7303 and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request, Response

from gepg import codes, messages
from gepg.signing import Signer, Verifier
from gepg.xml import Envelope, MessageError, SignatureError, verified
from simulators import gateway
from simulators.gateway import Bill, Operations, Outbound

SP_CODE = "SP001"


class GepgWire:
    """What GePG posts to payflow, signed with the simulator's key."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def control_number(self, bill: Bill, cn: str | None) -> Outbound:
        result = messages.ControlNumberResult(
            bill.bill_id,
            cn or "",
            codes.SETTLED if cn else codes.FAILED,
            codes.SUCCESS if cn else codes.FAILURE,
        )
        content = messages.signed(self._signer, messages.bill_submission_response([result]))
        return Outbound({"bill_id": bill.bill_id, "control_number": cn}, content)

    def payment(self, record: dict[str, Any], bill: dict[str, Any] | None) -> Outbound:
        paid = Decimal(record["amount"])
        info = messages.PaymentInfo(
            trx_id=record["transaction_id"],
            sp_code=SP_CODE,
            pay_ref_id=record["receipt"],
            bill_id=(bill or {}).get("bill_id", ""),
            control_number=record["control_number"],
            bill_amount=Decimal((bill or {}).get("amount", paid)),
            paid_amount=paid,
            paid_at=datetime.fromisoformat(record["paid_on"]),
            payer_phone=record["payer_phone"] or "",
            payer_name="",
            psp_receipt=record["receipt"],
            psp_name=record["psp"],
        )
        content = messages.signed(self._signer, messages.payment_info([info]))
        return Outbound(gateway.payment_data(record), content)


def create_app(api_url: str, signer: Signer, payflow: Verifier) -> FastAPI:
    """GePG calling payflow's API at `api_url` back without a token, as GePG does: its signature is
    what payflow checks."""
    app = gateway.create_app(None, GepgWire(signer), title="GePG")  # type: ignore[arg-type]
    state = app.state.sim
    state.api_url = api_url
    ops: Operations = app.state.operations

    def reply(tag: str, code: str, field_name: str = "TrxStsCode") -> Response:
        inner = messages.status_ack(tag, code, field_name)
        return Response(messages.signed(signer, inner), media_type="application/xml")

    async def received(
        request: Request, tag: str, ack: str, field_name: str = "TrxStsCode"
    ) -> Envelope | Response:
        """payflow's message verified, or the ack refusing it (7303 unsigned, 7242 not one)."""
        try:
            return verified(await request.body(), tag, payflow)
        except SignatureError:
            return reply(ack, codes.INVALID_SIGNATURE, field_name)
        except MessageError:
            return reply(ack, codes.INVALID_REQUEST, field_name)

    @app.post("/api/bill/sigqrequest")
    async def bills(request: Request) -> Response:
        envelope = await received(request, messages.BILL_REQUEST, messages.BILL_REQUEST_ACK)
        if isinstance(envelope, Response):
            return envelope
        try:
            _, submitted = messages.read_bill_submission(envelope)
        except MessageError:
            return reply(messages.BILL_REQUEST_ACK, codes.INVALID_REQUEST)
        answers = [
            ops.submit(
                Bill(
                    bill_id=b.bill_id,
                    reference=b.bill_id,
                    amount=str(b.amount),
                    payer_phone=b.payer_phone,
                    payer_id=b.payer_id,
                    expires_at=b.expires_at.isoformat(),
                    callback_url=f"{state.api_url}/api/GetReqControlNumber",
                    payment_url=f"{state.api_url}/api/GetPaymentData",
                ),
                b.bill_id,
            )
            for b in submitted
        ]
        if any(status >= 500 for status, _ in answers):
            return Response(status_code=503)
        refused = [r["code"] for status, r in answers if status >= 400]
        return reply(messages.BILL_REQUEST_ACK, refused[0] if refused else codes.SUCCESS)

    @app.post("/api/bill/sigcancel_request")
    async def cancel(request: Request) -> Response:
        envelope = await received(request, messages.CANCEL_REQUEST, messages.CANCEL_RESPONSE)
        if isinstance(envelope, Response):
            return envelope
        try:
            bill_id = messages.read_bill_cancel_request(envelope)
        except MessageError:
            return reply(messages.CANCEL_RESPONSE, codes.INVALID_REQUEST)
        if (state.bills.get(bill_id) or {}).get("cancelled"):  # a retried cancel, as GePG answers it
            inner = messages.bill_cancel_response(bill_id, codes.FAILED, codes.BILL_CANCELLED)
            return Response(messages.signed(signer, inner), media_type="application/xml")
        status, answer = ops.cancel(bill_id)
        settled = codes.SETTLED if status == 200 else codes.FAILED
        inner = messages.bill_cancel_response(bill_id, settled, answer["code"])
        return Response(messages.signed(signer, inner), media_type="application/xml")

    @app.post("/api/reconciliations/sig_sp_qrequest")
    async def reconciliation(request: Request) -> Response:
        """`gepgSpReconcReq`: acked at once, the day's payments (notified or not) posted afterwards to
        payflow's `/api/GetReconciliationData` as `gepgSpReconcResp`; `ack: refuse` answers 7242."""
        envelope = await received(
            request, messages.RECONCILIATION_REQUEST, messages.RECONCILIATION_REQUEST_ACK, "ReconcStsCode"
        )
        if isinstance(envelope, Response):
            return envelope
        try:
            request_id, day = messages.read_reconciliation_request(envelope)
        except MessageError:
            return reply(messages.RECONCILIATION_REQUEST_ACK, codes.INVALID_REQUEST, "ReconcStsCode")
        if state.behaviour.ack == "refuse":
            return reply(messages.RECONCILIATION_REQUEST_ACK, codes.INVALID_REQUEST, "ReconcStsCode")
        paid = [p for p in state.payments if p["paid_on"] == day.isoformat()]
        answer = messages.Reconciliation(
            request_id, SP_CODE, "payflow", codes.SUCCESS, [_reconciled(p, state.bills) for p in paid]
        )
        content = messages.signed(signer, messages.reconciliation(answer))
        summary = {"request_id": request_id, "day": day.isoformat(), "transactions": len(paid)}
        ops.send(f"{state.api_url}/api/GetReconciliationData", Outbound(summary, content), state.statements)
        return reply(messages.RECONCILIATION_REQUEST_ACK, codes.SUCCESS, "ReconcStsCode")

    return app


def _reconciled(payment: dict[str, Any], bills: dict[str, dict[str, Any]]) -> messages.ReconciledPayment:
    bill = next((b for b in bills.values() if b.get("control_number") == payment["control_number"]), {})
    return messages.ReconciledPayment(
        bill_id=bill.get("bill_id", ""),
        control_number=payment["control_number"],
        psp_trx_id=payment["transaction_id"],
        paid_amount=Decimal(payment["amount"]),
        pay_ref_id=payment["receipt"],
        paid_at=datetime.fromisoformat(payment["paid_on"]),
        psp_name=payment["psp"],
        payer_phone=payment["payer_phone"] or "",
    )
