"""Request-scoped access to the process-wide objects created in the lifespan.

`async def`, not `def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on
every request for what is an attribute read.
"""

from __future__ import annotations

from fastapi import Request

from api.intent_service import IntentService
from api.payment_service import PaymentService
from store.payments import PaymentStore


async def intents(request: Request) -> IntentService:
    service: IntentService = request.app.state.intents
    return service


async def payment_service(request: Request) -> PaymentService:
    service: PaymentService = request.app.state.payment_service
    return service


async def payments(request: Request) -> PaymentStore:
    store: PaymentStore = request.app.state.payments
    return store
