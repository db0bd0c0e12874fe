"""Reconciliation over GePG on a real stack: a payment whose notification GePG never sent is found
by a signed `gepgSpReconcReq` / `gepgSpReconcResp` round trip and fed to its flow (status 5)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
from sqlmodel import select

from domain.reconciliation import ReconciliationInput, StatementLine
from gepg import codes, messages
from gepg.signing import signer_from_pkcs12
from gepg.xml import parse
from store import gepg_statements
from store.db import make_engine, session_factory
from store.models import GepgStatement, Payment
from tests.gepg.test_flow_a import INTENT, eventually
from tests.stack import GEPG_PASSWORD, Stack, StackFactory
from workflows.reconciliation import ReconciliationWorkflow


async def _payment(s: Stack, payment_id: int) -> Payment:
    async with s.sessions() as session:
        p = await session.get(Payment, payment_id)
        assert p is not None
        await session.refresh(p)
        return p


async def test_reconciliation_over_gepg_feeds_a_lost_payment(make_stack: StackFactory) -> None:
    async with make_stack(gepg=True) as s:
        r = await s.post("/api/GetControlNumber", json=INTENT)
        payment_id = int(r.json()["internal_identifier"])

        async def assigned() -> str | None:
            p = await _payment(s, payment_id)
            return p.control_number if p.status == 3 else None

        cn = await eventually(assigned)
        async with httpx.AsyncClient() as http:  # paid at the PSP; GePG drops the notification
            paid = await http.post(
                f"{s.settings.gateway_url}/payments", json={"control_number": cn, "notify": False}
            )
        assert paid.status_code == 201, paid.text
        today = datetime.now(UTC).date()
        report = await s.temporal.execute_workflow(
            ReconciliationWorkflow.run,
            ReconciliationInput(day=today),
            id=f"recon-gepg-{uuid.uuid4()}",
            task_queue=s.settings.task_queue,
        )
        assert (report.checked, report.recorded, report.mismatches, report.unknown) == (1, 1, 0, 0)
        payment = await _payment(s, payment_id)
        assert (payment.status, payment.transaction_no) == (5, paid.json()["transaction_id"])
        assert s.gateway.notifications == []
        [delivered] = s.gateway.statements
        ack = parse(delivered["answer"].encode(), messages.RECONCILIATION_ACK)
        assert messages.read_status_ack(ack, "ReconcStsCode") == codes.SUCCESS

        # a tampered answer is refused with 7303 and kept nowhere; JSON has no route here
        signer = signer_from_pkcs12(s.settings.gepg_certificate_path.with_suffix(".p12"), GEPG_PASSWORD)
        forged = messages.Reconciliation("42", "SP001", "payflow", codes.SUCCESS, [])
        raw = messages.signed(signer, messages.reconciliation(forged)).replace(b">42<", b">43<", 1)
        xml = {"Content-Type": "application/xml"}
        r = await s.http.post("/api/GetReconciliationData", content=raw, headers=xml)
        assert r.status_code == 200
        assert (
            messages.read_status_ack(parse(r.content, messages.RECONCILIATION_ACK), "ReconcStsCode") == "7303"
        )
        async with s.sessions() as session:
            kept = (await session.exec(select(GepgStatement.request_id))).all()
        assert "43" not in kept and "42" not in kept and len(kept) == 1
        r = await s.http.post("/api/GetReconciliationData", json={"statement": []})
        assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"


async def test_a_failure_answer_is_replaced_by_a_later_statement(db_url: str) -> None:
    """GePG may answer a request with a failure, then (asked again under the same id) with the
    statement: the statement wins, and a late failure never replaces it."""
    sessions = session_factory(make_engine(db_url))
    line = StatementLine(
        control_number="991234567890",
        transaction_id="TX-1",
        amount=Decimal("5000"),
        paid_on=date(2026, 12, 6),
    )
    await gepg_statements.keep(sessions, "77", "demo", codes.FAILURE, [])
    assert await gepg_statements.answer(sessions, "77") == (codes.FAILURE, [])
    await gepg_statements.keep(sessions, "77", "demo", codes.SUCCESS, [line])
    assert await gepg_statements.answer(sessions, "77") == (codes.SUCCESS, [line])
    await gepg_statements.keep(sessions, "77", "demo", codes.FAILURE, [])
    assert await gepg_statements.answer(sessions, "77") == (codes.SUCCESS, [line])
