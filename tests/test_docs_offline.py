"""/docs and /redoc work without internet (air-gapped openIMIS sites): their scripts and styles come
from the installed packages, and headless Chromium with no network but loopback renders them."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from infra.settings import Settings
from tests.ui import CHROMIUM

SCREENSHOTS = Path(__file__).with_name("screenshots")
"""A copy of the screenshots for people to look at (git-ignored)."""
UNSHARE = shutil.which("unshare")


async def test_docs_pages_load_nothing_from_outside(signing_key: Path) -> None:
    app = create_app(Settings(jwt_private_key_path=signing_key))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        for page in ("/docs", "/redoc"):
            html = (await http.get(page)).text
            assert not re.findall(r"(?:src|href)=[\"']?(?:https?:)?//", html), html
            assets = re.findall(r"(?:src|href)=[\"']?(/[^\"' >]+)", html)
            assert assets, html
            for asset in assets:
                r = await http.get(asset)
                assert r.status_code == 200 and len(r.content) > 1000, asset


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (tests/setup-system.sh installs it)")
@pytest.mark.skipif(UNSHARE is None, reason="no unshare (util-linux)")
async def test_docs_in_chromium_with_only_loopback(tmp_path: Path, signing_key: Path) -> None:
    """The browser and the API in a network namespace of their own with loopback alone (as root)."""
    script = f"ip link set lo up && exec {sys.executable} -m tests.docs_offline {tmp_path} {signing_key}"
    process = await asyncio.create_subprocess_exec(
        str(UNSHARE),
        "--net",
        "sh",
        "-c",
        script,
        cwd=Path(__file__).parents[1],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode()
    docs = (tmp_path / "docs.html").read_text()
    operations = re.findall(r'class="opblock-summary-path"[^>]*data-path="([^"]+)"', docs)
    assert {"/api/GetControlNumber", "/connect/token", "/v1/payment-intents"} <= set(operations), docs[:2000]
    redoc = (tmp_path / "redoc.html").read_text()
    assert "GetControlNumber" in redoc and "api-content" in redoc, redoc[:2000]
    SCREENSHOTS.mkdir(exist_ok=True)
    for page in ("docs", "redoc"):
        shot = tmp_path / f"{page}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        shutil.copy(shot, SCREENSHOTS / f"api-{page}-offline.png")
        print(f"screenshot: {shot}")
