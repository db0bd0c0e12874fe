"""`payflow payments …`: find a payment (flow A), read its timeline, rematch or cancel it.

`show` reads the live state from the workflow's `status` query when Temporal answers in time, else the
stored record and its events (the timeline then lists the status changes that have an event).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from domain.status import PaymentStatus
from infra.settings import Settings, get_settings
from payflow.cli.output import JsonFlag, console, err, exit_hard, fail, show_fields, show_rows
from payflow.cli.support import Limit, TenantFilter, intent_service, payment_service, temporal
from store import support
from store.db import SessionFactory, migrated_sessions
from store.models import Payment
from store.payments import PaymentStore

if TYPE_CHECKING:  # imported where used, so the other commands start without the API and Temporal
    from domain.payment_flow import CancelOutcome, IntentState, MatchResult

payments_app = typer.Typer(help="Payments (flow A): list, show with timeline, rematch, cancel.")
Ref = Annotated[str, typer.Argument(help="control number, intent id or payment id (internal_identifier)")]
T = TypeVar("T")


def _status(value: str | None) -> int | None:
    """A status by code (`4`) or name (`received`)."""
    if value is None:
        return None
    try:
        return int(PaymentStatus(int(value)) if value.lstrip("-").isdigit() else PaymentStatus[value.upper()])
    except (KeyError, ValueError):
        names = ", ".join(f"{s.value} {s.name}" for s in PaymentStatus)
        raise typer.BadParameter(f"{value!r} is not a payment status ({names})") from None


def _row(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "tenant": p.tenant,
        "control_number": p.control_number,
        "status": p.status,
        "status_name": PaymentStatus(p.status).name,
        "amount_to_be_paid": str(p.amount_to_be_paid),
        "received_amount": str(p.received_amount),
        "intent_id": p.intent_id,
        "updated_at": p.updated_at.isoformat(),
    }


@payments_app.command("list")
def payments_list(
    tenant: TenantFilter = None,
    control_number: str | None = None,
    insurance_number: Annotated[str | None, typer.Option(help="on any line of the payment")] = None,
    status: Annotated[str | None, typer.Option(help="code or name: 4, received, matched …")] = None,
    limit: Limit = 100,
    as_json: JsonFlag = False,
) -> None:
    """Payments (flow A), newest first: control number, status, amounts, intent id."""
    code = _status(status)
    sessions = migrated_sessions(get_settings().database_url)
    found = asyncio.run(
        support.payments(
            sessions,
            tenant=tenant,
            control_number=control_number,
            insurance_number=insurance_number,
            status=code,
            limit=limit,
        )
    )
    show_rows([_row(p) for p in found], as_json, "no payments match")


async def _find(sessions: SessionFactory, ref: str, tenant: str | None) -> Payment | None:
    """By control number first (what payers and gateways quote), then intent id, then payment id."""
    from api.schemas import ROW_ID_MAX

    store = PaymentStore(sessions)
    found = await store.by_control_number(ref, tenant)
    if found is None:
        try:
            found = await store.by_intent(str(uuid.UUID(ref)), tenant)
        except ValueError:
            if ref.isdigit() and int(ref) <= ROW_ID_MAX:
                found = await store.by_id(int(ref), tenant)
    return found


def _found(sessions: SessionFactory, ref: str, tenant: str | None) -> Payment:
    payment = asyncio.run(_find(sessions, ref, tenant))
    if payment is None:
        fail(f"no payment {ref!r}" + (f" of tenant {tenant!r}" if tenant else ""))
    return payment


async def _live(settings: Settings, sessions: SessionFactory, payment: Payment) -> IntentState | None:
    """The workflow's `status` query; None when Temporal or the worker does not answer in time."""
    from temporalio.service import RPCError

    from api.errors import Unavailable
    from api.intent_service import QUERY_TIMEOUT_S
    from api.workflow_calls import within
    from infra.temporal import connect
    from workflows.payment_intent import PaymentIntentWorkflow

    try:
        client = await connect(settings)  # not `temporal()`: show falls back to the store
        query = (
            intent_service(client, settings, sessions)
            .handle(payment.intent_id)
            .query(PaymentIntentWorkflow.status)
        )
        state: IntentState = await within(query, QUERY_TIMEOUT_S, "The payment workflow")
    except (RuntimeError, RPCError, Unavailable) as exc:  # RuntimeError: the SDK's failed connect
        err.print(f"no live state ({exc}): the timeline is read from the stored events")
        return None
    return state


