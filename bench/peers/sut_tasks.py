"""Set-up steps the benchmark runs with the interpreter of the payflow under test (its own store code).

Run by path, not as a module, so `store`, `payflow`, … come from the tree under test:

    <payflow venv>/bin/python bench/peers/sut_tasks.py prepare --db-url URL --key PEM
    … seed-events --db-url URL --tenant T --count N --url RECEIVER_URL
    … relay --tenant T            (PAYFLOW_* settings from the environment)

Each prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

CLIENTS: dict[str, tuple[str, list[str]]] = {
    "eo": ("demo", ["payments:write", "payments:read"]),
    "gateway": ("demo", ["gateway"]),
    "claims": ("bench-p5", ["platform-case:write", "platform-case:read", "events"]),
}
PAYLOAD_PAD = "x" * 300
"""Makes a seeded event about the size of a payment event."""


async def prepare(db_url: str, key: Path) -> dict[str, Any]:
    """Migrate, load the demo registry, create the benchmark's OAuth clients and the token-signing key
    every API process shares."""
    import payflow
    from api.signing_keys import load_or_create_key
    from payflow.temporal_setup import dev_server_flags
    from store.clients import ClientStore
    from store.db import make_engine, migrate, session_factory
    from store.registry_import import RegistryFile, import_registry

    data = Path(payflow.__file__).with_name("data")
    await asyncio.to_thread(migrate, db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    registry = RegistryFile.model_validate_json((data / "demo-registry.json").read_text())
    await import_registry(sessions, registry)
    clients = {}
    for name, (tenant, scopes) in CLIENTS.items():
        issued = await ClientStore(sessions).create(tenant, scopes, name=f"bench-{name}")
        clients[name] = {
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
            "tenant": tenant,
        }
    await engine.dispose()
    load_or_create_key(key)
    return {
        "clients": clients,
        "temporal_flags": dev_server_flags(),
        "demo_settlement": str(data / "demo-settlement.json"),
        "source": str(Path(payflow.__file__).parents[1]),
    }


async def seed_events(db_url: str, tenant: str, count: int, url: str) -> dict[str, Any]:
    """One endpoint taking every event of `tenant`, and `count` events in its log, not relayed yet."""
    from store.db import make_engine, session_factory, transaction
    from store.events import append
    from store.models import utcnow
    from store.webhooks import WebhookStore, generate_secret

    engine = make_engine(db_url)
    sessions = session_factory(engine)
    store = WebhookStore(sessions)
    endpoint = await store.create_endpoint(
        tenant, url, generate_secret(), description=f"bench endpoint of {tenant}"
    )
    run = time.time_ns()
    async with transaction(sessions) as s:
        for n in range(count):
            payload = {"eventType": "bench.ping", "n": n, "at": utcnow().isoformat(), "pad": PAYLOAD_PAD}
            await append(s, tenant, f"bench-{run}-{n}", payload)
    secrets = await store.signing_secrets(endpoint.id, utcnow())
    await engine.dispose()
    return {"endpoint": endpoint.id, "secrets": secrets, "events": count}


async def relay(tenant: str) -> dict[str, Any]:
    """Start the deliveries of the tenant's undispatched events, as a writing activity's relay does."""
    import httpx

    from activities.webhooks import EventRelay, WebhookActivities
    from infra.egress import egress_client
    from infra.settings import Settings
    from infra.ssrf import allowed_hosts
    from infra.temporal import connect
    from store.db import make_engine, session_factory
    from store.webhooks import WebhookStore

    settings = Settings()
    engine = make_engine(settings.database_url)
    client = await connect(settings)
    store = WebhookStore(session_factory(engine))
    relay = EventRelay(settings, store)
    limits = httpx.Limits(max_connections=settings.worker_max_activities)
    async with egress_client(allowed_hosts(settings.webhook_allow_hosts), limits) as customers:
        WebhookActivities(settings, customers, store, relay)
        started_at = time.time()
        started = 0
        while await store.undispatched(tenant, limit=1):
            started += await relay.relay(tenant, client)
        result = {"started": started, "t0": started_at, "t1": time.time()}
    await engine.dispose()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="task", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--db-url", required=True)
    prep.add_argument("--key", type=Path, required=True)
    seed = sub.add_parser("seed-events")
    seed.add_argument("--db-url", required=True)
    seed.add_argument("--tenant", required=True)
    seed.add_argument("--count", type=int, required=True)
    seed.add_argument("--url", required=True)
    sub.add_parser("relay").add_argument("--tenant", required=True)
    args = p.parse_args()
    if args.task == "prepare":
        result = asyncio.run(prepare(args.db_url, args.key))
    elif args.task == "seed-events":
        result = asyncio.run(seed_events(args.db_url, args.tenant, args.count, args.url))
    else:
        result = asyncio.run(relay(args.tenant))
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # the Temporal native runtime can crash at interpreter finalisation (sdk-python #300)


if __name__ == "__main__":
    main()
