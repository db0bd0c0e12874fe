"""Issue 23 item 10: the SMS texts of flow A state this receipt's amount and the balance that is left."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from activities.sms import SmsActivities
from domain.payment_flow import SmsNotice
from domain.sms import SmsKind
from store.payments import PaymentStore
from tests.store.test_matching_rules import flow, line


async def _text(f, valued, kind: SmsKind, key: str) -> str:  # type: ignore[no-untyped-def]
    sms = SmsActivities(f.settings, None, f.sessions, PaymentStore(f.sessions))  # type: ignore[arg-type]
    fields = {"expiry_date": "10-12-2026"}
    row = await sms._outbox_row(SmsNotice(payment_id=valued.payment_id, kind=kind, key=key, fields=fields))
    return row.text


async def test_confirmations_state_their_own_receipt_and_reminders_what_is_left(any_db_url: str) -> None:
    """Paying 10,000 (T1) then 11,000 (T2) of 21,000: each confirmation states its own payment, even
    the one for T1 rendered after T2 came; the reminder after T1 asks for 11,000, not 21,000."""
    f = flow(any_db_url)
    valued = await f.intent(line(), on=date(2026, 11, 10), partial=True)
    intent = f"{valued.payment_id}"
    await f.pay(valued, 10000, date(2026, 11, 11), partial=True)
    reminder = await _text(f, valued, SmsKind.REMINDER, f"{intent}:{SmsKind.REMINDER}")
    assert "Amount:11,000.00" in reminder
    tx1, tx2 = f"TX-{valued.payment_id}-2", f"TX-{valued.payment_id}-3"
    result = await f.pay(valued, 11000, date(2026, 11, 12), partial=True)
    assert result.matched and result.lines[0].activated
    kind = SmsKind.PAYMENT_CONFIRMATION
    first = await _text(f, valued, kind, f"{intent}:{kind}:{tx1}")
    second = await _text(f, valued, kind, f"{intent}:{kind}:{tx2}")
    assert "Amount: 10,000.00 TZS" in first and f"Through:{tx1}" in first and "Date: 11-11-2026" in first
    assert "Amount: 11,000.00 TZS" in second and f"Through:{tx2}" in second and "Date: 12-11-2026" in second
    assert (await f.payment(valued.payment_id)).received_amount == Decimal("21000")
