"""Small helpers shared by the API tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlmodel import func, select

from store.db import SessionFactory
from store.registry_import import RegistryFile, import_registry
from tests.stack import Stack


def intent(**changes: Any) -> dict[str, Any]:
    """A valid openIMIS IntentOfPay for the demo registry, with `changes` applied."""
    body: dict[str, Any] = {
        "phone_number": "0681333045",
        "request_date": "2026-11-20",
        "enrolment_officer_code": "E00005",
        "policies": [{"insurance_number": "070707070", "insurance_product_code": "FCUL0001", "renewal": 1}],
        "language": "en",
        "type_of_payment": 0,
        "smsRequired": True,
    }
    return body | changes


async def wait_for(predicate: Callable[[], Any], what: str, within: float = 10.0) -> None:
    """Poll a condition on real peers (delivery happens after the HTTP answer), bounded in time."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110 - the state lives in other peers
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def count(stack: Stack, model: type, *where: object) -> int:
    async with stack.sessions() as s:
        return int((await s.exec(select(func.count()).select_from(model).where(*where))).one())


async def workflows_on(stack: Stack) -> int:
    query = f"TaskQueue = '{stack.settings.task_queue}'"
    return len([w async for w in stack.temporal.list_workflows(query)])


PROXY_FAMILY = "555555555"
PROXY_PAYMENT = {
    "transaction_identification": "TX-PROXY",
    "receipt_identification": "R-P",
    "received_amount": 23000,
    "received_date": "2026-11-22",
    "payment_date": "2026-11-22",
    "payment_origin": "M-Pesa",
    "payer_phone_number": "0754999888",
    "insurance_number": PROXY_FAMILY,
    "insurance_product_code": "FCUL0001",
    "renewal": 0,
}
"""GetPaymentData for the proxy family before it is registered: the payment waits at 4 RECEIVED."""


async def register_proxy_family(sessions: SessionFactory) -> None:
    """The family behind the proxy insurance number, enrolled by its officer later: an Idle new policy."""
    family = {
        "location": "D0101",
        "insurees": [
            {"chfid": PROXY_FAMILY, "is_head": True, "last_name": "Nyerere", "birth_date": "1979-01-01"}
        ],
        "policies": [
            {
                "product": "FCUL0001",
                "stage": "N",
                "status": 1,
                "enroll_date": "2026-11-20",
                "start_date": "2026-12-01",
                "expiry_date": "2027-11-30",
                "value": "23000",
            }
        ],
    }
    await import_registry(sessions, RegistryFile.model_validate({"families": [family]}))
