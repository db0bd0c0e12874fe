"""The FastAPI application: one Temporal client, one database engine and every service built once per
process (lifespan), none per request. `app_from_env` is the factory `payflow api --workers N` imports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api import docs, errors, gepg_callbacks
from api.admission import Admission
from api.auth import TokenService
from api.body_limit import BodyLimit
from api.event_feed import EventFeed, listen_connector
from api.intent_service import IntentService
from api.openapi_errors import document_errors
from api.payment_service import PaymentService
from api.revocations import Revocations
from api.routers import (
    case_reads,
    cases,
    codec,
    events,
    gateway,
    intents,
    officer_numbers,
    openimis,
    openimis_payments,
    settlements,
    token,
    webhooks,
)
from api.signing_keys import load_signing_keys
from api.telemetry import RequestTelemetry
from api.telemetry import router as metrics_router
from api.token_guard import TokenGuard
from infra import logs
from infra.codec import api_codec
from infra.settings import Settings, get_settings
from infra.temporal import connect
from store.clients import ClientStore, KeyStore
from store.db import make_engine, session_factory
from store.payments import PaymentStore
from store.registry import SqlRegistry
from store.webhooks import WebhookStore


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.sessions = session_factory(engine)
        app.state.payments = PaymentStore(app.state.sessions)
        temporal = client or await connect(settings)
        app.state.temporal = temporal
        app.state.event_feed = EventFeed(app.state.sessions, connect=listen_connector(engine))
        app.state.admission = Admission.of(settings)
        app.state.intents = IntentService(temporal, settings, app.state.payments, app.state.admission)
        app.state.payment_service = PaymentService(
            app.state.intents,
            app.state.payments,
            SqlRegistry(app.state.sessions),
            app.state.sessions,
            settings,
        )
        app.state.clients = ClientStore(app.state.sessions)
        app.state.revocations = Revocations(app.state.clients)
        app.state.client_keys = KeyStore(app.state.sessions)
        app.state.webhook_store = WebhookStore(app.state.sessions)
        try:
            yield
        finally:
            await app.state.event_feed.close()
            await engine.dispose()

    app = FastAPI(
        title="payflow",
        version="0.1.0",
        summary="Durable payment processes: openIMIS control-number premiums and claim settlements.",
        lifespan=lifespan,
        docs_url=None,  # api/docs.py: the same pages with their assets from the installed package
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.tokens = TokenService(settings, load_signing_keys(settings))
    app.state.token_guard = TokenGuard(settings)
    app.add_middleware(BodyLimit)  # innermost middleware, yet before routing and authentication
    app.add_middleware(RequestTelemetry, access_log=settings.access_log)
    errors.install(app)
    document_errors(app)
    docs.install(app)
    codec.install(app, settings, api_codec(settings))
    app.include_router(metrics_router)
    app.include_router(token.router)
    app.include_router(gepg_callbacks.router)  # before openimis: GePG's XML on the same paths
    app.include_router(openimis.router)
    app.include_router(openimis_payments.router)
    app.include_router(officer_numbers.router)
    app.include_router(intents.router)
    app.include_router(gateway.router)
    app.include_router(cases.router)
    app.include_router(case_reads.router)
    app.include_router(settlements.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_env() -> FastAPI:
    """The app with the PAYFLOW_* settings: an import string for uvicorn (`payflow api --workers N`).
    Configures the process' logging here, since each of N processes imports the factory itself."""
    logs.configure(get_settings().log_format)
    return create_app(get_settings())
