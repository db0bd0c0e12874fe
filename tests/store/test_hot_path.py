"""The worker's store work for an internal GetControlNumber (issue 21 deliverable 2), on both engines:
four database sessions for a new intent (was eight), one transaction per write, and every step still
answers the same when it runs again."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from temporalio.testing import ActivityEnvironment

from domain.intent import PaymentIntentInput
from infra.settings import Settings
from store.db import make_engine, session_factory
from tests.store.test_matching_rules import Flow, line


async def test_an_internal_control_number_takes_four_sessions(any_db_url: str) -> None:
    """by_intent, the registry's facts, the payment's insert, the number's update: nothing read twice."""
    engine = make_engine(any_db_url)
    at = datetime(2026, 11, 10, 9, tzinfo=UTC)
    acts = Flow(session_factory(engine), Settings(database_url=any_db_url)).activities(at)
    request = PaymentIntentInput(
        intent_id="00000000-0000-4000-8000-000000000021",
        tenant="demo",
        phone_number="0681333045",
        request_date=at.date(),
        lines=[line()],
    )
    sessions, statements = 0, Counter[str]()

    def checkout(*_: Any) -> None:
        nonlocal sessions
        sessions += 1

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements[sql.split(None, 1)[0].upper()] += 1

    event.listen(engine.sync_engine, "checkout", checkout)
    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    valued = await ActivityEnvironment().run(acts.value_intent, request)
    cn = await ActivityEnvironment().run(acts.assign_internal_control_number, valued.payment_id)
    event.remove(engine.sync_engine, "checkout", checkout)
    event.remove(engine.sync_engine, "before_cursor_execute", statement)

    assert valued.error_code is None and valued.expected_amount > 0 and len(cn) >= 10
    assert sessions == 4, statements
    assert (statements["INSERT"], statements["UPDATE"]) == (4, 1), statements  # payment, line, 2 events

    # each step again (a retried activity): the same payment and the same number
    assert await ActivityEnvironment().run(acts.value_intent, request) == valued
    assert await ActivityEnvironment().run(acts.assign_internal_control_number, valued.payment_id) == cn
