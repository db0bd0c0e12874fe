"""The `payflow` command: dev stack, worker, API, Temporal set-up, registry import, OAuth clients."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from infra import logs
from infra.settings import DevStackNotFound, Settings, dev_stack_env, get_settings
from payflow.cli.cases import cases_app
from payflow.cli.codec import codec_app
from payflow.cli.events import events_app
from payflow.cli.output import JsonFlag, console, err, exit_hard, fail, show_fields, show_rows
from payflow.cli.payments import payments_app
from payflow.cli.reconciliation import reconciliation_app
from payflow.cli.webhooks import deliveries_app, endpoints_app

app = typer.Typer(help="payflow: durable payment processes on Temporal.", no_args_is_help=True)
registry_app = typer.Typer(help="The openIMIS registry (products, officers, families, policies).")
clients_app = typer.Typer(help="OAuth clients.")
temporal_app = typer.Typer(help="Temporal cluster set-up.")
app.add_typer(registry_app, name="registry")
app.add_typer(clients_app, name="clients")
app.add_typer(temporal_app, name="temporal")
app.add_typer(endpoints_app, name="endpoints")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(codec_app, name="codec")
app.add_typer(payments_app, name="payments")
app.add_typer(reconciliation_app, name="reconciliation")
app.add_typer(cases_app, name="cases")
app.add_typer(events_app, name="events")

OPERATOR_COMMANDS = frozenset({"payments", "cases", "events", "check", "deliveries", "endpoints"})
"""Commands that act on a deployment: without PAYFLOW_DATABASE_URL they take a running `payflow dev`'s
settings from its dev.json rather than create an empty store where they stand."""


@app.callback()
def options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar="PAYFLOW_DEV_DATA_DIR",
            help="where a running `payflow dev` keeps its dev.json: the support commands take their "
            "settings from it when PAYFLOW_DATABASE_URL is not set",
        ),
    ] = Path(".payflow"),
) -> None:
    """payflow: durable payment processes on Temporal."""
    if ctx.invoked_subcommand not in OPERATOR_COMMANDS or "PAYFLOW_DATABASE_URL" in os.environ:
        return
    if {"--help", "-h"} & set(sys.argv):  # help needs no stack
        return
    try:
        found = dev_stack_env(data_dir)
    except DevStackNotFound as exc:
        fail(str(exc))
    for name, value in found.items():  # an exported variable still wins
        os.environ.setdefault(name, value)
    get_settings.cache_clear()


@app.command()
def dev(
    api_port: Annotated[int, typer.Option(envvar="PAYFLOW_DEV_API_PORT")] = 8000,
    temporal_port: Annotated[int, typer.Option(envvar="PAYFLOW_DEV_TEMPORAL_PORT")] = 7233,
    ui_port: Annotated[int, typer.Option(envvar="PAYFLOW_DEV_UI_PORT")] = 8233,
    gateway_port: Annotated[int, typer.Option(envvar="PAYFLOW_DEV_GATEWAY_PORT")] = 8100,
    sms_port: Annotated[int, typer.Option(envvar="PAYFLOW_DEV_SMS_PORT")] = 8200,
    receiver_port: Annotated[int, typer.Option(envvar="PAYFLOW_DEV_RECEIVER_PORT")] = 8300,
    worker_metrics_port: Annotated[int, typer.Option(envvar="PAYFLOW_DEV_WORKER_METRICS_PORT")] = 9464,
    data_dir: Annotated[Path, typer.Option(envvar="PAYFLOW_DEV_DATA_DIR")] = Path(".payflow"),
    cn_mode: Annotated[
        str, typer.Option(envvar="PAYFLOW_CN_MODE", help="gateway, internal or pool")
    ] = "gateway",
    gateway: Annotated[
        str, typer.Option(envvar="PAYFLOW_GATEWAY_PROTOCOL", help="json, or gepg (signed XML)")
    ] = "json",
) -> None:
    """Run the whole system on embedded defaults until Ctrl-C."""
    from payflow.dev import DevPorts, main

    if cn_mode not in ("gateway", "internal", "pool"):
        fail("--cn-mode must be 'gateway', 'internal' or 'pool'")
    if gateway not in ("json", "gepg"):
        fail("--gateway must be 'json' or 'gepg'")
    ports = DevPorts(
        api_port, temporal_port, ui_port, gateway_port, sms_port, receiver_port, worker_metrics_port
    )
    main(data_dir, ports, cn_mode, gateway)


async def _worker(settings: Settings) -> None:
    import signal

    from infra.temporal import connect
    from payflow.worker_telemetry import metrics_runtime
    from payflow.workers import worker

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    client = await connect(settings, metrics_runtime(settings))
    async with worker(client, settings, sandboxed=False):  # tests keep the sandbox (payflow/workers.py)
        console.print(f"worker polling task queue {settings.task_queue!r} on {settings.temporal_address}")
        if settings.worker_metrics_address:
            console.print(f"worker metrics at http://{settings.worker_metrics_address}/metrics")
        await stop.wait()


def run_worker() -> None:
    """Entry point of `python worker.py` and `payflow worker`."""
    logs.configure(get_settings().log_format)
    try:
        asyncio.run(_worker(get_settings()))
    except Exception as exc:
        err.print(f"[red]worker stopped:[/red] {exc}")
        exit_hard(1)
    exit_hard(0)


@app.command()
def demo(
    manifest: Annotated[Path, typer.Option(help="the dev.json of a running `payflow dev`")] = Path(
        ".payflow/dev.json"
    ),
    flow: Annotated[str, typer.Option(help="all, a (premium payment) or b (claim settlement)")] = "all",
) -> None:
    """Drive a premium payment (flow A) and a claim settlement (flow B) against a running stack."""
    import httpx

    from payflow.demo import DemoError, run_demo

    if flow not in ("all", "a", "b"):
        fail("--flow must be all, a or b")
    if not manifest.exists():
        fail(f"{manifest} not found: start `payflow dev` first (or pass --manifest)")
    try:
        asyncio.run(run_demo(manifest, flow))
    except (DemoError, httpx.HTTPError) as exc:
        fail(f"demo stopped: {exc}")


@app.command()
def worker() -> None:
    """Run a worker with the PAYFLOW_* settings."""
    run_worker()


@app.command()
def api(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="PAYFLOW_API_WORKERS",
            help="API processes on the port (uvicorn workers), each admitting PAYFLOW_MAX_INFLIGHT_STARTS",
        ),
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's: critical, error, warning, info, debug")] = "info",
    access_log: Annotated[
        bool, typer.Option(envvar="PAYFLOW_ACCESS_LOG", help="one log line per request")
    ] = True,
) -> None:
    """Run the API with the PAYFLOW_* settings."""
    os.environ["PAYFLOW_ACCESS_LOG"] = str(access_log).lower()  # read by each API process's settings
    from api.signing_keys import SigningKeyError, load_signing_keys
    from infra.codec import CodecKeyError, api_codec
    from payflow.api_process import serve

    try:  # here, so a missing key is one clear line rather than a traceback from each process
        load_signing_keys(get_settings())
        api_codec(get_settings())
    except (SigningKeyError, CodecKeyError) as exc:
        fail(str(exc))
    logs.configure(get_settings().log_format)
    serve(host, port, workers, log_level)
    exit_hard(0)


@app.command()
def migrate() -> None:
    """Bring the database (PAYFLOW_DATABASE_URL) to the latest schema."""
    from store.db import migrate as upgrade

    upgrade(get_settings().database_url)
    console.print("database is at the latest schema")


@temporal_app.command("setup")
def temporal_setup() -> None:
    """Register the custom search attributes, the reconciliation schedule and the SMS resend sweep,
    and the pool top-up schedule when CN_MODE is pool (idempotent)."""
    from domain.intent import CNMode
    from infra.temporal import connect
    from infra.temporal_access import TemporalConnectError
    from payflow.temporal_setup import (
        ensure_pool_schedule,
        ensure_reconciliation_schedule,
        ensure_sms_resend,
        once_namespace_serves,
        register_search_attributes,
    )

    async def run() -> tuple[list[str], bool]:
        settings = get_settings()
        client = await connect(settings)
        added = await register_search_attributes(client, settings.temporal_namespace)
        if settings.cn_mode is CNMode.POOL:
            pooled = await once_namespace_serves(lambda: ensure_pool_schedule(client, settings))
            console.print("pool top-up schedule " + ("created" if pooled else "updated"))
        resending = await once_namespace_serves(lambda: ensure_sms_resend(client, settings))
        console.print("SMS resend sweep " + ("started" if resending else "already running"))
        return added, await once_namespace_serves(lambda: ensure_reconciliation_schedule(client, settings))

    try:
        added, scheduled = asyncio.run(run())
    except TemporalConnectError as exc:
        fail(str(exc))
    console.print(f"search attributes added: {', '.join(added) or 'none (all present)'}")
    console.print("reconciliation schedule " + ("created" if scheduled else "already present"))
    exit_hard(0)


@temporal_app.command("check")
def temporal_check(as_json: JsonFlag = False) -> None:
    """Connect with the PAYFLOW_TEMPORAL_* settings and show the server version, the namespace and the
    search attributes payflow needs; what is wrong (address, CA, certificate, API key, namespace, a
    missing attribute) is one line and exit code 2."""
    from infra.temporal_access import TemporalConnectError
    from payflow.temporal_check import check_cluster

    try:
        report = asyncio.run(check_cluster(get_settings()))
    except TemporalConnectError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report) | {"problem": report.problem}, indent=2))
    else:
        console.print(f"Temporal {report.server_version} at {report.address} ({report.security})")
        console.print(f"namespace {report.namespace} (retention {report.retention_days:g} d)")
        console.print(f"search attributes present: {', '.join(report.present) or 'none'}")
    if report.problem:
        fail(report.problem)
    exit_hard(0)


@app.command()
def check(
    tenant: Annotated[str | None, typer.Option(help="check only this tenant's records")] = None,
    store_only: Annotated[bool, typer.Option(help="skip comparing payments with their workflows")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check the invariants (store against workflows, premiums, settlement events, deliveries, keys used
    once): one line per violation, a summary, exit 1 when anything is wrong."""
    from infra.temporal import connect
    from payflow.check import Report
    from payflow.check import check as run_check
    from store.db import migrated_sessions

    settings = get_settings()
    sessions = migrated_sessions(settings.database_url)  # before the loop: migrations run their own

    async def run() -> Report:
        client = None
        if not store_only:
            try:
                client = await connect(settings)
            except RuntimeError as exc:  # TemporalConnectError: what is wrong, in one line
                fail(f"{exc}; or pass --store-only")
        return await run_check(sessions, client, tenant)

    report = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(report.as_dict(), default=str, indent=2))
    else:
        for finding in report.violations:
            typer.echo(str(finding))
        for finding in report.warnings:
            typer.echo(f"warning: {finding}")
        typer.echo(report.summary())
    exit_hard(0 if report.ok else 1)


