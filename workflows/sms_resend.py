"""SmsResendWorkflow: the sweep that sends again the SMS notices that failed (issue 19 item 7).

A notice's own workflow tries it for about 30 s (SMS_RETRY) and goes on without it; its outbox row
stays `failed`. This workflow, one per deployment (id `sms-resend`, started by `payflow temporal
setup` and `payflow dev`), looks every `every_s` for failed notices whose backoff is over and sends
them under their key, so a provider outage delays notices instead of losing them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import interfaces as acts
    from domain.sms import ResendInput
    from workflows.activity_options import retrying

CALL = {
    "start_to_close_timeout": timedelta(minutes=10),
    "retry_policy": retrying(maximum=timedelta(minutes=1)),
}
SWEEPS_PER_RUN = 500
"""About 11 history events a sweep: a run continues as new well before Temporal's 10k warning."""


@workflow.defn
class SmsResendWorkflow:
    @workflow.run
    async def run(self, request: ResendInput) -> None:
        for _ in range(SWEEPS_PER_RUN):
            report = await workflow.execute_activity(
                acts.resend_sms, workflow.now(), summary="send failed SMS that are due", **CALL
            )
            workflow.set_current_details(
                f"last sweep at {workflow.now():%Y-%m-%d %H:%M} UTC: {report.sent} of {report.due} due sent"
            )
            await workflow.sleep(timedelta(seconds=request.every_s), summary="next sweep")
        workflow.continue_as_new(request)
