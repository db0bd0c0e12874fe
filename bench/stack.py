"""The system under test in its production process layout, started from a given `payflow` install.

Separate processes, each in its own session (stopped by its pid's group): a Temporal dev server with
a database file, the gateway / SMS / webhook-receiver simulators under uvicorn, `payflow api` and
`payflow worker` (N of each, `PAYFLOW_*` settings in the environment), on SQLite or a throw-away
PostgreSQL database. The benchmark process only drives load: it shares the machine, not a loop.

`--payflow PATH` picks the install (its venv's python runs the simulators and the peers), so a
checkout of an older commit can be measured with this benchmark code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec

from infra.codec import EncryptionCodec, KeyRing

PEERS = Path(__file__).with_name("peers")
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
READY_S = 60.0


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class Sut:
    """A payflow install: its `payflow` command and the interpreter and binaries beside it."""

    payflow: Path

    @property
    def python(self) -> Path:
        return self.payflow.with_name("python")

    def binary(self, name: str) -> str:
        beside = self.payflow.with_name(name)
        found = str(beside) if beside.exists() else shutil.which(name)
        if not found:
            raise StackError(f"`{name}` is neither beside {self.payflow} nor on PATH")
        return found

    def can(self, *args: str) -> bool:
        """Whether `payflow ARGS --help` mentions all of `args[-1]` (e.g. `api --workers`)."""
        *command, flag = args
        out = subprocess.run(
            [str(self.payflow), *command, "--help"], capture_output=True, text=True, check=False
        )
        return flag in out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process in its own session; `stop` signals its group (it and its own children)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logs: Path, cwd: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        self._out = self.log.open("ab")
        self.popen = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def group(self) -> list[int]:
        """Pids of the process group (uvicorn workers, say)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[2]) == self.pid:
                    pids.append(int(entry.name))
        return pids

    def cpu_s(self) -> float:
        """User + system CPU seconds of the group so far."""
        return sum(pid_cpu_s(pid) for pid in self.group())

    def memory_mb(self) -> dict[str, float]:
        """Resident set size now and at its peak (VmRSS / VmHWM), summed over the group."""
        found = {"rss_mb": 0.0, "peak_rss_mb": 0.0}
        for pid in self.group():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            for line in lines:
                key = {"VmRSS:": "rss_mb", "VmHWM:": "peak_rss_mb"}.get(line.split(maxsplit=1)[0])
                if key:
                    found[key] += int(line.split()[1]) / 1024
        return {k: round(v, 1) for k, v in found.items()}

    def log_count(self, needle: str) -> int:
        self._out.flush()
        try:
            return self.log.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    def kill(self) -> None:
        """SIGKILL the group at once, as a crash would (no shutdown code runs)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait()
        self._out.close()

    async def stop(self, grace_s: float = 15.0) -> None:
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace_s
            while self.alive() and time.monotonic() < deadline:  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.1)
            if self.alive():
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait()
        self._out.close()


@dataclass
class StackOptions:
    db: str = "sqlite"
    cn_mode: str = "internal"
    api_workers: int = 1
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    """Extra PAYFLOW_* settings for the API and the workers."""


class Stack:
    """Start with `async with Stack(...)`; `restart_app` swaps the API and workers' settings."""

    def __init__(self, sut: Sut, options: StackOptions, workdir: Path) -> None:
        self.sut = sut
        self.options = options
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ports = {k: free_port() for k in ("temporal", "api", "gateway", "sms", "receiver")}
        self.url = {k: f"http://127.0.0.1:{p}" for k, p in self.ports.items() if k != "temporal"}
        self.temporal_address = f"127.0.0.1:{self.ports['temporal']}"
        self.task_queue = "payflow"
        self.procs: dict[str, Proc] = {}
        self.apps: list[Proc] = []
        self.workers: list[Proc] = []
        self.clients: dict[str, dict[str, str]] = {}
        self.info: dict[str, Any] = {}
        self.db_url = ""
        self.key = workdir / "jwt-signing-key.pem"
        self.codec_key = f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}"
        """Payload encryption on, as in production (the codec's cost is part of what is measured)."""
        self.search_hash_key = secrets.token_hex(32)
        self._pg_name: str | None = None
        self._tokens: dict[str, str] = {}
        self.temporal: Client
        self.db: AsyncEngine

    async def __aenter__(self) -> Stack:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- start and stop ----------------------------------------------------------------------

    async def start(self) -> None:
        started = time.monotonic()
        self.db_url = await self._database()
        self.info = await self.sut_task("prepare", "--db-url", self.db_url, "--key", str(self.key))
        self.clients = self.info["clients"]
        self.spawn("temporal", self.temporal_command())
        gateway = self.clients["gateway"]
        sim_env = {
            "PAYFLOW_SIM_TOKEN_URL": f"{self.url['api']}/connect/token",
            "PAYFLOW_SIM_CLIENT_ID": gateway["client_id"],
            "PAYFLOW_SIM_CLIENT_SECRET": gateway["client_secret"],
        }
        for name, factory in (
            ("gateway", "simulators.gateway:create_app"),
            ("sms", "simulators.sms:create_app"),
            ("receiver", "receiver_stats:create_app"),
        ):
            self.spawn(name, self.uvicorn(factory, self.ports[name]), sim_env)
        self.db = create_async_engine(self.db_url)
        self.temporal = await self._connect()
        self.spawn_app()
        for name in ("gateway", "sms", "receiver"):
            await self.wait_http(f"{self.url[name]}/openapi.json", self.procs[name])
        async with httpx.AsyncClient() as http:  # the simulated gateway's delay is not payflow's
            await http.post(f"{self.url['gateway']}/_sim/behaviour", json={"delay_ms": 0})
        await self.app_ready()
        self.info["ready_after_s"] = round(time.monotonic() - started, 1)

    def temporal_command(self) -> list[str]:
        """The Temporal dev server on the run's database file (a crash test starts it again on it)."""
        return [
            self.sut.binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.workdir / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.ports["temporal"]),
            "--headless",
            "--log-level",
            "warn",
            "--dynamic-config-value",
            "frontend.enableExecuteMultiOperation=true",
            *self.info["temporal_flags"],
        ]

    def uvicorn(self, factory: str, port: int) -> list[str]:
        return [
            str(self.sut.python),
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--app-dir",
            str(PEERS),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of the API and the workers (and of the peers sharing their database)."""
        settings = {
            "PAYFLOW_DATABASE_URL": self.db_url,
            "PAYFLOW_TEMPORAL_ADDRESS": self.temporal_address,
            "PAYFLOW_TASK_QUEUE": self.task_queue,
            "PAYFLOW_API_URL": self.url["api"],
            "PAYFLOW_GATEWAY_URL": self.url["gateway"],
            "PAYFLOW_SMS_URL": self.url["sms"],
            "PAYFLOW_CN_MODE": self.options.cn_mode,
            "PAYFLOW_JWT_PRIVATE_KEY_PATH": str(self.key),
            "PAYFLOW_CODEC_KEYS": self.codec_key,
            "PAYFLOW_SEARCH_HASH_KEY": self.search_hash_key,
            "PAYFLOW_WEBHOOK_ALLOW_HOSTS": "127.0.0.1,localhost",
            "PAYFLOW_DATA_DIR": str(self.workdir),
        }
        return settings | self.options.env | overrides

    def spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Proc:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PAYFLOW_")}
        proc = Proc(name, cmd, base | (env or {}), self.logs, self.workdir)
        self.procs[name] = proc
        return proc

    def spawn_app(self) -> None:
        """`payflow worker` × N and `payflow api` (with `--workers` when there is more than one)."""
        env = self.env()
        self.workers = [
            self.spawn(f"worker-{n}", [str(self.sut.payflow), "worker"], env)
            for n in range(self.options.workers)
        ]
        api = [str(self.sut.payflow), "api", "--port", str(self.ports["api"])]
        if self.options.api_workers > 1:
            if not self.sut.can("api", "--workers"):
                raise StackError("this payflow's `api` has no --workers option")
            api += ["--workers", str(self.options.api_workers)]
        self.apps = [self.spawn("api", api, env)]

    async def app_ready(self) -> None:
        await self.wait_http(f"{self.url['api']}/healthz", self.apps[0])
        for w in self.workers:
            await self.wait_log(w, "worker polling")

    async def start_app(self) -> None:
        self.spawn_app()
        await self.app_ready()

    async def stop_app(self) -> None:
        await asyncio.gather(*(p.stop() for p in [*self.apps, *self.workers]))
        self.apps, self.workers = [], []

    async def restart_app(self, cn_mode: str | None = None, **env: str) -> None:
        await self.stop_app()
        if cn_mode:
            self.options.cn_mode = cn_mode
        self.options.env |= env
        self._tokens.clear()
        await self.start_app()

    async def close(self) -> None:
        await asyncio.gather(*(p.stop() for p in reversed(self.procs.values())), return_exceptions=True)
        if hasattr(self, "db"):
            await self.db.dispose()
        if self._pg_name:
            engine = create_async_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
            async with engine.connect() as c:
                await c.execute(text(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
            await engine.dispose()

    async def _database(self) -> str:
        if self.options.db == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / 'payflow.db'}"
        if self.options.db != "postgres":
            raise StackError(f"unknown --db {self.options.db!r}")
        self._pg_name = f"payflow_bench_{uuid.uuid4().hex[:10]}"
        engine = create_async_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as c:
                await c.execute(text(f'CREATE DATABASE "{self._pg_name}"'))
        except OSError as err:
            raise StackError(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {err}") from err
        finally:
            await engine.dispose()
        return f"{POSTGRES}/{self._pg_name}"

    async def _connect(self) -> Client:
        deadline = time.monotonic() + READY_S
        while True:
            if not self.procs["temporal"].alive():
                raise StackError(f"the Temporal dev server exited; see {self.procs['temporal'].log}")
            try:
                return await Client.connect(
                    self.temporal_address,
                    data_converter=DataConverter(payload_codec=DecodeOnly(KeyRing.parse([self.codec_key]))),
                )
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def wait_http(self, url: str, proc: Proc) -> None:
        deadline = time.monotonic() + READY_S
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                if not proc.alive():
                    raise StackError(f"{proc.name} exited; see {proc.log}")
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise StackError(f"{proc.name} not ready at {url} in {READY_S:g} s; see {proc.log}")
                await asyncio.sleep(0.2)

    async def wait_log(self, proc: Proc, needle: str) -> None:
        deadline = time.monotonic() + READY_S
        while not proc.log_count(needle):
            if not proc.alive():
                raise StackError(f"{proc.name} exited; see {proc.log}")
            if time.monotonic() > deadline:
                raise StackError(f"{proc.name} did not print {needle!r} in {READY_S:g} s; see {proc.log}")
            await asyncio.sleep(0.2)

    # --- helpers for the benchmarks ------------------------------------------------------------

    async def sut_task(self, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run bench/peers/sut_tasks.py with the interpreter under test; its JSON answer."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("PAYFLOW_")}
        out = await _run([str(self.sut.python), str(PEERS / "sut_tasks.py"), *args], base | (env or {}))
        return dict(json.loads(out.strip().splitlines()[-1]))

    async def token(self, client: str) -> str:
        if client not in self._tokens:
            c = self.clients[client]
            async with httpx.AsyncClient(timeout=30) as http:
                r = await http.post(
                    f"{self.url['api']}/connect/token",
                    data={"grant_type": "client_credentials"},
                    auth=(c["client_id"], c["client_secret"]),
                )
            r.raise_for_status()
            self._tokens[client] = r.json()["access_token"]
        return self._tokens[client]

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.db.connect() as c:
            return (await c.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.db.connect() as c:
            return list((await c.execute(text(sql), params)).all())

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each process of the stack (API and workers summed per role)."""
        used: dict[str, float] = {}
        for name, proc in self.procs.items():
            if proc.alive():
                role = "worker" if name.startswith("worker-") else name
                used[role] = used.get(role, 0.0) + proc.cpu_s()
        used["bench"] = time.process_time()
        used["machine"] = machine_busy_s()
        return used


def pid_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every process of the machine used so far (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def _run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise StackError(f"{' '.join(cmd[:3])} … failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    return out.decode()


def cpu_share(before: dict[str, float], after: dict[str, float], wall_s: float) -> dict[str, int]:
    """Percent of one core each role used between two `Stack.cpu` readings; `others` is what processes
    outside this benchmark used meanwhile (other people's tests on a shared machine)."""
    if wall_s <= 0:
        return {}
    share = {k: round(100 * (after[k] - before.get(k, 0.0)) / wall_s) for k in after}
    machine = share.pop("machine")
    share["others"] = max(0, machine - sum(share.values()))
    return share


class DecodeOnly(PayloadCodec):
    """The benchmark's client reads payflow's encrypted results and histories, and sends in clear: the
    bare workflows' worker has no keys, and payflow's codec passes clear payloads through."""

    def __init__(self, ring: KeyRing) -> None:
        self._codec = EncryptionCodec(ring)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._codec.decode(payloads)