@registry_app.command("import")
def registry_import(file: Path) -> None:
    """Load registry JSON (locations, products, officers, families with policies)."""
    from store.db import migrated_sessions
    from store.registry_import import RegistryFile, import_registry

    try:
        data = RegistryFile.model_validate_json(file.read_text())
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except ValidationError as exc:
        fail(f"{file} is not a registry file:\n{exc}")
    try:
        counts = asyncio.run(import_registry(migrated_sessions(get_settings().database_url), data))
    except ValueError as exc:
        fail(f"{file}: {exc} (nothing was imported)")
    console.print("imported " + ", ".join(f"{n} {k}" for k, n in counts.items()))


def _clients():  # type: ignore[no-untyped-def]
    from store.clients import ClientStore
    from store.db import migrated_sessions

    return ClientStore(migrated_sessions(get_settings().database_url))


@clients_app.command("create")
def clients_create(
    scope: Annotated[list[str], typer.Option(help="repeat for each scope")],
    tenant: Annotated[str, typer.Option(help="the tenant whose data the client may see")] = "",
    operator: Annotated[
        bool, typer.Option(help="an operator client (operator scopes only, no tenant), instead of --tenant")
    ] = False,
    name: str = "",
    client_id: Annotated[str | None, typer.Option(help="defaults to a generated id")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a client; its secret is shown once and stored only as a hash."""
    from store.clients import OPERATOR

    if operator == bool(tenant):
        fail("give either --tenant or --operator")
    try:
        issued = asyncio.run(
            _clients().create(OPERATOR if operator else tenant, scope, name=name, client_id=client_id)
        )
    except ValueError as exc:
        fail(str(exc))
    data = {
        "client_id": issued.client_id,
        "client_secret": issued.client_secret,
        "tenant": issued.tenant,
        "scopes": issued.scopes,
    }
    show_fields(data, as_json)


@clients_app.command("list")
def clients_list(as_json: JsonFlag = False) -> None:
    """The OAuth clients: id, name, tenant, scopes, whether revoked (never their secrets)."""
    rows = asyncio.run(_clients().list())
    data = [
        {
            "client_id": c.client_id,
            "name": c.name,
            "tenant": c.tenant,
            "scopes": c.scopes.split(),
            "revoked": c.revoked,
        }
        for c in rows
    ]
    show_rows(data, as_json, "no clients")


@clients_app.command("revoke")
def clients_revoke(client_id: str) -> None:
    """Revoke a client: it gets no new token; tokens already issued live until they expire."""
    if not asyncio.run(_clients().revoke(client_id)):
        fail(f"no client {client_id!r}")
    console.print(f"revoked {client_id}")


@clients_app.command("add-key")
def clients_add_key(client_id: str, file: Path) -> None:
    """Register a public key (PEM key, PEM certificate or base64 DER certificate) for private_key_jwt;
    a client may hold several, so keys can be rotated without downtime."""
    from store.clients import KeyStore
    from store.db import migrated_sessions

    try:
        material = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    try:
        kid = asyncio.run(KeyStore(migrated_sessions(get_settings().database_url)).add(client_id, material))
    except ValueError as exc:
        fail(str(exc))
    console.print(f"key {kid} registered for {client_id}")


def main() -> None:
    """The entry point: a key or setting missing is one line naming it, never a traceback."""
    from api.signing_keys import SigningKeyError
    from infra.codec import CodecKeyError

    try:
        app()
    except (CodecKeyError, SigningKeyError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        exit_hard(2)


if __name__ == "__main__":  # `python -m payflow.cli`: how `payflow dev` starts its API and worker
    main()
