"""What an operator sees of a `payflow dev` stack's Temporal history through the `temporal` CLI, with
and without the codec endpoint: personal data must show only through the codec."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import sys
from pathlib import Path
from typing import Any

TEMPORAL = str(Path(sys.executable).with_name("temporal"))
PERSONAL = {
    "payer phone": "0681333045",
    "insurance number": "070707070",
    "claimant name": "Mette Jensen",
    "CPR number": "0101801234",
    "street address": "Vestergade 2",
    "handler e-mail": "hh@insurer.example",
}
"""From `payflow demo`: flow A's intent (payflow/demo.py) and flow B's settlement (demo-settlement.json)."""


async def temporal_cli(manifest: dict[str, Any], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        TEMPORAL,
        *args,
        "--address",
        manifest["temporal"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()


def readable(node: Any) -> list[str]:
    """Every string in a `-o json` document, payload data base64-decoded (the CLI prints a payload's
    bytes in base64 even when they are plain JSON: base64 is no protection)."""
    if isinstance(node, dict):
        found = [s for value in node.values() for s in readable(value)]
        if isinstance(node.get("metadata"), dict) and isinstance(node.get("data"), str):
            try:
                found.append(base64.b64decode(node["data"]).decode(errors="replace"))
            except binascii.Error:
                pass
        return found
    if isinstance(node, list):
        return [s for value in node for s in readable(value)]
    return [node] if isinstance(node, str) else []


async def histories(manifest: dict[str, Any], *codec: str) -> str:
    """Every workflow's history (`temporal workflow show -o json`) and list entry, as readable text."""
    listed = json.loads(await temporal_cli(manifest, "workflow", "list", "-o", "json", *codec))
    ids = sorted({w["execution"]["workflowId"] for w in listed})
    shown = await asyncio.gather(
        *(temporal_cli(manifest, "workflow", "show", "-w", i, "-o", "json", *codec) for i in ids)
    )
    return "\n".join(readable(listed) + [s for doc in shown for s in readable(json.loads(doc))])


async def assert_personal_data_only_through_codec(manifest: dict[str, Any], support_token: str) -> None:
    raw = await histories(manifest)
    assert "PaymentIntentWorkflow" in raw and "ClaimWorkflow" in raw
    assert not {what for what, value in PERSONAL.items() if value in raw}, "in clear in Temporal"
    codec = ("--codec-endpoint", manifest["codec_endpoint"], "--codec-auth", f"Bearer {support_token}")
    decoded = await histories(manifest, *codec)
    assert {what for what, value in PERSONAL.items() if value not in decoded} == set()
