"""ReconciliationWorkflow: the daily comparison of the gateway's statement with our receipts.

Started by the `payflow-reconciliation` Temporal Schedule; payments the gateway has and we lack are
fed into their intents' workflows, so they are received and matched like any other.

Since the `reconciliation-days` patch a day is a unit of work kept in the store: a scheduled run opens
the days no run opened (those the schedule skipped too) and reconciles every day still pending, oldest
first; a day whose statement the gateway refuses stays pending for the next run, instead of failing
the run and being lost. A run given a day reconciles that day only.
"""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces as acts
    from domain.errors import Refused
    from domain.reconciliation import Comparison, ReconciliationInput, ReconciliationReport, RunDays
    from workflows.activity_options import retrying

CALL = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": retrying(maximum=timedelta(minutes=1)),
}
ONE_STEP_PATCH = "reconcile-in-one-step"
DAYS_PATCH = "reconciliation-days"


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationReport | None:
        yesterday = (workflow.now() - timedelta(days=1)).date()
        if not workflow.patched(DAYS_PATCH):  # started before days were kept
            return await self._one_day(request.day or yesterday)
        days = await workflow.execute_activity(
            acts.open_reconciliation_days,
            RunDays(yesterday=yesterday, day=request.day),
            summary="days without a statement",
            **CALL,
        )
        reports = [await self._day(day) for day in days]
        workflow.set_current_details(
            "  \n".join(f"**{r.day}**: {r.summary()}" for r in reports) or "nothing due"
        )
        return reports[-1] if reports else None

    async def _day(self, day: date) -> ReconciliationReport:
        """Reconcile one pending day and record how it ended; a refusal leaves it pending."""
        workflow.set_current_details(f"Reconciling the gateway statement of {day}")
        try:
            comparison = await workflow.execute_activity(
                acts.reconcile_statement, day, summary=f"compare the statement of {day}", **CALL
            )
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == Refused.__name__):
                raise
            report = ReconciliationReport(
                day=day, checked=0, recorded=0, mismatches=0, unknown=0, refused=err.cause.message
            )
        else:
            report = await self._feed(day, comparison)
        await workflow.execute_activity(
            acts.finish_reconciliation_day, report, summary=f"{day}: {report.summary()}"[:200], **CALL
        )
        return report

    async def _one_day(self, day: date) -> ReconciliationReport:
        """The commands of the runs started before `reconciliation-days` (a refusal fails the run)."""
        workflow.set_current_details(f"Reconciling the gateway statement of {day}")
        if workflow.patched(ONE_STEP_PATCH):
            comparison = await workflow.execute_activity(
                acts.reconcile_statement, day, summary=f"compare the statement of {day}", **CALL
            )
        else:  # started before the statement was kept out of history
            statement = await workflow.execute_activity(
                acts.fetch_statement, day, summary=f"statement of {day}", **CALL
            )
            comparison = await workflow.execute_activity(
                acts.compare_statement, statement, summary="compare with receipts", **CALL
            )
        report = await self._feed(day, comparison)
        workflow.set_current_details(f"**{day}**: {report.summary()}")
        return report

    async def _feed(self, day: date, comparison: Comparison) -> ReconciliationReport:
        """Feed each payment the gateway has and we lack to its flow."""
        recorded = 0
        for missing in comparison.missing:
            if await workflow.execute_activity(
                acts.feed_payment,
                missing,
                summary=f"record {missing.line.transaction_id}",
                **CALL,
            ):
                recorded += 1
        return ReconciliationReport(
            day=day,
            checked=comparison.checked,
            recorded=recorded,
            mismatches=comparison.mismatches + len(comparison.missing) - recorded,
            unknown=comparison.unknown,
        )
