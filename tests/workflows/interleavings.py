"""Generated interleavings of PaymentIntentWorkflow (issue 19, deliver 3): a scheduler of its own.

The flow runs on a real worker and the time-skipping server with its real store steps on SQLite; the
gateway is a model (`Gateway`) behind the real gateway activities, whose calls wait until the test
answers them, so the test decides what the gateway does and when. A sequence of steps (plain tuples,
so a shrunk one prints as a list that replays as it is) drives one intent; after each step the test
waits until the flow has done all it can on its own. At the end the gateway and the SMS provider come
back, time runs out, and `Run.violations` says which of the issue's properties (a)–(e) failed.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request, Response
from hypothesis import strategies as st
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ExecuteActivityInput, Replayer

from activities.gateway import GatewayActivities
from domain.intent import CNMode, GatewayProtocol, IntentOptions, PaymentReport
from domain.payment_flow import (
    Acknowledgement,
    BillAck,
    BillRequest,
    CancelOutcome,
    CancelRequest,
    ControlNumberReceipt,
    record_payment_update_id,
)
from domain.sms import SmsKind
from domain.status import PaymentStatus as S
from infra.settings import Settings
from payflow.servers import serve
from payflow.temporal_setup import WORKFLOWS, register_search_attributes
from simulators import sms
from store.db import make_engine, session_factory
from store.invariants import Finding, duplicate_findings, pool_findings, premium_findings
from store.models import Payment, PaymentDetail
from store.payments import PaymentStore
from tests.faults.inject import ActivityHook, InjectedFault
from tests.faults.wiring import fault_settings, fault_worker, port_of
from tests.keys import CONVERTER
from tests.workflows.harness import intent_input
from workflows.payment_intent import PaymentIntentWorkflow

Step = tuple[str, ...]
STEPS: list[Step] = [
    ("post", "ok"),  # the gateway answers the pending bill: taken
    ("cancel",),  # openIMIS payment/cancel
    ("callback", "ok"),  # GetReqControlNumber with the gateway's number (it took the bill)
    ("ack", "slow"),  # PostReqControlNumberAck whose status write is slow: it ends with the next step
    ("time", "hour"),  # past the control-number callback timeout
    ("pay", "valid"),  # the payer pays the number at a PSP; the gateway notifies payflow
    ("ack", "ok"),
    ("time", "days"),  # past the bill's expiry
    ("callback", "slow"),
    ("cancel", "slow"),
    ("post", "lost"),  # taken, but the reply never reaches payflow: retried
    ("post", "refused"),
    ("post", "down"),
    ("ack", "error"),
    ("callback", "error"),
    ("pay", "retry"),  # the last notification again, after its answer was lost
    ("pay", "duplicate"),  # the paid bill paid again (a second transaction)
    ("pay", "wrong_amount"),
    ("cancel_reply", "ok"),  # the gateway answers the pending cancel
    ("cancel_reply", "lost"),
    ("cancel_reply", "down"),
    ("gateway", "down"),  # while time passes, the gateway cannot be reached
    ("sms", "down"),
    ("crash",),  # held calls commit, then the worker dies before reporting; a new one takes over
]
"""Every step the generator draws from; the simplest first (hypothesis shrinks towards them)."""
SLOW = [step for step in STEPS if step[1:] == ("slow",)]
RACING = [("callback", "ok"), ("cancel",), ("post", "ok")]
"""What races a slow write: the steps that move the status on their own."""
SLOW_WRITE = {"ack": "record_status", "callback": "store_control_number", "cancel": "record_status"}

OPTIONS = IntentOptions(
    cn_mode=CNMode.GATEWAY, cn_callback_timeout_s=3600, bill_expiry_days=2, reminder_days=1
)
SKIPS = {"hour": timedelta(hours=1, minutes=1), "days": timedelta(days=2, hours=1)}
GATEWAY_CALLS = ("post_bill", "cancel_bill")
STORE_CALLS = ("record_status", "store_control_number")
PAID = (S.RECEIVED, S.MATCHED)
SETTLE_POLLS = 300
SETTLE_POLL_S = 0.05
DRAIN_ROUNDS = 6
TASK_PENDING = (EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)


NUMBERS = itertools.count(10**9)
"""Control numbers, unique across the worlds of one test (they share its store)."""


def sequences(max_moves: int) -> st.SearchStrategy[list[Step]]:
    """Lists of moves, flattened: a move is one step, or (one time in four) a slow write and the step
    that races it, so that the races of issue 19 items 1 and 2 come up in a few dozen sequences."""
    single = st.sampled_from(STEPS).map(lambda step: [step])
    race = st.tuples(st.sampled_from(SLOW), st.sampled_from(RACING)).map(list)
    moves = st.lists(st.one_of(single, single, single, race), max_size=max_moves)
    return moves.map(lambda drawn: [step for move in drawn for step in move])


@dataclass
class Bill:
    control_number: str
    taken: bool = False
    refused: bool = False
    """Refused, or no number could be given (an error ack or callback): it never becomes payable."""
    cancelled: bool = False
    paid: bool = False

    @property
    def live(self) -> bool:
        """A number a payer can pay (or has paid): the flow must honour it or cancel it."""
        return self.taken and not self.refused and not self.cancelled

    @property
    def payable(self) -> bool:
        return self.live and not self.paid


@dataclass
class Held:
    """A call waiting for the test's answer: "ok", "lost", "refused", "down" (gateway) or "ok" (store),
    or "crash" (either)."""

    name: str
    answer: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    activity_id: str = field(default_factory=lambda: activity.info().activity_id)


@dataclass
class Notification:
    """A payment the gateway reported, with what payflow answered (0 accepted, else its code)."""

    report: PaymentReport
    valid: bool
    """The right amount, for a bill the gateway held as payable when it was paid."""
    code: int | None = None


@dataclass
class World:
    """What the substitute calls see: the gateway model, conditions, the calls the test holds."""

    bills: dict[str, Bill] = field(default_factory=dict)
    held: list[Held] = field(default_factory=list)
    slow: set[str] = field(default_factory=set)
    """Store steps whose next call waits until the end of the step after it (a slow write)."""
    dying: set[tuple[str, str, int]] = field(default_factory=set)
    """Attempts that commit, then fail before reporting (a worker crash after a commit)."""
    auto: bool = False
    """While time passes, no call waits: the gateway answers at once ("ok", or "down" when down)."""
    gateway_up: bool = True
    intent_id: str = ""
    """The intent of the current run; calls for any other one are answered at once."""
    running: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Activities running in the worker, by workflow id and activity id."""
    numbers: itertools.count[int] = field(default_factory=lambda: NUMBERS)
    calm: Callable[[str | None], Awaitable[None]] | None = None
    """Waits until the current flow has taken in the result of a call (set by `Run`)."""
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    answered: str | None = None
    """The activity id of the current flow's call answered "ok" last without the test (a failure
    only schedules a retry: no workflow task comes of it)."""

    def current(self) -> bool:
        """Whether the activity running belongs to the current run's flow."""
        return activity.info().workflow_id == f"payment-intent-{self.intent_id}"

    def bill(self, intent_id: str) -> Bill:
        if intent_id not in self.bills:
            self.bills[intent_id] = Bill(f"99{next(self.numbers):010d}")
        return self.bills[intent_id]

    async def answer(self, name: str, intent_id: str) -> str:
        if intent_id != self.intent_id:
            return "ok" if self.gateway_up else "down"
        if self.auto:
            return await self._in_turn(intent_id)
        held = Held(name)
        self.held.append(held)
        return await held.answer

    async def _in_turn(self, intent_id: str) -> str:
        """Answer calls of the current flow one at a time, each once the flow has taken in the one
        before: the time-skipping server refuses a workflow task that cancels an activity whose
        result came while the task ran ("ACTIVITY_UNKNOWN"), and the flow then never gets another
        task (a real server takes the cancel). Two gateway calls answered at once race that way."""
        async with self.turn:
            if self.calm is not None and intent_id == self.intent_id:  # not a call of a run that ended
                await self.calm(self.answered)
            self.answered = activity.info().activity_id if self.gateway_up else None
            return "ok" if self.gateway_up else "down"

    def release(self, name: str, answer: str) -> bool:
        """Answer the oldest held call of `name`; False when none is held."""
        for held in self.held:
            if held.name == name and not held.answer.done():
                self.held.remove(held)
                held.answer.set_result(answer)
                return True
        return False

    def release_all(self, gateway_answer: str) -> None:
        """Answer every held call: gateway calls with `gateway_answer`, store steps "ok" (or "crash")."""
        for held in list(self.held):
            store = "crash" if gateway_answer == "crash" else "ok"
            self.release(held.name, gateway_answer if held.name in GATEWAY_CALLS else store)

    def die_after(self, answer: str) -> str:
        """A call answered "crash" does its work as "ok", then fails before reporting (StoreGate)."""
        if answer == "crash":
            self.dying.add(attempt_key())
            return "ok"
        return answer


