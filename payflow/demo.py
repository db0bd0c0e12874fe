"""`payflow demo`: drive flow A and flow B against a running stack (`payflow dev`), showing progress.

Flow A: a self-payer renewal gets a control number, the gateway simulator pays it, and the intent is
matched (status 5). Flow B: a case is created and settled; the `case_settled` event is read from the
Events API and the revision from the Settlement API.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.json import JSON

DEMO_SETTLEMENT = Path(__file__).with_name("data") / "demo-settlement.json"
INTENT = {
    "phone_number": "0681333045",
    "request_date": "2026-11-20",
    "language": "en",
    "sms_required": True,
    "policies": [{"insurance_number": "070707070", "product_code": "FCUL0001", "renewal": True}],
}
console = Console()


class DemoError(Exception):
    pass


async def _token(http: httpx.AsyncClient, client: dict[str, Any]) -> dict[str, str]:
    r = await http.post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    if r.status_code != 200:
        raise DemoError(f"token for {client['client_id']} refused: {r.text}")
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def flow_a(http: httpx.AsyncClient, manifest: dict[str, Any]) -> None:
    auth = await _token(http, manifest["clients"]["demo-eo-app"])
    with console.status("flow A: creating a payment intent…"):
        r = await http.post("/v1/payment-intents?wait=10", json=INTENT, headers=auth)
        intent = r.json()
        if r.status_code != 201 or not intent.get("control_number"):
            raise DemoError(f"no control number: {r.text}")
    console.print(
        f"flow A: intent [bold]{intent['id']}[/bold] control number [bold]{intent['control_number']}[/bold]"
        f", {intent['amount_to_be_paid']} TZS to pay"
    )
    pay = {
        "control_number": intent["control_number"],
        "amount": intent["amount_to_be_paid"],
        "payer_phone": INTENT["phone_number"],
    }
    r = await http.post(f"{manifest['gateway_simulator']}/payments", json=pay)
    console.print(f"flow A: paid at the simulated PSP, transaction {r.json().get('transaction_id')}")
    with console.status("flow A: waiting for the match…"):
        for _ in range(200):
            state = (await http.get(f"/v1/payment-intents/{intent['id']}", headers=auth)).json()
            if state["status"] == 5:
                break
            await asyncio.sleep(0.1)
        else:
            raise DemoError(f"not matched: {state}")
    steps = " → ".join(f"{t['status']} {t['status_name']}" for t in state["timeline"])
    console.print(f"flow A: {steps}")
    messages: list[dict[str, Any]] = []
    for _ in range(100):  # the activation notice follows the match
        sms = (
            await http.get(f"{manifest['sms_simulator']}/messages", params={"to": INTENT["phone_number"]})
        ).json()
        messages = [m for m in sms["messages"] if intent["control_number"] in m["text"]]
        if len(messages) == 3:
            break
        await asyncio.sleep(0.1)
    for message in messages:
        console.print(f"  SMS to {message['to']}: {message['text']}")


async def flow_b(http: httpx.AsyncClient, manifest: dict[str, Any]) -> None:
    client = manifest["clients"]["demo-claims"]
    auth = await _token(http, client)
    tenant = client["tenant"]
    r = await http.post("/v1/cases", json={"number": "DEMO-4711", "policy_number": "P-1"}, headers=auth)
    case = r.json()
    console.print(f"flow B: case [bold]{case['number']}[/bold] ({case['id']})")
    settled = (
        await http.post(
            f"/v1/cases/{case['id']}/settlements", json=json.loads(DEMO_SETTLEMENT.read_text()), headers=auth
        )
    ).json()
    token = settled["revision_token"]
    console.print(f"flow B: settled, revision token [bold]{token}[/bold]")
    cursor = f"_{case['case_created_event_id'] - 1}"
    page = (
        await http.get(
            f"/api/events/v1/dk/external/{tenant}/receive", params={"lastEventId": cursor}, headers=auth
        )
    ).json()
    event = next(i for i in page["data"] if i["type"] == "case_settled")
    console.print(f"flow B: event {event['id']} from the Events API:")
    console.print(JSON.from_data(event["attributes"]))
    document = (
        await http.get(
            f"/webapp/ScalePoint/dk/case/{tenant}/revision/{token}",
            headers=auth | {"Accept": "application/vnd.scalepoint.content.settlement.v3+json"},
        )
    ).json()
    console.print("flow B: the revision from the Settlement API:")
    console.print(JSON.from_data(document))


async def run_demo(manifest_path: Path, flows: str) -> None:
    manifest = json.loads(manifest_path.read_text())
    async with httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http:
        if flows in ("all", "a"):
            await flow_a(http, manifest)
        if flows in ("all", "b"):
            await flow_b(http, manifest)
