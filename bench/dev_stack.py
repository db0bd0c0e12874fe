"""`payflow dev` as the system under test (`python -m bench p2 --stack dev`): the stack a newcomer runs.

One `payflow dev --cn-mode …` process group (the Temporal dev server with its UI, `payflow api` and
`payflow worker` as its children, the simulators in the dev process itself, SQLite, the demo tenant's
webhook endpoint at the receiver simulator), on free ports with its data dir in the run directory.
The benchmarks see it as a `Stack`: its `dev.json` gives the database, the codec keys and the demo
clients; the group's CPU is split per role by each process's command line.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client
from temporalio.converter import DataConverter

from bench.stack import READY_S, DecodeOnly, Stack, StackError, free_port, machine_busy_s, pid_cpu_s
from infra.codec import KeyRing

DEV_CLIENTS = {"eo": "demo-eo-app", "gateway": "demo-gateway", "claims": "demo-claims"}
"""The benchmark's client names → `payflow dev`'s demo clients (all of tenant `demo`)."""
ROLES = (("server start-dev", "temporal"), ("payflow.cli api", "api"), ("payflow.cli worker", "worker"))
"""A process of the group whose command line holds the first string has the second role; the rest
(the dev process with its simulators) is `dev`."""


class LogFile:
    """A log `payflow dev` writes for a child (the worker's, read by `Context.activity_failures`)."""

    def __init__(self, path: Path) -> None:
        self.log = path

    def log_count(self, needle: str) -> int:
        try:
            return self.log.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    async def stop(self) -> None:
        """Nothing to stop: the dev process stops its children."""


class DevStack(Stack):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.options.db != "sqlite":
            raise StackError("`payflow dev` runs on SQLite only: --stack dev takes no --db postgres")
        self.ports |= {k: free_port() for k in ("ui", "metrics")}
        self.data_dir = self.workdir / "dev"
        self.manifest: dict[str, Any] = {}

    async def start(self) -> None:
        started = time.monotonic()
        source = self.sut.payflow.parents[2]  # the tree of an editable install: <tree>/.venv/bin/payflow
        settlement = source / "payflow" / "data" / "demo-settlement.json"
        if not settlement.exists():
            raise StackError(f"no payflow tree at {source} (expected {settlement})")
        await self.start_app()
        self.db_url = self.manifest["database"]
        self.info = {"clients": self.clients, "demo_settlement": str(settlement), "source": str(source)}
        self.db = create_async_engine(self.db_url)
        ring = KeyRing.load("", Path(self.manifest["codec_keys"]))
        self.temporal = await Client.connect(
            self.temporal_address, data_converter=DataConverter(payload_codec=DecodeOnly(ring))
        )
        async with httpx.AsyncClient() as http:  # the simulated gateway's delay is not payflow's
            await http.post(f"{self.url['gateway']}/_sim/behaviour", json={"delay_ms": 0})
        self.info["ready_after_s"] = round(time.monotonic() - started, 1)

    def spawn_app(self) -> None:
        p = self.ports
        flags = {
            "--api-port": p["api"],
            "--temporal-port": p["temporal"],
            "--ui-port": p["ui"],
            "--gateway-port": p["gateway"],
            "--sms-port": p["sms"],
            "--receiver-port": p["receiver"],
            "--worker-metrics-port": p["metrics"],
            "--data-dir": self.data_dir,
            "--cn-mode": self.options.cn_mode,
        }
        args = [str(a) for pair in flags.items() for a in pair]
        (self.data_dir / "dev.json").unlink(missing_ok=True)  # a restart's earlier one
        self.apps = [self.spawn("dev", [str(self.sut.payflow), "dev", *args], self.options.env)]

    async def app_ready(self) -> None:
        """Ready once the dev process wrote `dev.json` (it does when the API and the worker answer)."""
        dev, path = self.apps[0], self.data_dir / "dev.json"
        deadline = time.monotonic() + 2 * READY_S
        while True:
            if not dev.alive():
                raise StackError(f"payflow dev exited; see {dev.log}")
            try:
                found = json.loads(path.read_text())
            except (OSError, ValueError):
                found = {}
            if "clients" in found and found.get("pid", dev.pid) == dev.pid:  # older ones name no pid
                break
            if time.monotonic() > deadline:
                raise StackError(f"payflow dev not ready in {2 * READY_S:g} s; see {dev.log}")
            await asyncio.sleep(0.2)
        self.manifest = found
        self.clients = {name: found["clients"][client] for name, client in DEV_CLIENTS.items()}
        self.workers = [LogFile(Path(found["logs"]["worker"]))]  # type: ignore[list-item]

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per role: the dev group's split by command line, other processes by name."""
        used: dict[str, float] = {}
        dev = self.apps[0] if self.apps else None
        for name, proc in self.procs.items():
            if not proc.alive():
                continue
            for pid in proc.group():
                role = _role(pid) if proc is dev else name
                used[role] = used.get(role, 0.0) + pid_cpu_s(pid)
        used["bench"] = time.process_time()
        used["machine"] = machine_busy_s()
        return used

    def role_processes(self, roles: list[str]) -> list[RoleProcess]:
        """The dev group's processes of these roles (`profile` attaches py-spy to each)."""
        group = self.apps[0].group() if self.apps else []
        return [RoleProcess(role, pid) for pid in group if (role := _role(pid)) in roles]


class RoleProcess:
    """A process of the dev group, named by its role."""

    def __init__(self, name: str, pid: int) -> None:
        self.name, self.pid = name, pid


def _role(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "dev"
    return next((role for needle, role in ROLES if needle in cmd), "dev")
