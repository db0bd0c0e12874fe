"""SMS activities: render the notice, keep it in the outbox, send it once to the SMS gateway; and the
resend sweep's step, which sends failed notices again once their backoff is over."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta

import httpx
from sqlmodel import col, select
from temporalio import activity

from domain.errors import NotFound
from domain.payment_flow import SmsNotice
from domain.sms import PaidFacts, ResendReport, confirmed_transaction, is_primary, money_fields, render
from infra.settings import Settings
from store import sms_outbox as outbox
from store.db import SessionFactory, transaction
from store.models import Location, Payment, PaymentDetail, PaymentReceipt, Product, SmsMessage, utcnow
from store.payments import PaymentStore

RESEND_BATCH = 50
"""Notices one sweep step sends at most (one after the other, each within OUTBOUND_TIMEOUT_S)."""


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
        # the resend sweep compares the backoff with workflow time: stamp it by Temporal's clock too
        await self._deliver(message, activity.info().current_attempt_scheduled_time, resend=False)
        return "sent"

    @activity.defn
    async def resend_sms(self, now: datetime) -> ResendReport:
        """The resend sweep's step: send the failed notices due at `now` (workflow time); each that
        fails again waits longer."""
        rows = await outbox.due(self._sessions, now, RESEND_BATCH)
        report = ResendReport(due=len(rows))
        for row in rows:
            with suppress(httpx.HTTPError):
                await self._deliver(row, now, resend=True)
                report.sent += 1
        return report

    async def _deliver(self, message: SmsMessage, now: datetime, *, resend: bool) -> None:
        """POST the notice under its key (the provider keeps one message per Idempotency-Key, so a
        retried send is not a second SMS); a failure is kept on the row, then raised."""
        try:
            response = await self._http.post(
                f"{self._settings.sms_url}/messages",
                json={"to": message.recipient, "text": message.text, "reference": message.key},
                headers={"Idempotency-Key": message.key},
                timeout=self._settings.outbound_timeout_s,
            )
            response.raise_for_status()
        except httpx.HTTPError as err:
            backoff = timedelta(seconds=self._settings.sms_resend_backoff_s)
            error = str(err) or type(err).__name__
            await outbox.mark_failed(self._sessions, message.key, error, now, resend=resend, backoff=backoff)
            raise
        await outbox.mark_sent(self._sessions, message.key)

    async def _outbox_row(self, notice: SmsNotice) -> SmsMessage:
        row = await outbox.by_key(self._sessions, notice.key)
        if row is not None:
            return row
        payment = await self._payments.by_id(notice.payment_id)
        if payment is None:
            raise NotFound(f"payment {notice.payment_id} not found")
        details = await self._payments.details(notice.payment_id)
        primary = is_primary(payment.language, self._settings.primary_languages)
        location = await self._location_name(details[0].product_code) if details else ""
        paid = await self._paid(notice)
        row = SmsMessage(
            key=notice.key,
            payment_id=payment.id,
            kind=notice.kind.value,
            recipient=notice.recipient or payment.phone_number,
            language="primary" if primary else "secondary",
            text=_text(notice, payment, details, primary, location, paid),
        )
        async with transaction(self._sessions) as s:
            s.add(row)
        return row

    async def _paid(self, notice: SmsNotice) -> PaidFacts | None:
        """The payment a confirmation is for (None for other notices)."""
        transaction = confirmed_transaction(notice.key)
        if transaction is None:
            return None
        async with self._sessions() as s:
            q = select(PaymentReceipt).where(
                PaymentReceipt.payment_id == notice.payment_id, PaymentReceipt.transaction_id == transaction
            )
            receipt = (await s.exec(q)).first()
        if receipt is None:
            return None
        paid_on = receipt.payment_date or receipt.received_date
        return PaidFacts(receipt.amount, receipt.receipt_no or "", receipt.transaction_id, paid_on)

    async def _location_name(self, product_code: str) -> str:
        async with self._sessions() as s:
            q = select(Location.name).join(Product, col(Product.location_id) == col(Location.id))
            return (await s.exec(q.where(Product.code == product_code))).first() or ""


def _text(
    notice: SmsNotice,
    payment: Payment,
    details: list[PaymentDetail],
    primary: bool,
    location: str,
    paid: PaidFacts | None,
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
    }
    fields |= money_fields(payment.amount_to_be_paid, payment.received_amount, paid) | notice.fields
    others = max(len(details) - 1, 0) if "line_no" not in notice.fields else 0
    return render(notice.kind, primary, others=others, **{k: v for k, v in fields.items() if k != "line_no"})
