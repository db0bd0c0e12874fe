"""A payflow stack for API tests: simulators, worker and API on 127.0.0.1, on the session's dev server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Interceptor

from api.app import create_app
from api.signing_keys import load_or_create_key
from gepg.keygen import write_pkcs12
from gepg.signing import signer_from_pkcs12, verifier_from_certificate
from infra.settings import Settings
from payflow.dev import DEMO_REGISTRY
from payflow.servers import free_port, serve
from payflow.workers import worker
from simulators import gateway, sms
from simulators import gepg as gepg_simulator
from simulators.gateway import GatewayState
from simulators.sms import SmsState
from store.clients import OPERATOR, OPERATOR_SCOPES, ClientStore, IssuedClient
from store.db import SessionFactory, make_engine, migrate, session_factory
from store.registry_import import RegistryFile, import_registry

GEPG_PASSWORD = "test-only"
CLIENTS = {
    "eo": ("demo", ["payments:write", "payments:read"]),
    "reader": ("demo", ["payments:read"]),
    "gateway": ("demo", ["gateway"]),
    "other": ("other-tenant", ["payments:write", "payments:read", "gateway"]),
    "claims": ("demo", ["platform-case:write", "platform-case:read", "events"]),
    "claims-other": ("other-tenant", ["platform-case:write", "platform-case:read", "events"]),
    "support": ("demo", ["support"]),
    "support-other": ("other-tenant", ["support"]),
    "operator": (OPERATOR, [*OPERATOR_SCOPES]),
}


@dataclass
class Stack:
    settings: Settings
    http: httpx.AsyncClient
    temporal: Client
    sessions: SessionFactory
    sms: SmsState
    gateway: GatewayState
    clients: dict[str, IssuedClient]
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)

    async def token(self, name: str) -> str:
        if name not in self.tokens:
            c = self.clients[name]
            r = await self.http.post(
                "/connect/token",
                data={"grant_type": "client_credentials"},
                auth=(c.client_id, c.client_secret),
            )
            r.raise_for_status()
            self.tokens[name] = r.json()["access_token"]
        return self.tokens[name]

    async def request(self, method: str, path: str, as_: str = "eo", **kwargs: Any) -> httpx.Response:
        """An API call with `as_`'s bearer token."""
        headers = {"Authorization": f"Bearer {await self.token(as_)}", **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def post(self, path: str, as_: str = "eo", **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, as_, **kwargs)

    async def get(self, path: str, as_: str = "eo", **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, as_, **kwargs)

    async def gateway_release(self) -> dict[str, int]:
        """Let the gateway simulator send the control numbers it holds."""
        async with httpx.AsyncClient() as http:
            r = await http.post(f"{self.settings.gateway_url}/_sim/release")
            return dict(r.json())

    def sms_to(self, phone: str) -> list[dict[str, Any]]:
        return [m for m in self.sms.messages.values() if m["to"] == phone]


async def prepare_database(url: str) -> str:
    """Migrate the store at `url` and load the demo registry into it."""
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url)
    await import_registry(
        session_factory(engine), RegistryFile.model_validate_json(DEMO_REGISTRY.read_text())
    )
    await engine.dispose()
    return url


class StackFactory:
    def __init__(self, temporal: Client, db_url: str, signing_key: Path) -> None:
        """`signing_key`: a PEM file the API signs tokens with (made there if missing)."""
        self.temporal = temporal
        self.db_url = db_url
        self.signing_key = signing_key
        load_or_create_key(signing_key)

    def gepg_settings(self) -> dict[str, Any]:
        """payflow's PKCS#12 and the simulator's certificate, made once per run beside the signing key."""
        folder = self.signing_key.parent
        write_pkcs12(folder / "gepg-simulator.p12", "gepg-simulator", GEPG_PASSWORD)
        write_pkcs12(folder / "payflow-gepg.p12", "payflow", GEPG_PASSWORD)
        return {
            "gateway_protocol": "gepg",
            "gepg_key_path": folder / "payflow-gepg.p12",
            "gepg_key_password": GEPG_PASSWORD,
            "gepg_certificate_path": folder / "gepg-simulator.crt",
            "gepg_tenant": "demo",
        }

    def gepg_simulator(self, api_url: str) -> FastAPI:
        folder = self.signing_key.parent
        payflow_cert = write_pkcs12(folder / "payflow-gepg.p12", "payflow", GEPG_PASSWORD)
        signer = signer_from_pkcs12(folder / "gepg-simulator.p12", GEPG_PASSWORD)
        return gepg_simulator.create_app(api_url, signer, verifier_from_certificate(payflow_cert))

    @asynccontextmanager
    async def __call__(
        self,
        *,
        with_worker: bool = True,
        interceptors: Sequence[Interceptor] = (),
        gepg: bool = False,
        **overrides: Any,
    ) -> AsyncIterator[Stack]:
        """`gepg`: the GePG simulator instead of the JSON one, and intents billed over GePG."""
        api_port, gw_port, sms_port = free_port(), free_port(), free_port()
        if gepg:
            overrides = {**self.gepg_settings(), **overrides}
        settings = Settings(
            database_url=self.db_url,
            task_queue=f"payflow-test-{uuid.uuid4()}",
            api_url=f"http://127.0.0.1:{api_port}",
            gateway_url=f"http://127.0.0.1:{gw_port}",
            sms_url=f"http://127.0.0.1:{sms_port}",
            jwt_private_key_path=self.signing_key,
            **{"registry_tenant": "demo"} | overrides,
        )
        engine = make_engine(self.db_url)
        sessions = session_factory(engine)
        store = ClientStore(sessions)
        clients = {}
        for name, (tenant, scopes) in CLIENTS.items():
            clients[name] = await store.create(
                tenant, scopes, name=name, client_id=f"{name}-{uuid.uuid4().hex[:6]}"
            )
        creds = gateway.ApiCredentials(
            f"{settings.api_url}/connect/token",
            clients["gateway"].client_id,
            clients["gateway"].client_secret,
        )
        sms_app = sms.create_app()
        gw_app = self.gepg_simulator(settings.api_url) if gepg else gateway.create_app(creds)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(serve(sms_app, sms_port))
            await stack.enter_async_context(serve(gw_app, gw_port))
            if with_worker:
                await stack.enter_async_context(worker(self.temporal, settings, interceptors=interceptors))
            app = create_app(settings, self.temporal)
            url = await stack.enter_async_context(serve(app, api_port))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60))
            yield Stack(
                settings, http, self.temporal, sessions, sms_app.state.sim, gw_app.state.sim, clients, app
            )
        await engine.dispose()
