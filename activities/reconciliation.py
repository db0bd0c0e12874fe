"""Reconciliation activities: the days a run reconciles, fetch the gateway's statement, compare it,
feed missing payments, and record how each day ended."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from activities import gepg_reconciliation
from activities.gepg_gateway import GepgGateway
from domain.errors import Refused
from domain.intent import GatewayProtocol, PaymentReport
from domain.payment_flow import payment_workflow_id, record_payment_update_id
from domain.reconciliation import (
    Comparison,
    MissingPayment,
    ReconciliationReport,
    RunDays,
    Statement,
    StatementLine,
)
from infra.settings import Settings
from store.db import SessionFactory
from store.reconciliation import compare, finish_day, open_days, record_issue


class ReconciliationActivities:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, sessions: SessionFactory) -> None:
        self._settings = settings
        self._http = http
        self._sessions = sessions
        self._gepg = (
            GepgGateway.from_settings(settings, http)
            if settings.gateway_protocol is GatewayProtocol.GEPG
            else None
        )

    @activity.defn
    async def open_reconciliation_days(self, days: RunDays) -> list[date]:
        return await open_days(self._sessions, days)

    @activity.defn
    async def finish_reconciliation_day(self, report: ReconciliationReport) -> None:
        """Stamped with when the run scheduled this step, which its retries share."""
        await finish_day(self._sessions, report, activity.info().scheduled_time)

    @activity.defn
    async def fetch_statement(self, day: date) -> Statement:
        """The day's statement from the deployment's gateway: over GePG, its asynchronous answer."""
        if self._gepg is not None:
            return await gepg_reconciliation.fetch(self._settings, self._gepg, self._sessions, day)
        response = await self._http.get(
            f"{self._settings.gateway_url}/statements",
            params={"day": day.isoformat()},
            timeout=self._settings.outbound_timeout_s,
        )
        if response.is_client_error:  # the gateway refuses the request: no retry changes that
            raise Refused(f"the gateway refused the statement of {day}: {response.status_code}")
        response.raise_for_status()
        lines = [
            StatementLine(
                control_number=t["control_number"],
                transaction_id=t["transaction_id"],
                amount=t["amount"],
                paid_on=t["paid_on"],
                receipt=t.get("receipt"),
                payer_phone=t.get("payer_phone"),
                psp=t.get("psp"),
            )
            for t in response.json()["transactions"]
        ]
        return Statement(day=day, lines=lines)

    @activity.defn
    async def compare_statement(self, statement: Statement) -> Comparison:
        return await compare(self._sessions, statement)

    @activity.defn
    async def reconcile_statement(self, day: date) -> Comparison:
        """Fetch and compare in one step, so the day's statement never enters workflow history."""
        return await compare(self._sessions, await self.fetch_statement(day))

    @activity.defn
    async def feed_payment(self, missing: MissingPayment) -> bool:
        """Give the intent's workflow the payment it never heard of; a refusal is an operator issue."""
        line = missing.line
        report = PaymentReport(
            control_number=line.control_number,
            transaction_id=line.transaction_id,
            receipt_no=line.receipt,
            amount=line.amount,
            received_date=line.paid_on,
            payment_date=line.paid_on,
            origin=line.psp,
            payer_phone=line.payer_phone,
        )
        handle = activity.client().get_workflow_handle(payment_workflow_id(missing.intent_id))
        try:
            # One update id per transaction: a retried activity joins the first update, not a refusal.
            # Bounded: a workflow that does not answer fails this attempt, which is retried.
            async with asyncio.timeout(self._settings.update_timeout_s):
                await handle.execute_update(
                    "record_payment",  # by name: workflows/ builds on activities/, not the reverse
                    report,
                    id=record_payment_update_id(line.transaction_id),
                )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
            raise RuntimeError(
                f"the intent's workflow did not answer within {self._settings.update_timeout_s:g} s"
            ) from err
        except (WorkflowUpdateFailedError, RPCError) as err:
            if isinstance(err, RPCError) and err.status != RPCStatusCode.NOT_FOUND:
                raise  # Temporal unreachable: retried until it is back
            detail = (
                str(err.cause or err) if isinstance(err, WorkflowUpdateFailedError) else "its flow has ended"
            )
            day = activity.info().scheduled_time.date()
            await record_issue(self._sessions, day, line, "payment_refused", None, detail=detail)
            return False
        await record_issue(self._sessions, line.paid_on, line, "recorded_missing_payment", None)
        return True
