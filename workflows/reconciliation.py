"""ReconciliationWorkflow: the daily comparison of the gateway's statement with our receipts.

Started by the `payflow-reconciliation` Temporal Schedule; payments the gateway has and we lack are
fed into their intents' workflows, so they are received and matched like any other.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import interfaces as acts
    from domain.reconciliation import ReconciliationInput, ReconciliationReport
    from workflows.activity_options import retrying

CALL = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": retrying(maximum=timedelta(minutes=1)),
}
ONE_STEP_PATCH = "reconcile-in-one-step"


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationReport:
        day = request.day or (workflow.now() - timedelta(days=1)).date()
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
        recorded = 0
        for missing in comparison.missing:
            if await workflow.execute_activity(
                acts.feed_payment,
                missing,
                summary=f"record {missing.line.transaction_id}",
                **CALL,
            ):
                recorded += 1
        report = ReconciliationReport(
            day=day,
            checked=comparison.checked,
            recorded=recorded,
            mismatches=comparison.mismatches + len(comparison.missing) - recorded,
            unknown=comparison.unknown,
        )
        workflow.set_current_details(
            f"**{day}**: {report.checked} statement lines, {report.recorded} missing payments recorded, "
            f"{report.mismatches} mismatches, {report.unknown} unknown control numbers"
        )
        return report
