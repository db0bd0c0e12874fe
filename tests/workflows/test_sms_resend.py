"""An SMS that failed is sent later (issue 19 item 7): the resend sweep takes failed outbox rows with
backoff, once the provider is back, and sends each notice once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from domain.intent import CNMode, PaymentReport
from domain.sms import SmsKind
from domain.status import PaymentStatus as S
from payflow.check import check
from payflow.temporal_setup import SMS_RESEND_ID, ensure_sms_resend
from store.db import make_engine, session_factory, transaction
from store.models import SmsMessage, utcnow
from tests.workflows.harness import harness, record
from workflows.payment_intent import PaymentIntentWorkflow


async def test_notices_failed_in_a_5_minute_outage_arrive_once_after_it(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with harness(time_env.client, db_url) as h:
        await ensure_sms_resend(time_env.client, h.settings)
        h.sms.fail_next = 10**9  # the SMS provider is down
        handle = await h.start(CNMode.INTERNAL, officer_code=None)
        async with asyncio.timeout(30):
            while (state := await handle.query(PaymentIntentWorkflow.status)).status is not S.ASSIGNED:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        paid = PaymentReport(
            control_number=state.control_number,
            transaction_id="TX-OUTAGE",
            amount=state.amount_to_be_paid,
            received_date=date(2026, 11, 22),
        )
        await handle.execute_update(PaymentIntentWorkflow.record_payment, paid)
        await time_env.sleep(timedelta(minutes=5))
        h.sms.fail_next = 0  # back
        final = await handle.result()
        await time_env.sleep(timedelta(minutes=30))

        assert final.status is S.MATCHED
        async with session_factory(make_engine(db_url))() as s:
            rows = (await s.exec(select(SmsMessage).where(SmsMessage.payment_id == final.payment_id))).all()
        assert [r.kind for r in rows] == [
            SmsKind.CN_ASSIGNED,
            SmsKind.PAYMENT_CONFIRMATION,
            SmsKind.PAID_AND_ACTIVATED,
        ]
        assert all(r.status == "sent" for r in rows), [(r.kind, r.status, r.error) for r in rows]
        assert all(r.resends >= 1 for r in rows)  # each failed in the outage and was sent by the sweep
        sweep = time_env.client.get_workflow_handle(SMS_RESEND_ID)
        await record(sweep, "../sms_resend/outage_then_resent")  # a run in progress replays too
        assert h.sms.accepted == {r.key: 1 for r in rows}  # each once, however often it was tried


async def test_check_names_a_notice_unsent_for_more_than_a_day(db_url: str) -> None:
    sessions = session_factory(make_engine(db_url))
    now = utcnow()
    async with transaction(sessions) as s:
        for key, age in (("late", timedelta(days=1, minutes=1)), ("recent", timedelta(hours=23))):
            s.add(
                SmsMessage(
                    key=key,
                    kind=SmsKind.CN_ASSIGNED,
                    recipient="0681333045",
                    language="primary",
                    text="Control No:…",
                    status="failed",
                    attempts=9,
                    error="503",
                    created_at=now - age,
                    next_attempt_at=now + timedelta(hours=1),
                )
            )
    report = await check(sessions, None)
    assert [(f.check, f.subject) for f in report.violations] == [("sms", "SMS late")]
    assert (
        "failed since" in report.violations[0].message and "after 9 attempts" in report.violations[0].message
    )
