"""Run an ASGI app on 127.0.0.1 inside the current event loop (dev stack and tests)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from fastapi import FastAPI

PORTS = range(20000, 32000)
"""Below Linux's ephemeral range (32768+), where outgoing connections and port-0 servers take
ports between the moment one is chosen here and the moment it is bound."""


class PortBusy(RuntimeError):
    pass


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    for _ in range(200):
        port = random.choice(PORTS)
        if port_free(port):
            return port
    raise RuntimeError("no free port between 20000 and 32000")


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals to the owner of the process (the dev stack or pytest)."""
        yield


@asynccontextmanager
async def serve(app: FastAPI, port: int, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL once it accepts connections."""
    if not port_free(port, host):
        raise PortBusy(f"port {port} on {host} is in use")
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"server on port {port} stopped during start-up")
        await asyncio.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
