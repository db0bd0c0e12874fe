"""SMS activity: render the notice, keep it in the outbox, send it once to the SMS gateway."""

from __future__ import annotations

import httpx
from sqlmodel import col, select
from temporalio import activity

from domain.errors import NotFound
from domain.payment_flow import SmsNotice
from domain.sms import is_primary, render
from payflow.settings import Settings
from store.db import SessionFactory, transaction
from store.models import Location, Payment, PaymentDetail, Product, SmsMessage, utcnow
from store.payments import PaymentStore


class SmsActivities:
    def __init__(
        self, settings: Settings, http: httpx.AsyncClient, sessions: SessionFactory, payments: PaymentStore
    ) -> None:
        self._settings = settings
        self._http = http
        self._sessions = sessions
        self._payments = payments

    @activity.defn
    async def send_sms(self, notice: SmsNotice) -> str:
        """Send the notice keyed `notice.key` unless the outbox says it was sent; returns its status."""
        message = await self._outbox_row(notice)
        if message.status == "sent":
            return message.status
        try:
            response = await self._http.post(
                f"{self._settings.sms_url}/messages",
                json={"to": message.recipient, "text": message.text, "reference": message.key},
                headers={"Idempotency-Key": message.key},
                timeout=self._settings.outbound_timeout_s,
            )
            response.raise_for_status()
        except httpx.HTTPError as err:
            await self._mark(message.key, "failed", error=str(err) or type(err).__name__)
            raise
        await self._mark(message.key, "sent")
        return "sent"

    async def _outbox_row(self, notice: SmsNotice) -> SmsMessage:
        async with self._sessions() as s:
            row = (await s.exec(select(SmsMessage).where(SmsMessage.key == notice.key))).first()
        if row is not None:
            return row
        payment = await self._payments.by_id(notice.payment_id)
        if payment is None:
            raise NotFound(f"payment {notice.payment_id} not found")
        details = await self._payments.details(notice.payment_id)
        primary = is_primary(payment.language, self._settings.primary_languages)
        location = await self._location_name(details[0].product_code) if details else ""
        row = SmsMessage(
            key=notice.key,
            payment_id=payment.id,
            kind=notice.kind.value,
            recipient=notice.recipient or payment.phone_number,
            language="primary" if primary else "secondary",
            text=_text(notice, payment, details, primary, location),
        )
        async with transaction(self._sessions) as s:
            s.add(row)
        return row

    async def _location_name(self, product_code: str) -> str:
        async with self._sessions() as s:
            q = select(Location.name).join(Product, col(Product.location_id) == col(Location.id))
            return (await s.exec(q.where(Product.code == product_code))).first() or ""

    async def _mark(self, key: str, status: str, *, error: str | None = None) -> None:
        async with transaction(self._sessions) as s:
            row = (await s.exec(select(SmsMessage).where(SmsMessage.key == key))).one()
            row.status = status
            row.attempts += 1
            row.error = error
            if status == "sent":
                row.sent_at = utcnow()
            s.add(row)


def _text(
    notice: SmsNotice, payment: Payment, details: list[PaymentDetail], primary: bool, location: str
) -> str:
    first = details[0] if details else None
    paid_on = payment.payment_date or payment.received_date
    fields = {
        "control_number": payment.control_number or "",
        "request_date": f"{payment.request_date:%d-%m-%Y}",
        "chfid": (first.insurance_number if first else "") or "",
        "product_code": first.product_code if first else "",
        "amount": f"{payment.amount_to_be_paid:,.2f}",
        "paid_amount": f"{payment.received_amount:,.2f}",
        "receipt": payment.receipt_no or "",
        "transaction": payment.transaction_no or "",
        "payment_date": f"{paid_on:%d-%m-%Y}" if paid_on else "",
        "location": location,
        "today": f"{utcnow():%d-%m-%Y}",
    } | notice.fields
    others = max(len(details) - 1, 0) if "line_no" not in notice.fields else 0
    return render(notice.kind, primary, others=others, **{k: v for k, v in fields.items() if k != "line_no"})
