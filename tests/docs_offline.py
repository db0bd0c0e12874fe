"""Run inside a network namespace that has only loopback (tests/test_docs_offline.py): serve the API's
/docs and /redoc on 127.0.0.1 and load each in headless Chromium, writing its DOM and a screenshot.

`python -m tests.docs_offline OUT_DIR SIGNING_KEY`; the API runs without its lifespan (no Temporal, no
database): the documentation pages need neither."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvicorn

from api.app import create_app
from infra.settings import Settings
from payflow.servers import free_port
from tests.ui import chromium

PAGES = ("docs", "redoc")


async def main(out: Path, signing_key: Path) -> None:
    port = free_port()
    app = create_app(Settings(jwt_private_key_path=signing_key))
    server = uvicorn.Server(uvicorn.Config(app, port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.05)
    try:
        for page in PAGES:
            url = f"http://127.0.0.1:{port}/{page}"
            (out / f"{page}.html").write_bytes(await chromium(out / "profile", url, "--dump-dom"))
            await chromium(out / "profile", url, f"--screenshot={out / f'{page}.png'}")
    finally:
        server.should_exit = True
        await task


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
