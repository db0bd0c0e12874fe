"""Peers a fault test can take down and bring back: its own Temporal dev server, a cuttable TCP path.

The session's `dev_env` is shared by every test and must stay up, so an outage of Temporal is played
on a dev server of the test's own (the installed `temporal` binary, as `payflow dev` runs it), stopped
with SIGKILL and started again on the same SQLite file and port. A database outage is a TCP proxy in
front of the real PostgreSQL that refuses and drops connections while it is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RetryConfig

from payflow.servers import free_port
from payflow.temporal_setup import dev_server_flags
from tests.keys import CONVERTER

TEMPORAL = Path(sys.executable).parent / "temporal"
GIVE_UP_MS = 1000
"""How long the stack's client retries a call to a stopped server before it raises UNAVAILABLE (the
SDK's default is 10 s): the API answers its 503 as it would after 10 s, each test waits 9 s less."""


class TemporalServer:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._db = directory / "t.db"
        self._log = directory / "temporal.log"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 30) -> None:
        with self._log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                str(TEMPORAL),
                "server",
                "start-dev",
                "--db-filename",
                str(self._db),
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--headless",
                "--log-level",
                "warn",
                "--dynamic-config-value",
                "frontend.enableExecuteMultiOperation=true",
                *dev_server_flags(),
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout_s
        while True:  # ready once a fresh client connects (a new client fails at once, no retries)
            if self._process.returncode is not None:
                raise RuntimeError(f"temporal exited with {self._process.returncode}: {self._log}")
            try:
                await Client.connect(self.address)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Kill the server, as a crash or an operator would; its SQLite file stays."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGKILL)
            await self._process.wait()
        self._process = None

    async def client(self) -> Client:
        """A client for the stack (API and worker); its long polls still retry until the server is back."""
        retries = RetryConfig(max_elapsed_time_millis=GIVE_UP_MS)
        return await Client.connect(self.address, data_converter=CONVERTER, retry_config=retries)


class TcpProxy:
    """127.0.0.1:port → target; `cut()` closes the listener and drops every open connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
