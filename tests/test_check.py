"""`payflow check`: a clean stack passes; each hand-made breakage is named, and the CLI exits non-zero."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from domain.settlement import CaseRef, ChangedBy, SettlementInput
from payflow.check import check
from payflow.servers import free_port, serve
from simulators import receiver
from store import claims
from store.db import SessionFactory, make_engine, session_factory, transaction
from store.invariants import settlement_findings
from store.models import Event, Payment, PaymentDetail, Policy, Premium, SettlementRevision, WebhookEndpoint
from store.webhooks import WebhookStore, generate_secret
from tests.api.helpers import intent
from tests.claims.sample import settlement
from tests.stack import Stack, StackFactory

PAYFLOW = str(Path(sys.executable).with_name("payflow"))
SELF_PAYER_RENEWAL = intent(enrolment_officer_code=None)


@asynccontextmanager
async def stack_with_endpoint(make_stack: StackFactory) -> AsyncIterator[tuple[Stack, WebhookEndpoint]]:
    """A stack whose tenant `demo` has a webhook endpoint (a receiver that answers 200) for every event."""
    app, port = receiver.create_app(), free_port()
    async with serve(app, port) as url, make_stack(webhook_allow_hosts="127.0.0.1") as stack:
        secret = generate_secret()
        app.state.sim.secrets.append(secret)
        yield stack, await WebhookStore(stack.sessions).create_endpoint("demo", f"{url}/webhooks", secret)


async def matched_payment(stack: Stack) -> int:
    """A self-payer renewal, paid at the gateway simulator and matched (status 5 in the store)."""
    answer = (await stack.post("/api/GetControlNumber", json=SELF_PAYER_RENEWAL)).json()
    payment_id, cn = int(answer["internal_identifier"]), answer["control_number"]
    async with httpx.AsyncClient(base_url=stack.settings.gateway_url) as http:
        r = await http.post("/payments", json={"control_number": cn, "payer_phone": "0754111222"})
        assert r.status_code == 201, r.text
    await until(stack, f"select status = 5 from payment where id = {payment_id}", "the payment matched")
    return payment_id


async def settled_case(stack: Stack) -> tuple[str, int]:
    r = await stack.post("/v1/cases", as_="claims", json={"number": "4711", "policy_number": "P-1"})
    case_id = r.json()["id"]
    r = await stack.post(f"/v1/cases/{case_id}/settlements", as_="claims", json=settlement())
    assert r.status_code == 201, r.text
    async with stack.sessions() as s:
        revision = (
            await s.exec(select(SettlementRevision).where(SettlementRevision.case_id == case_id))
        ).one()
    assert revision.id is not None
    return case_id, revision.id


async def until(stack: Stack, sql: str, what: str, within: float = 10.0) -> None:
    """Poll a yes/no query on the store (the flows finish after their HTTP answers), bounded in time."""
    async with asyncio.timeout(within):
        while True:
            async with stack.sessions() as s:
                if (await s.exec(text(sql))).scalar():  # type: ignore[call-overload]
                    return
            await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def execute(stack: Stack, *statements: str) -> None:
    await execute_on(stack.sessions, *statements)


async def execute_on(sessions: SessionFactory, *statements: str) -> None:
    async with transaction(sessions) as s:
        for statement in statements:
            await s.exec(text(statement))  # type: ignore[call-overload]


async def line_premium(stack: Stack, payment_id: int) -> int:
    async with stack.sessions() as s:
        [detail] = (await s.exec(select(PaymentDetail).where(PaymentDetail.payment_id == payment_id))).all()
    assert detail.premium_id is not None
    return detail.premium_id


def without_deliveries(event_id: int) -> list[str]:
    deliveries = f"select id from delivery where event_id = {event_id}"
    return [
        f"delete from deliveryattempt where delivery_id in ({deliveries})",
        f"delete from delivery where event_id = {event_id}",
    ]


ALL_DELIVERED = (
    "select count(*) > 0 and count(*) = sum(case when status = 'pending' then 0 else 1 end) from delivery"
)


async def test_a_clean_stack_has_no_violations(make_stack_any_db: StackFactory) -> None:
    async with stack_with_endpoint(make_stack_any_db) as (stack, _):
        await matched_payment(stack)
        await settled_case(stack)
        # the relay starts deliveries after its writer answered: first every event relayed, then delivered
        await until(stack, "select count(*) >= 6 from event where dispatched_at is not null", "the relay")
        await until(stack, ALL_DELIVERED, "every delivery")
        report = await check(stack.sessions, stack.temporal)
        assert (report.violations, report.warnings) == ([], [])
        assert report.ok and report.summary().startswith("no violations (checked 1 payments, 1 matched lines")
        assert report.counts["revisions"] == 1 and report.counts["dispatched events"] >= 6

        other = await check(stack.sessions, stack.temporal, tenant="other-tenant")
        assert other.ok and other.counts["payments"] == other.counts["revisions"] == 0


async def test_each_hand_made_breakage_is_named(make_stack_any_db: StackFactory) -> None:
    async with stack_with_endpoint(make_stack_any_db) as (stack, endpoint):
        altered, moved = await matched_payment(stack), await matched_payment(stack)
        case_id, revision = await settled_case(stack)
        await until(stack, ALL_DELIVERED, "every delivery")
        altered_premium, moved_premium = await line_premium(stack, altered), await line_premium(stack, moved)
        async with stack.sessions() as s:
            events = {e.type: e.id for e in (await s.exec(select(Event).order_by(col(Event.id)))).all()}
            moved_intent = (await s.get(Payment, moved)).intent_id  # type: ignore[union-attr]
        settled, created = events["case_settled"], events["case_created"]
        await execute(
            stack,
            f"update premium set amount = amount + 1 where id = {altered_premium}",
            f"update payment set status = 4 where id = {moved}",
            *without_deliveries(settled),
            f"delete from event where id = {settled}",
            *without_deliveries(created),
        )

        report = await check(stack.sessions, stack.temporal)
        assert sorted(str(v) for v in report.violations) == sorted(
            [
                f"premium {altered_premium} of payment {altered} line 1: amount 21001.00, "
                "but the line's share is 21000.00",
                f"premium {moved_premium} of payment {moved} line 1: "
                "the payment is not matched (status 4) but the line has this premium",
                f"payment {moved} (intent {moved_intent}): "
                "store status 4 RECEIVED, workflow status 5 MATCHED",
                f"settlement revision {revision} (case {case_id} revision 1): "
                "no case_settled event for its settlement",
                f"event {created} (case_created): no delivery to endpoint {endpoint.id}",
            ]
        )
        assert not report.ok and report.summary().startswith("5 violations (checked 2 payments")


async def settle_and_cancel(sessions: SessionFactory, steps: str) -> tuple[str, list[str]]:
    """A case driven through the store as ClaimWorkflow drives it: `s` settles the next revision,
    a digit cancels that revision (1-based). Returns the case and its revision tokens."""
    case_id, at = str(uuid.uuid4()), datetime(2026, 12, 7, 9, tzinfo=UTC)
    await claims.create_case(
        sessions, CaseRef(uuid=case_id, token=case_id, number="N", tenant="demo"), "c", at
    )
    tokens: list[str] = []
    for step in steps:
        if step == "s":
            doc = SettlementInput.model_validate(settlement(compensation=1000 * (len(tokens) + 1)))
            by = ChangedBy(fullName="Ann")
            tokens.append(
                (await claims.record_settlement(sessions, case_id, len(tokens) + 1, doc, "c", at, by))[0]
            )
        else:
            assert await claims.cancel_revision(sessions, case_id, tokens[int(step) - 1])
    return case_id, tokens


async def test_a_cancel_reversal_is_no_duplicate_but_a_copied_event_is(any_db_url: str) -> None:
    """Issue 23 item 12: a revision cancelled while standing has its settlement's case_settled and
    the one reversing it; one cancelled under a later revision has no reversal. A hand-copied
    case_settled is still a duplicate, a reversal missing or reversing a revision that stands is named."""
    engine = make_engine(any_db_url)
    sessions = session_factory(engine)
    # r1 cancelled under r2 (no reversal), r3 cancelled then r2 (each standing: reversed)
    first, [_, r2, r3] = await settle_and_cancel(sessions, "ss1s32")
    second, [only] = await settle_and_cancel(sessions, "s1")
    assert await settlement_findings(sessions, None) == ([], 4)

    async with sessions() as s:
        rows = {r.token: r for r in (await s.exec(select(SettlementRevision))).all()}
        keys = {e.dedupe_key: e for e in (await s.exec(select(Event))).all()}
    copied, reversal = keys[f"{first}:settlement:2"], keys[f"{second}:cancel:1"]
    await execute_on(
        sessions,
        "insert into event (tenant, webhook_id, type, dedupe_key, payload, created_at) select tenant, "
        f"'msg_copy', type, 'by-hand', payload, created_at from event where id = {copied.id}",
        f"delete from event where dedupe_key = '{first}:cancel:3'",
        f"update settlementrevision set status = 'SETTLED' where token = '{only}'",
    )
    async with sessions() as s:
        copy = (await s.exec(select(Event.id).where(Event.dedupe_key == "by-hand"))).one()
    found, _ = await settlement_findings(sessions, None)
    subject = "settlement revision {} (case {} revision {})".format
    named = [copied.id, keys[f"{first}:cancel:2"].id, copy]
    assert sorted(str(f) for f in found) == sorted(
        [
            f"{subject(rows[r2].id, first, 2)}: 3 case_settled events {named}: "
            f"[{copy}] neither its settlement nor its reversal",
            f"{subject(rows[r3].id, first, 3)}: cancelled while standing (no later revision), "
            "but no case_settled reverses it",
            f"{subject(rows[only].id, second, 1)}: case_settled {reversal.id} reverses it, "
            "but it was not cancelled while standing",
        ]
    )
    await engine.dispose()


async def test_cli_names_a_deleted_premium_and_exits_non_zero(
    make_stack: StackFactory, dev_env: WorkflowEnvironment, db_url: str
) -> None:
    async with make_stack() as stack:
        payment_id = await matched_payment(stack)
        premium_id = await line_premium(stack, payment_id)
        # foreign keys off: the line keeps pointing at it. In a thread: the stack's writers run on this
        # event loop, and one in the middle of a transaction holds SQLite's lock until the loop runs it
        await asyncio.to_thread(_delete_premium, db_url.split("///", 1)[1], premium_id)
        env = os.environ | {
            "PAYFLOW_DATABASE_URL": db_url,
            "PAYFLOW_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "COLUMNS": "80",
        }
        text_out, json_out = await asyncio.gather(run_check(env), run_check(env, "--json"))
    code, output = text_out
    assert code == 1, output
    violation, summary = output.splitlines()
    assert violation == f"payment {payment_id} line 1: its premium {premium_id} does not exist"
    assert summary.startswith("1 violation (checked 1 payments, 1 matched lines, 0 revisions")
    code, output = json_out
    report = json.loads(output)
    assert code == 1 and report["ok"] is False and report["warnings"] == []
    [violation] = report["violations"]
    assert violation["check"] == "premium" and violation["ids"] == {
        "payment": payment_id,
        "line": 1,
        "premium": premium_id,
    }


def _delete_premium(path: str, premium_id: int) -> None:
    db = sqlite3.connect(path, timeout=30)
    with db:
        db.execute("delete from premium where id = ?", (premium_id,))
    db.close()


async def run_check(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        PAYFLOW, "check", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_keys_used_twice_and_a_premium_for_no_line(dev_env: WorkflowEnvironment, db_url: str) -> None:
    """A database that lost its unique key on control numbers, edited by hand; the workflows of these
    rows never existed, which is only a warning. A transaction id is a violation twice in one tenant,
    not once in each of two."""
    db = sqlite3.connect(db_url.split("///", 1)[1], timeout=30)
    [schema] = db.execute("select sql from sqlite_master where name = 'payment'").fetchone()
    loose = re.sub(r",\s*UNIQUE \(control_number\)", "", schema)
    assert loose != schema
    with db:
        db.execute("drop table payment")
        db.execute(loose)
    db.close()
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    intents = [str(uuid.uuid4()) for _ in range(4)]
    async with transaction(sessions) as s:
        for n, intent_id in enumerate(intents, 1):
            s.add(
                Payment(
                    id=n,
                    intent_id=intent_id,
                    tenant="demo" if n < 3 else "other-tenant",
                    status=3 if n < 3 else 4,
                    phone_number="0681333045",
                    request_date=date(2026, 11, 20),
                    control_number="991000000001" if n < 3 else f"99100000000{n - 1}",
                    transaction_no="T-1" if n != 2 else None,
                )
            )
        policy_id = (await s.exec(select(Policy.id))).first()
        premium = Premium(policy_id=policy_id, amount=10, pay_date=date(2026, 11, 20), payment_detail_id=999)
        s.add(premium)

    report = await check(sessions, dev_env.client)
    assert [str(v) for v in report.violations] == [
        f"premium {premium.id}: made for payment line 999, which does not exist",
        "control number 991000000001: 2 payment rows have it (payments 1, 2)",
        "transaction T-1 of tenant other-tenant: 2 payment rows have it (payments 3, 4)",
    ]
    assert [str(w) for w in report.warnings] == [
        f"payment {n} (intent {i}): workflow payment-intent-{i} not found, status not compared"
        for n, i in enumerate(intents, 1)
    ]
    mine = await check(sessions, None, tenant="other-tenant")
    assert [str(v) for v in mine.violations] == [
        "transaction T-1 of tenant other-tenant: 2 payment rows have it (payments 3, 4)"
    ]
    assert [w.message for w in mine.warnings] == ["workflow statuses not checked (no Temporal client)"]
    await engine.dispose()


async def test_a_workflow_that_cannot_answer_is_a_warning_not_a_hang(
    dev_env: WorkflowEnvironment, db_url: str
) -> None:
    """Its task queue has no worker: the query times out, twice (the second look), and check goes on."""
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    intent_id = str(uuid.uuid4())
    async with transaction(sessions) as s:
        s.add(
            Payment(intent_id=intent_id, tenant="demo", status=1, phone_number="0", request_date=date.today())
        )
    handle = await dev_env.client.start_workflow(
        "PaymentIntentWorkflow", id=f"payment-intent-{intent_id}", task_queue=f"nobody-{uuid.uuid4()}"
    )
    try:
        started = asyncio.get_running_loop().time()
        report = await check(sessions, dev_env.client, query_timeout_s=0.5, settle_s=0)
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        await handle.terminate()
        await engine.dispose()
    assert report.ok and [w.message for w in report.warnings] == ["status query unanswered within 0.5 s"]
