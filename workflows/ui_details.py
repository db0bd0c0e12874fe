"""What the Temporal UI shows as a workflow's current details (`workflow.set_current_details`).

Operators read a flow in the UI rather than in the store, so each text answers the questions they ask
first: where is it, what happens next and when, what went wrong last. Pure rendering of workflow
state (the times passed in are `workflow.now()`-based); setting details is no workflow command, so
changing these texts needs no patch.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from domain.delivery_flow import AttemptOutcome
from domain.intent import CNMode
from domain.payment_flow import IntentState
from domain.status import PaymentStatus

S = PaymentStatus


def at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _money(amount: Decimal | None) -> str:
    return "—" if amount is None else f"{amount:,.2f}"


def payment_next_step(state: IntentState) -> str:
    """The step that follows a status change, before the workflow knows when it will happen."""
    status = state.status
    if status is S.CREATED:
        return {
            CNMode.INTERNAL: "generate a control number",
            CNMode.POOL: "take a control number from the pool",
        }.get(state.cn_mode, "post the bill to the gateway")
    if status is S.POSTED:
        return "wait for the gateway's control number"
    if status is S.ASSIGNED:
        return "send the control-number SMS, then wait for payment"
    if status is S.RECEIVED:
        return "match the payment to its policies"
    if status is S.MATCHED:
        return "none: paid and matched"
    return "none: the flow has ended"


def payment(state: IntentState, next_step: str) -> str:
    """Status name, control number, amounts, next step and the step timeline."""
    rows = "\n".join(
        f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.status.value} {e.status.name} | {e.note or ''} |"
        for e in state.timeline
    )
    status = f"{state.status.value} {state.status.name}" if state.status is not None else "PENDING"
    received = f" (received {_money(state.received_amount)})" if state.received_amount else ""
    reason = f"**Reason:** {state.reason}  \n" if state.reason else ""
    return (
        f"**Status:** {status}  \n"
        f"**Control number:** {state.control_number or '—'}  \n"
        f"**Amount to be paid:** {_money(state.amount_to_be_paid)}"
        f" (transfer fee {_money(state.transfer_fee)}){received}  \n"
        f"{reason}**Next:** {next_step}\n\n"
        f"| time (UTC) | status | note |\n|---|---|---|\n{rows}"
    )


def _outcome(outcome: AttemptOutcome) -> str:
    what = " ".join(str(p) for p in (outcome.status_code, outcome.error) if p)
    return f"{outcome.result}{f' ({what})' if what else ''}"


def delivery(
    status: str, made: int, total: int, last: AttemptOutcome | None, next_at: datetime | None
) -> str:
    """Attempt n of the schedule, when the next one is due, and what the last one got."""
    lines = [f"**Status:** {status}", f"**Attempts made:** {made} of {total}"]
    if next_at is not None:
        lines.append(f"**Next attempt:** {made + 1} of {total} at {at(next_at)}")
    if last is not None:
        lines.append(f"**Last attempt:** {_outcome(last)}")
    return "  \n".join(lines)
