"""Helpers for tests that look at a `payflow dev` stack's Temporal UI through headless Chromium
(Debian's `chromium`, tests/setup-system.sh): where the browser is, how to run it, how to find a
workflow the UI will show."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from tests.dev_history import temporal_cli

CHROMIUM = shutil.which("chromium")


async def chromium(profile: Path, url: str, *args: str) -> bytes:
    """Load `url` once (a profile per concurrent run); `--dump-dom` prints the DOM."""
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--window-size=1400,1600",
        *args,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    return out


async def listed(manifest: dict[str, Any], query: str, count: int = 1) -> list[dict[str, str]]:
    """The executions a visibility query finds, once it finds `count` (visibility lags behind)."""
    for _ in range(100):
        found = json.loads(await temporal_cli(manifest, "workflow", "list", "-o", "json", "--query", query))
        if len(found) >= count:
            return [dict(w["execution"]) for w in found]
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} workflows for {query}")
