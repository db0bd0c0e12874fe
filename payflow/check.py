"""The invariant checker behind `payflow check`: store and workflows agree, every write happened once.

Store-level checks live in `store/invariants.py`; this module adds the one that needs Temporal (each
payment's status against its workflow's `status` query) and gathers everything into a `Report`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from domain.payment_flow import IntentState, payment_workflow_id
from domain.status import PaymentStatus
from store.db import SessionFactory
from store.invariants import (
    Finding,
    delivery_findings,
    duplicate_findings,
    payment_pages,
    payments_by_id,
    pool_findings,
    premium_findings,
    reconciliation_findings,
    settlement_findings,
    sms_findings,
)
from store.models import Payment
from workflows.payment_intent import PaymentIntentWorkflow

TIMED_OUT = (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
"""How an RPC that ran past its `rpc_timeout` fails (the core SDK reports "Timeout expired")."""
CONCURRENCY = 16
QUERY_TIMEOUT_S = 5.0
SETTLE_S = 0.5
"""A status that disagrees is read again this much later: a workflow and its store write are
never in the same instant, so a live system shows short disagreements that are not faults."""


@dataclass
class Report:
    violations: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        checked = ", ".join(f"{n} {what}" for what, n in self.counts.items())
        head = _count(len(self.violations), "violation") if self.violations else "no violations"
        warned = f", {_count(len(self.warnings), 'warning')}" if self.warnings else ""
        return f"{head}{warned} (checked {checked})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "violations": [asdict(f) | {"text": str(f)} for f in self.violations],
            "warnings": [asdict(f) | {"text": str(f)} for f in self.warnings],
            "counts": self.counts,
        }


async def check(
    sessions: SessionFactory,
    client: Client | None,
    tenant: str | None = None,
    *,
    concurrency: int = CONCURRENCY,
    query_timeout_s: float = QUERY_TIMEOUT_S,
    settle_s: float = SETTLE_S,
    today: date | None = None,
) -> Report:
    """Check the whole store (or one tenant's part); without a client the workflow checks are skipped
    (and a warning says so). `today` dates the reconciliation days (this machine's day unless given)."""
    report = Report()
    premiums, lines = await premium_findings(sessions, tenant)
    settlements, revisions = await settlement_findings(sessions, tenant)
    deliveries, dispatched, pending = await delivery_findings(sessions, tenant)
    report.violations += premiums + settlements + deliveries + await duplicate_findings(sessions, tenant)
    report.violations += await pool_findings(sessions, tenant) + await sms_findings(sessions, tenant)
    report.violations += await reconciliation_findings(sessions, tenant, today)
    statuses = _StatusCheck(client, concurrency, query_timeout_s) if client is not None else None
    payments = 0
    async for page in payment_pages(sessions, tenant):
        payments += len(page)
        if statuses is not None:
            await statuses.first_pass(page)
    if statuses is None:
        report.warnings.append(
            Finding("status", "payments", "workflow statuses not checked (no Temporal client)")
        )
    else:
        if statuses.disagreeing:
            await asyncio.sleep(settle_s)
            await statuses.second_pass(sessions)
        report.violations += sorted(statuses.violations, key=_payment_id)
        report.warnings += sorted(statuses.warnings, key=_payment_id)
    report.counts = {
        "payments": payments,
        "matched lines": lines,
        "revisions": revisions,
        "dispatched events": dispatched,
        "pending events": pending,
    }
    return report


class _StatusCheck:
    """Payment status against the workflow's `status` query, a bounded number of queries at a time."""

    def __init__(self, client: Client, concurrency: int, timeout_s: float) -> None:
        self._client = client
        self._gate = asyncio.Semaphore(concurrency)
        self._timeout_s = timeout_s
        self.disagreeing: list[int] = []
        self.violations: list[Finding] = []
        self.warnings: list[Finding] = []

    async def first_pass(self, payments: Sequence[Payment]) -> None:
        results = await asyncio.gather(*(self._compare(p) for p in payments))
        self.disagreeing += [p.id for p, wrong in zip(payments, results, strict=True) if wrong and p.id]

    async def second_pass(self, sessions: SessionFactory) -> None:
        fresh = await payments_by_id(sessions, self.disagreeing)
        await asyncio.gather(*(self._compare(p, final=True) for p in fresh.values()))

    async def _compare(self, payment: Payment, *, final: bool = False) -> bool:
        """True when store and workflow disagree (a finding is recorded only when `final`)."""
        subject = f"payment {payment.id} (intent {payment.intent_id})"
        ids = {"payment": payment.id, "intent": payment.intent_id}
        try:
            state = await self._query(payment)
        except _NoAnswer as err:
            if err.kind == "gone":  # past retention or never started: nothing to compare with
                self.warnings.append(Finding("status", subject, str(err), ids))
                return False
            if final:  # a workflow that fails its query is broken; one that is slow may just be busy
                (self.violations if err.kind == "failed" else self.warnings).append(
                    Finding("status", subject, str(err), ids)
                )
            return True
        wrong = []
        if state.status is None or int(state.status) != payment.status:
            wrong.append(f"store status {_name(payment.status)}, workflow status {_name(state.status)}")
        cn, held = payment.control_number, state.control_number
        if cn and held and cn != held:
            wrong.append(f"control number {cn} in the store, {held} in its workflow")
        if wrong and final:
            self.violations.append(Finding("status", subject, "; ".join(wrong), ids))
        return bool(wrong)

    async def _query(self, payment: Payment) -> IntentState:
        handle = self._client.get_workflow_handle(payment_workflow_id(payment.intent_id))
        timeout = timedelta(seconds=self._timeout_s)
        async with self._gate:
            try:
                return await asyncio.wait_for(
                    handle.query(PaymentIntentWorkflow.status, rpc_timeout=timeout), self._timeout_s + 1
                )
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    raise _NoAnswer("gone", f"workflow {handle.id} not found, status not compared") from None
                if err.status not in TIMED_OUT:
                    raise _NoAnswer("unanswered", f"status query unanswered: {err.message}") from None
            except WorkflowQueryFailedError as err:
                raise _NoAnswer("failed", f"status query failed: {err}") from None
            except TimeoutError:
                pass
        raise _NoAnswer("unanswered", f"status query unanswered within {self._timeout_s:g} s")


class _NoAnswer(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _payment_id(finding: Finding) -> int:
    return int(finding.ids.get("payment") or 0)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _name(status: int | None) -> str:
    if status is None:
        return "none yet"
    try:
        return f"{status} {PaymentStatus(status).name}"
    except ValueError:
        return str(status)
