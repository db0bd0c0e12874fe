"""A worker with the real activities on a given Temporal environment, with simulators as HTTP peers."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle

from domain.intent import CNMode, IntentLine, IntentOptions, PaymentIntentInput
from domain.registry import PolicyStage
from infra.codec import EncryptionCodec
from infra.settings import Settings
from payflow.servers import free_port, serve
from payflow.workers import worker
from simulators import gateway, sms
from simulators.gateway import GatewayState
from simulators.sms import SmsState
from tests.keys import CONVERTER
from workflows.payment_intent import PaymentIntentWorkflow

HISTORIES = Path(__file__).parents[1] / "histories" / "payment_intent"


@dataclass
class Harness:
    client: Client
    settings: Settings
    sms: SmsState
    gateway: GatewayState

    async def start(self, mode: CNMode, **changes: Any) -> WorkflowHandle[Any, Any]:
        request = intent_input(mode, **changes)
        return await self.client.start_workflow(
            PaymentIntentWorkflow.run,
            request,
            id=f"payment-intent-{request.intent_id}",
            task_queue=self.settings.task_queue,
        )


def intent_input(mode: CNMode, **changes: Any) -> PaymentIntentInput:
    fields: dict[str, Any] = {
        "intent_id": str(uuid.uuid4()),
        "tenant": "demo",
        "phone_number": "0681333045",
        "request_date": date(2026, 11, 20),
        "officer_code": "E00005",
        "lines": [
            IntentLine(insurance_number="070707070", product_code="FCUL0001", stage=PolicyStage.RENEWAL)
        ],
        "sms_required": True,
        "options": IntentOptions(cn_mode=mode),
    }
    return PaymentIntentInput(**(fields | changes))


@asynccontextmanager
async def harness(client: Client, db_url: str) -> AsyncIterator[Harness]:
    sms_port, gw_port = free_port(), free_port()
    settings = Settings(
        database_url=db_url,
        task_queue=f"payflow-wf-{uuid.uuid4()}",
        gateway_url=f"http://127.0.0.1:{gw_port}",
        sms_url=f"http://127.0.0.1:{sms_port}",
    )
    sms_app, gw_app = sms.create_app(), gateway.create_app()
    gw_app.state.sim.behaviour.callback = "hold"  # tests deliver control numbers themselves
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve(sms_app, sms_port))
        await stack.enter_async_context(serve(gw_app, gw_port))
        await stack.enter_async_context(worker(client, settings))
        yield Harness(client, settings, sms_app.state.sim, gw_app.state.sim)


async def record(handle: WorkflowHandle[Any, Any], scenario: str) -> None:
    """With PAYFLOW_RECORD_HISTORIES=1, keep this run's history for the replay tests.

    An existing file is never overwritten: it stands for workflows started by an earlier release.
    """
    target = (HISTORIES / f"{scenario}.json").resolve()
    if os.environ.get("PAYFLOW_RECORD_HISTORIES") != "1" or target.exists():
        return
    history = await handle.fetch_history()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(plain(json.loads(history.to_json())), indent=1))


def plain(node: Any) -> Any:
    """The history with every payload decrypted: the run's codec key is made per test run, so a kept
    history carries its payloads in clear (as the codec passes them through on replay)."""
    if isinstance(node, list):
        return [plain(n) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) <= {"metadata", "data"} and isinstance(node.get("metadata"), dict):
        codec = CONVERTER.payload_codec
        assert isinstance(codec, EncryptionCodec)
        opened = codec.decrypt(
            Payload(
                metadata={k: base64.b64decode(v) for k, v in node["metadata"].items()},
                data=base64.b64decode(node.get("data", "")),
            )
        )
        return {
            "metadata": {k: base64.b64encode(v).decode() for k, v in opened.metadata.items()},
            "data": base64.b64encode(opened.data).decode(),
        }
    return {k: plain(v) for k, v in node.items()}
