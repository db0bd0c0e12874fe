"""The Temporal UI of `payflow dev` shows payloads decoded through the API's codec endpoint, although
Temporal holds only ciphertext (tests/dev_history.py): headless Chromium (Debian's `chromium`,
tests/setup-system.sh) screenshots a payment intent's page and reads its DOM."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest

from tests.api.test_get_control_number import SEED_SAMPLE
from tests.dev_history import PERSONAL, temporal_cli
from tests.test_dev_stack import _token, dev_stack
from tests.ui import CHROMIUM, chromium, listed


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (tests/setup-system.sh installs it)")
async def test_temporal_ui_shows_decoded_payloads(tmp_path: Path) -> None:
    async with (
        dev_stack(tmp_path, "internal") as manifest,
        httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http,
    ):
        headers = await _token(http, manifest, "demo-eo-app") | {"Content-Type": "application/json"}
        answer = (await http.post("/api/GetControlNumber", content=SEED_SAMPLE, headers=headers)).json()
        assert answer["control_number"], answer
        [execution] = await listed(manifest, f"ControlNumber = '{answer['control_number']}'")
        # a running workflow's page long-polls its history, and Chromium's virtual time waits for it
        await temporal_cli(
            manifest, "workflow", "terminate", "-w", execution["workflowId"], "--reason", "seen"
        )
        page = (
            f"{manifest['temporal_ui']}/namespaces/default/workflows/"
            f"{execution['workflowId']}/{execution['runId']}/history"
        )
        shot = tmp_path / "temporal-ui-decoded.png"
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:  # a short path: its socket
            dom = await chromium(Path(profile), page, "--dump-dom")
            await chromium(Path(profile), page, f"--screenshot={shot}")
    text = dom.decode()
    assert PERSONAL["payer phone"] in text and PERSONAL["insurance number"] in text
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