async def _stored_timeline(sessions: SessionFactory, payment_id: int) -> list[dict[str, Any]]:
    rows = []
    for event in await support.payment_events(sessions, payment_id):
        intent = json.loads(event.payload)["intent"]
        rows.append(
            {"at": event.created_at.isoformat(), "status": intent["status_name"], "note": intent["reason"]}
        )
    return rows


async def _show(settings: Settings, sessions: SessionFactory, payment: Payment) -> dict[str, Any]:
    assert payment.id is not None
    state = await _live(settings, sessions, payment)
    summary = _row(payment) | {"source": "workflow" if state else "store"}
    if state is not None:
        summary |= {"status": int(state.status or 0), "status_name": state.status_name}
        timeline = [{"at": t.at.isoformat(), "status": t.status.name, "note": t.note} for t in state.timeline]
    else:
        timeline = await _stored_timeline(sessions, payment.id)
    lines = [
        {
            "line": d.line_no,
            "insurance_number": d.insurance_number,
            "product": d.product_code,
            "stage": d.stage,
            "expected_amount": str(d.expected_amount),
        }
        for d in await PaymentStore(sessions).details(payment.id)
    ]
    reason = payment.rejected_reason or (state.match.reasons if state and state.match else None)
    return summary | {"reason": reason, "timeline": timeline, "lines": lines}


@payments_app.command("show")
def payments_show(payment: Ref, tenant: TenantFilter = None, as_json: JsonFlag = False) -> None:
    """The payment, its lines and its timeline (live from its workflow when it answers)."""

    settings = get_settings()
    sessions = migrated_sessions(settings.database_url)
    data = asyncio.run(_show(settings, sessions, _found(sessions, payment, tenant)))
    if as_json:
        console.print_json(json.dumps(data))
    else:
        show_fields({k: v for k, v in data.items() if k not in ("timeline", "lines")})
        console.print(
            f"timeline (from the {data['source'] if data['source'] == 'workflow' else 'stored events'}):"
        )
        show_rows(data["timeline"], False, "no steps yet")
        show_rows(data["lines"], False, "no lines")
    exit_hard(0)


@payments_app.command("rematch")
def payments_rematch(payment: Ref, tenant: TenantFilter = None, as_json: JsonFlag = False) -> None:
    """Match a received payment now (the `rematch` update of its workflow, as the API sends it)."""

    settings = get_settings()
    sessions = migrated_sessions(settings.database_url)
    found = _found(sessions, payment, tenant)

    async def run() -> MatchResult | None:
        return await payment_service(await temporal(settings), settings, sessions).rematch(found)

    result = _through_workflow(run)
    if result is None:
        err.print(f"payment {found.id} has no received payment waiting to be matched")
        exit_hard(1)
    data = {"payment_id": found.id, "matched": result.matched, "reasons": result.reasons or None}
    show_fields(data, as_json)
    exit_hard(0 if result.matched else 1)


@payments_app.command("cancel")
def payments_cancel(
    payment: Ref,
    tenant: TenantFilter = None,
    reason: Annotated[str, typer.Option(help="kept with the payment and sent in its event")] = (
        "Cancelled by support"
    ),
    as_json: JsonFlag = False,
) -> None:
    """Cancel an unpaid payment (the `cancel` update of its workflow: the bill is cancelled at the
    gateway first, then the SMS is sent)."""

    settings = get_settings()
    sessions = migrated_sessions(settings.database_url)
    found = _found(sessions, payment, tenant)

    async def run() -> CancelOutcome:
        return await payment_service(await temporal(settings), settings, sessions).cancel(found, reason)

    outcome = _through_workflow(run)
    data = {"payment_id": found.id, "cancelled": outcome.cancelled, "message": outcome.message or None}
    show_fields(data, as_json)
    exit_hard(0 if outcome.cancelled else 1)


def _through_workflow(run: Callable[[], Awaitable[T]]) -> T:
    """Run a workflow update; a worker or Temporal not answering in time is one clear line and exit 2."""
    from api.errors import Unavailable

    try:
        return asyncio.run(run())
    except Unavailable as exc:
        err.print(f"[red]error:[/red] {exc.detail} ({exc.cause}); see `payflow payments show` for its effect")
        exit_hard(2)