class ModelGateway:
    """The gateway port on the model: the real activities around it write the store as in production."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def post_bill(self, bill: BillRequest, payment: Payment, details: list[PaymentDetail]) -> BillAck:
        answer = self._world.die_after(await self._world.answer("post_bill", bill.intent_id))
        model = self._world.bill(bill.intent_id)
        if answer != "down" and model.refused:
            answer = "refused"  # its ack or callback said so: the gateway answers a retry the same
        elif answer != "ok" and model.taken:
            answer = "lost"  # it called back already: the gateway has the bill, the reply was lost
        if answer == "down":
            raise RuntimeError("gateway unreachable")
        if answer == "refused":
            return BillAck(accepted=False, code="7242", message="Invalid Request Data")
        self._world.bill(bill.intent_id).taken = True
        if answer == "lost":
            raise RuntimeError("the gateway took the bill; its reply was lost")
        return BillAck(accepted=True, code="7101", message="Successful")

    async def cancel_bill(self, intent_id: str, payment: Payment | None) -> CancelOutcome:
        answer = self._world.die_after(await self._world.answer("cancel_bill", intent_id))
        if answer == "down":
            raise RuntimeError("gateway unreachable")
        bill = self._world.bills.get(intent_id)
        if bill is None or not bill.taken:  # as the JSON adapter answers a 404: nothing is payable
            return CancelOutcome(cancelled=True, message="Bill not found")
        if bill.paid:
            return CancelOutcome(cancelled=False, code=3, message="7279:Bill already settled")
        bill.cancelled = True
        if answer == "lost":
            raise RuntimeError("the gateway cancelled the bill; its reply was lost")
        return CancelOutcome(cancelled=True)


class StoreGate(ActivityHook):
    """Holds a store step the test made slow; during a crash, a step commits and then fails. Counts
    the activities running for each workflow."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def around(self, input: ExecuteActivityInput, call: Callable[[], Awaitable[Any]]) -> Any:
        info = activity.info()
        key = (info.workflow_id or "", info.activity_id)
        self._world.running[key] += 1
        try:
            return await self._gated(call)
        finally:
            self._world.running[key] -= 1

    async def _gated(self, call: Callable[[], Awaitable[Any]]) -> Any:
        name = activity.info().activity_type
        if name in self._world.slow and not self._world.auto and self._world.current():
            self._world.slow.discard(name)
            held = Held(name)
            self._world.held.append(held)
            self._world.die_after(await held.answer)
        result = await call()
        if attempt_key() in self._world.dying:
            self._world.dying.discard(attempt_key())
            raise InjectedFault(f"{name} committed, then the worker died before reporting")
        return result


