"""An operator finds and reads flows in the Temporal UI of `payflow dev`: the README's saved queries
find the payments waiting for a match, the failed deliveries of an endpoint and the cases of a tenant;
the list filtered by control number and a payment's detail page (summary, details, current details
with the next step and its time) are screenshot by headless Chromium and read in its DOM."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.api.test_get_control_number import SEED_SAMPLE
from tests.dev_history import temporal_cli
from tests.test_dev_stack import _token, dev_stack
from tests.ui import CHROMIUM, chromium, listed
from workflows.claim import case_workflow_id

README = Path(__file__).parents[1] / "docs" / "operations.md"  # the cheat sheet moved from README.md
SCREENSHOTS = Path(__file__).with_name("screenshots")
"""A copy of the screenshots for people to look at (git-ignored)."""
SAVED = {
    "waiting for a match": "WorkflowType = 'PaymentIntentWorkflow' AND PaymentStatus = 'RECEIVED' "
    "AND ExecutionStatus = 'Running'",
    "failed deliveries": "WorkflowType = 'WebhookDeliveryWorkflow' AND EndpointId = '$ENDPOINT' "
    "AND DeliveryStatus = 'failed'",
    "cases of a tenant": "WorkflowType = 'ClaimWorkflow' AND Tenant = '$TENANT'",
}
"""The README's cheat sheet, `$NAME` standing for what the operator fills in."""
UNMATCHED_PAYMENT = {  # a payment without an intent for an unknown insuree: stays 4 RECEIVED
    "transaction_identification": "TX-OPS-1",
    "receipt_identification": "R-OPS-1",
    "received_amount": 23000,
    "received_date": "2026-11-22",
    "payment_date": "2026-11-22",
    "payment_origin": "M-Pesa",
    "payer_phone_number": "0754999888",
    "insurance_number": "555555555",
    "insurance_product_code": "FCUL0001",
    "renewal": 0,
}


def _text(dom: bytes) -> str:
    """The page's text, tags dropped; the UI renders user metadata (markdown) in iframes whose `src`
    carries it, so their markdown counts as text too."""
    page = dom.decode()
    frames = re.findall(r'<iframe[^>]*src="([^"]+)"', page)
    rendered = [parse_qs(urlsplit(unescape(src)).query).get("content", [""])[0] for src in frames]
    return re.sub(r"\s+", " ", " ".join([re.sub(r"<[^>]+>", " ", page), *rendered]).replace("**", ""))


async def _page(url: str, shot: Path, ready: str) -> str:
    """The page's text once it shows `ready` (a cold first load may miss the decoded parts within
    Chromium's virtual-time budget), and its screenshot, taken after."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:  # a short path: its socket
        for _ in range(3):
            text = _text(await chromium(Path(profile), url, "--dump-dom"))
            if ready in text:
                break
        await chromium(Path(profile), url, f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / shot.name)
    return text


async def _start_flows(http: httpx.AsyncClient, manifest: dict[str, Any]) -> tuple[str, str]:
    """A payment with its control number, an unmatched payment, a case; every delivery fails."""
    await http.post(f"{manifest['receiver_simulator']}/_sim/behaviour", json={"down": True})
    eo = await _token(http, manifest, "demo-eo-app") | {"Content-Type": "application/json"}
    answer = (await http.post("/api/GetControlNumber", content=SEED_SAMPLE, headers=eo)).json()
    assert answer["control_number"], answer
    gateway = await _token(http, manifest, "demo-gateway")
    r = await http.post("/api/GetPaymentData", json=UNMATCHED_PAYMENT, headers=gateway)
    assert r.json()["errorOccured"] is False, r.text
    claims = await _token(http, manifest, "demo-claims")
    r = await http.post("/v1/cases", json={"number": "OPS-1"}, headers=claims)
    assert r.status_code == 201, r.text
    return str(answer["control_number"]), case_workflow_id("demo", r.json()["id"])


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (tests/setup-system.sh installs it)")
async def test_operator_finds_and_reads_flows_in_the_temporal_ui(tmp_path: Path) -> None:
    readme = README.read_text()
    assert [name for name, query in SAVED.items() if query not in readme] == []
    schedule = {"PAYFLOW_WEBHOOK_SCHEDULE": "0"}  # one attempt: a delivery to a down receiver fails at once
    async with (
        dev_stack(tmp_path, "internal", schedule) as manifest,
        httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http,
    ):
        cn, case_id = await _start_flows(http, manifest)
        [payment] = await listed(manifest, f"ControlNumber = '{cn}'")
        [waiting] = await listed(manifest, SAVED["waiting for a match"])
        assert waiting["workflowId"].startswith("payment-intent-") and waiting != payment
        endpoint = manifest["demo_endpoint"]
        failed = await listed(manifest, SAVED["failed deliveries"].replace("$ENDPOINT", endpoint), count=3)
        assert all(re.fullmatch(rf"delivery-\d+-{endpoint}", w["workflowId"]) for w in failed)
        other = SAVED["failed deliveries"].replace("$ENDPOINT", "ep_other")
        assert await listed(manifest, other, count=0) == []
        cases = await listed(manifest, SAVED["cases of a tenant"].replace("$TENANT", "demo"))
        assert [w["workflowId"] for w in cases] == [case_id]
        # a running workflow's page long-polls its history, and Chromium's virtual time waits for it
        await temporal_cli(manifest, "workflow", "terminate", "-w", payment["workflowId"], "--reason", "seen")
        ui = f"{manifest['temporal_ui']}/namespaces/default/workflows"
        by_cn = f'ControlNumber="{cn}"'
        listing, detail = await asyncio.gather(
            _page(f"{ui}?query={quote(by_cn)}", tmp_path / "ui-list-by-control-number.png", cn),
            _page(
                f"{ui}/{payment['workflowId']}/{payment['runId']}/user-metadata",
                tmp_path / "ui-payment-detail.png",
                "Amount to be paid",
            ),
        )
    assert cn in listing and payment["workflowId"] in listing
    assert "Payment intent: 1 policy (FCUL0001), officer E00005" in detail  # static summary
    assert "Control number mode: internal" in detail  # static details
    assert f"Status: 3 ASSIGNED Control number: {cn} Amount to be paid: 21,000.00" in detail
    next_step = r"Next: wait for payment until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(reminder "
    assert re.search(next_step, detail), detail