def attempt_key() -> tuple[str, str, int]:
    info = activity.info()
    return info.workflow_id or "", info.activity_id, info.attempt


class Stage:
    """One time-skipping server, one SMS provider, one worker and one store for many runs."""

    def __init__(self, env: WorkflowEnvironment, settings: Settings, http: httpx.AsyncClient) -> None:
        self.env = env
        self.settings = settings
        self.world = World()
        self.sms = sms.create_app()
        self.sms_sends: Counter[str] = Counter()
        """SMS the provider accepted, by key (it keeps one message per key, so count them here)."""
        self.sms.middleware("http")(self._count_sms)
        self.engine = make_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.payments = PaymentStore(self.sessions)
        gateway = GatewayActivities(settings, http, self.payments)
        gateway._adapters[GatewayProtocol.JSON] = ModelGateway(self.world)
        self.substitutes = [gateway.post_bill, gateway.cancel_bill]
        self.replayer = Replayer(workflows=list(WORKFLOWS), data_converter=CONVERTER)

    async def _count_sms(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.method == "POST" and request.url.path == "/messages" and response.status_code == 202:
            self.sms_sends[request.headers.get("idempotency-key", "")] += 1
        return response

    @property
    def sms_state(self) -> sms.SmsState:
        return self.sms.state.sim  # type: ignore[no-any-return]

    async def replays(self, handle: WorkflowHandle[Any, Any]) -> str | None:
        """What a new worker would make of the history so far: None, or why its replay fails."""
        history = await handle.fetch_history()
        result = await self.replayer.replay_workflow(history, raise_on_replay_failure=False)
        return None if result.replay_failure is None else str(result.replay_failure)


@asynccontextmanager
async def stage(env: WorkflowEnvironment, db_url: str) -> AsyncIterator[Stage]:
    """A stage with its worker and SMS provider running."""
    settings = fault_settings(db_url)
    async with httpx.AsyncClient() as http, AsyncExitStack() as stack:
        s = Stage(env, settings, http)
        await stack.enter_async_context(serve(s.sms, port_of(settings.sms_url)))
        await stack.enter_async_context(
            fault_worker(env.client, settings, s.substitutes, [StoreGate(s.world)])
        )
        try:
            yield s
        finally:
            s.world.release_all("down")
            await s.engine.dispose()


@asynccontextmanager
async def own_stage(db_url: str) -> AsyncIterator[Stage]:
    """A stage on a time-skipping server of its own. An activity that reports after its flow ended
    (terminated by `Run.close`, or completed while a call it abandoned still ran) keeps the test
    server from skipping time for good ("Activity not found on completion"): every later sleep then
    takes real time, and the server stops answering. So each sequence of the property test gets a
    new server (about a second)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=CONVERTER,
    )
    try:
        await register_search_attributes(env.client, env.client.namespace)
        async with stage(env, db_url) as s:
            yield s
    finally:
        await env.shutdown()


class Run:
    """One intent driven through one sequence of steps."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.world = stage.world
        self.client: Client = stage.env.client
        self.request = intent_input(CNMode.GATEWAY, options=OPTIONS, **{"officer_code": None})
        self.world.release_all("down")  # a call of an earlier run that came after it ended
        self.world.intent_id = self.request.intent_id
        self.world.auto = False
        self.world.gateway_up = True
        self.world.slow.clear()
        self.world.answered = None
        self.world.calm = self._calm
        self.stage.sms_state.fail_next = 0
        self.handle: WorkflowHandle[Any, Any] | None = None
        self.updates: list[asyncio.Task[Any]] = []
        self.notifications: list[Notification] = []
        self.cn_delivered = False
        self.replay_failures: list[str] = []
        self.log: list[str] = []

    @property
    def wf(self) -> WorkflowHandle[Any, Any]:
        assert self.handle is not None
        return self.handle

    async def start(self) -> None:
        self.handle = await self.client.start_workflow(
            PaymentIntentWorkflow.run,
            self.request,
            id=f"payment-intent-{self.request.intent_id}",
            task_queue=self.stage.settings.task_queue,
            task_timeout=timedelta(seconds=1),  # a held local step lets updates in after 0.8 s
        )
        await self.settle()

    async def step(self, step: Step) -> None:
        """Take one step, then wait until the flow settles; a store step held since before this step
        (a slow write) ends now."""
        kind, *arg = step
        slow = [h.name for h in self.world.held if h.name in STORE_CALLS]
        await getattr(self, f"_{kind}")(*arg)
        await self.settle()
        self.world.slow.clear()  # a slow mark holds a write of this step only
        for name in slow:
            if self.world.release(name, "ok"):
                await self.settle()

    # --- steps -----------------------------------------------------------------------------------

    async def _post(self, answer: str) -> None:
        self.world.release("post_bill", answer)

    async def _cancel_reply(self, answer: str) -> None:
        self.world.release("cancel_bill", answer)

    async def _gateway(self, condition: str) -> None:
        self.world.gateway_up = condition == "up"

    async def _sms(self, condition: str) -> None:
        self.stage.sms_state.fail_next = 0 if condition == "up" else 10**6

    async def _crash(self) -> None:
        """Each held call commits, then its worker dies before reporting it (Temporal retries it); a
        new worker would replay the history so far. (A real restart cannot be had here: the test
        server keeps the flow on the dead worker's sticky queue.)"""
        self.world.release_all("crash")
        await self.settle()
        failure = await self.stage.replays(self.wf)
        if failure is not None:
            self.replay_failures.append(failure)

    async def _time(self, span: str) -> None:
        """Time passes: held gateway calls time out (or answer, if the gateway is up), nothing waits."""
        self.world.release_all("down")
        self.world.auto = True
        try:
            await self.stage.env.sleep(SKIPS[span])
        finally:
            self.world.auto = False

    def _slow(self, kind: str, outcome: str) -> None:
        if outcome == "slow":
            self.world.slow.add(SLOW_WRITE[kind])

    async def _ack(self, outcome: str) -> None:
        """The gateway acknowledges the bill; an error ack comes only for a bill it has not taken, and
        then it never takes it."""
        bill = self.world.bill(self.request.intent_id)
        if outcome == "error":
            if bill.taken:
                return
            bill.refused = True
        self._slow("ack", outcome)
        ack = Acknowledgement(error_occured=outcome == "error", error_message="7201:Failure")
        await self._update(PaymentIntentWorkflow.acknowledge, ack)

    async def _callback(self, outcome: str) -> None:
        """The gateway calls back once it has the bill (its reply to the post may still be on its way):
        with its number, or saying it can give none (the bill then never becomes payable)."""
        bill = self.world.bill(self.request.intent_id)
        posting = any(h.name == "post_bill" for h in self.world.held)
        if bill.refused or not (posting or bill.taken):
            return  # the gateway has nothing to call back about
        bill.taken = True
        bill.refused = outcome == "error"
        number = None if bill.refused else bill.control_number
        self._slow("callback", outcome)
        receipt = ControlNumberReceipt(
            control_number=number, error_occured=number is None, error_message="7201:Failure"
        )
        self.cn_delivered = True
        await self._update(PaymentIntentWorkflow.receive_control_number, receipt)

    async def _cancel(self, outcome: str = "ok") -> None:
        self._slow("cancel", outcome)
        await self._update(PaymentIntentWorkflow.cancel, CancelRequest())

    async def _pay(self, kind: str) -> None:
        """A payer pays the number payflow holds (its SMS told them), and the gateway reports it."""
        bill = self.world.bills.get(self.request.intent_id)
        payment = await self.stage.payments.by_intent(self.request.intent_id)
        if bill is None or payment is None or payment.control_number != bill.control_number or bill.cancelled:
            return
        if kind == "retry":
            if self.notifications:
                await self._notify(self.notifications[-1], again=True)
            return
        if (kind == "valid") == bill.paid:  # a payer pays once; a duplicate needs a first payment
            return
        amount = payment.amount_to_be_paid
        n = len(self.notifications) + 1
        report = PaymentReport(
            control_number=bill.control_number,
            transaction_id=f"TX-{self.request.intent_id[:8]}-{n}",
            amount=amount + (1 if kind == "wrong_amount" else 0),
            received_date=date(2026, 12, 1),
        )
        notification = Notification(report, valid=kind == "valid" and bill.payable)
        if kind != "wrong_amount":  # the PSP bounces a wrong amount for an exact bill
            bill.paid = True
        self.notifications.append(notification)
        await self._notify(notification)

    async def _notify(self, notification: Notification, *, again: bool = False) -> None:
        """What the API does with a notification: by its number to the workflow's `record_payment`."""
        report = notification.report
        payment = await self.stage.payments.by_control_number(report.control_number or "", "demo")
        code: int | None = None
        if payment is None:
            code = 3
        else:
            try:
                handle = await self.wf.start_update(
                    PaymentIntentWorkflow.record_payment,
                    report,
                    id=record_payment_update_id(report.transaction_id),
                    wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                )
            except WorkflowUpdateFailedError as err:
                code = rejection_code(err)
            except RPCError:  # the workflow is closed
                code = 5 if payment.status in PAID else 3
            else:
                self.updates.append(asyncio.create_task(self._answer(notification, handle.result())))
        if code is not None and not again:
            notification.code = code
        self.log.append(f"notify {report.transaction_id}: {code}")

    async def _answer(self, notification: Notification, result: Awaitable[Any]) -> None:
        try:
            await result
        except WorkflowUpdateFailedError as err:
            notification.code = rejection_code(err)
        else:
            notification.code = 0

    async def _update(self, update: Any, arg: Any) -> None:
        """Send an update; wait until the workflow accepted (or refused) it, not for its result."""
        try:
            handle = await self.wf.start_update(
                update, arg, id=str(uuid.uuid4()), wait_for_stage=WorkflowUpdateStage.ACCEPTED
            )
        except (WorkflowUpdateFailedError, RPCError) as err:
            self.log.append(f"{update.__name__} refused: {err}")
            return
        self.updates.append(asyncio.create_task(handle.result()))

    # --- settling --------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until the flow has done all it can without the test: no workflow task pending, each
        running activity held by the test, or waiting out a retry's backoff (a gateway call's first
        two backoffs, one and two seconds, are waited out, so that its retry is held when the next
        step comes, whatever the machine's speed). A call retried many times that the test server
        shows as started while the worker does not run it is waiting out its backoff."""
        for _ in range(SETTLE_POLLS):
            await asyncio.sleep(SETTLE_POLL_S)
            description = await self.wf.describe()
            if description.status is not WorkflowExecutionStatus.RUNNING:
                return
            raw = description.raw_description
            held = {h.activity_id for h in self.world.held}
            busy_task = await self._task_pending() and not any(h.name in STORE_CALLS for h in self.world.held)
            if not busy_task and all(self._quiet(a, held) for a in raw.pending_activities):
                return
        raise AssertionError(f"the flow did not settle: {raw}")

    def _quiet(self, pending: PendingActivityInfo, held: set[str]) -> bool:
        """Held by the test, or waiting out a retry's backoff that is not due soon."""
        if pending.state == 1:
            return not _due_soon(pending)
        running = self.world.running[self.wf.id, pending.activity_id]
        return pending.activity_id in held or not (running or _due_soon(pending))

    async def _calm(self, answered: str | None) -> None:
        """Until the call answered last has reported and the flow has no workflow task pending
        (bounded: past the bound the next call is answered anyway)."""
        for _ in range(SETTLE_POLLS):
            description = await self.wf.describe()
            if description.status is not WorkflowExecutionStatus.RUNNING:
                return
            pending = {a.activity_id for a in description.raw_description.pending_activities}
            if answered not in pending and not await self._task_pending():
                return
            await asyncio.sleep(SETTLE_POLL_S)

    async def _task_pending(self) -> bool:
        """A workflow task scheduled or running (the test server's `describe` does not say)."""
        last = None
        async for event in self.wf.fetch_history_events():
            last = event
        return last is not None and last.event_type in TASK_PENDING

    async def drain(self) -> None:
        """The gateway and the SMS provider come back, every held call is answered, time runs out."""
        self.world.gateway_up = True
        self.world.slow.clear()
        self.stage.sms_state.fail_next = 0
        self.world.auto = True
        for held in list(self.world.held):  # one at a time, as `World._in_turn` answers
            if self.world.release(held.name, "ok"):
                await self.settle()
        bill = self.world.bills.get(self.request.intent_id)
        if bill is not None and bill.live and not self.cn_delivered:  # the gateway's callback, at last
            await self._callback("ok")
        for _ in range(DRAIN_ROUNDS):
            await self.settle()
            if (await self.wf.describe()).status is not WorkflowExecutionStatus.RUNNING:
                break
            await self.stage.env.sleep(SKIPS["days"])
        await asyncio.wait_for(asyncio.gather(*self.updates, return_exceptions=True), 30)

    # --- properties ------------------------------------------------------------------------------

    async def violations(self) -> list[str]:
        """The issue's properties (a)–(e) that this run broke, each said in a line."""
        found: list[str] = []
        description = await self.wf.describe()
        ended = description.status is not WorkflowExecutionStatus.RUNNING
        state = await self.wf.query(PaymentIntentWorkflow.status)
        payment = await self.stage.payments.by_intent(self.request.intent_id)
        assert payment is not None and payment.id is not None
        bill = self.world.bills.get(self.request.intent_id)
        for n in self.notifications:
            if n.valid and n.code != 0:
                found.append(f"(a) valid payment {n.report.transaction_id} answered {n.code}")
        if ended and state.status not in PAID and bill is not None and bill.live:
            found.append(f"(b) the flow ended at {state.status_name}; its bill is still payable")
        if not ended:
            found.append(f"(b) the flow did not end (at {state.status_name})")
        if int(state.status) != payment.status or (payment.control_number or None) != (
            state.control_number or None
        ):
            found.append(
                f"(c) store {payment.status} {payment.control_number}, "
                f"workflow {int(state.status)} {state.control_number}"
            )
        kinds = Counter(
            m["key"].split(":")[1]
            for m in self.stage.sms_state.messages.values()
            if m["key"].startswith(self.request.intent_id)
        )
        if kinds[SmsKind.CN_NOT_ASSIGNED] and (payment.control_number or (bill and bill.live)):
            found.append("(d) 'control number not assigned' sent while a number exists")
        for key, sends in self.stage.sms_sends.items():
            if key.startswith(self.request.intent_id) and sends > 1:
                found.append(f"(d) SMS {key.split(':', 1)[1]} sent {sends} times")
        if kinds[SmsKind.CN_NOT_ASSIGNED] and kinds[SmsKind.CN_ASSIGNED]:
            found.append("(d) both 'assigned' and 'not assigned' sent")
        found += [f"(e) {f}" for f in await self.findings(payment.id)]
        found += [f"(replay) {failure}" for failure in self.replay_failures]
        self.log.append(f"end: {state.status_name} store {payment.status} bill {bill} sms {dict(kinds)}")
        return found

    async def findings(self, payment_id: int) -> list[Finding]:
        sessions = self.stage.sessions
        premiums, _ = await premium_findings(sessions, "demo")
        every = premiums + await duplicate_findings(sessions, "demo") + await pool_findings(sessions, "demo")
        return [f for f in every if payment_id in (f.ids.get("payment"), *f.ids.get("payments", []))]

    async def close(self) -> None:
        """End the flow and wait for its activities: one still running would hold the test server's
        clock for the next run."""
        if self.handle is None:
            return
        try:
            await self.wf.terminate()
        except RPCError:
            pass
        self.world.intent_id = ""
        self.world.slow.clear()
        self.world.release_all("down")
        for task in self.updates:
            task.cancel()
        for _ in range(SETTLE_POLLS):
            if not any(n for (wf, _), n in self.world.running.items() if wf == self.wf.id):
                return
            await asyncio.sleep(SETTLE_POLL_S)


def _due_soon(pending: PendingActivityInfo) -> bool:
    """A scheduled activity the server hands out at once, or a gateway call's second or third attempt."""
    return pending.attempt <= 1 or (pending.activity_type.name in GATEWAY_CALLS and pending.attempt <= 3)


def explain(violations: list[str], log: list[str]) -> str:
    return "\n".join([*violations, "-- log:", *log])


def rejection_code(err: WorkflowUpdateFailedError) -> int:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == "PaymentRejected" and cause.details:
        return int(cause.details[0])
    return 3


async def play(stage: Stage, steps: list[Step]) -> tuple[list[str], list[str]]:
    """Run one sequence on `stage`; the properties it broke and a log of what happened."""
    run = Run(stage)
    try:
        await run.start()
        for step in steps:
            await run.step(step)
            run.log.append(f"{step}: {(await run.wf.query(PaymentIntentWorkflow.status)).status_name}")
        await run.drain()
        return await run.violations(), run.log
    finally:
        await run.close()
