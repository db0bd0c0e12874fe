"""GetControlNumbersForEO over real HTTP (research §2.10): an officer takes pool numbers, his next
intent gets one of them, and the answers keep openIMIS' header codes."""

from __future__ import annotations

from sqlmodel import col

from store.models import PooledNumber
from tests.api.helpers import count, intent
from tests.pool.test_pool_flow import POOL, PRODUCT, top_up
from tests.stack import StackFactory

ASK = {"officerCode": "E00005", "productCode": PRODUCT}


async def test_an_officer_reserves_numbers_and_his_next_intent_takes_one(make_stack: StackFactory) -> None:
    async with make_stack(**POOL, pool_officer_max=5) as stack:
        none = await stack.post("/api/GetControlNumbersForEO", json=ASK | {"availableControlNumbers": 0})
        assert none.json() == {
            "header": {"error": 4002, "errorMessage": "NoControlNumberAvailable"},
            "controlNumbers": [],
        }
        await top_up(stack, minimum=4, batch=4)

        got = await stack.post("/api/GetControlNumbersForEO", json=ASK | {"availableControlNumbers": 3})

        assert got.status_code == 200 and got.json()["header"] == {"error": 4001, "errorMessage": "Success"}
        numbers = got.json()["controlNumbers"]
        assert [(n["officerCode"], n["phoneNumber"], n["productCode"], n["amount"]) for n in numbers] == [
            ("E00005", "0755000005", PRODUCT, 20000.0)
        ] * 2  # MaxControlNumberForEO 5 − 3 the app still holds
        full = await stack.post("/api/GetControlNumbersForEO", json=ASK | {"availableControlNumbers": 5})
        assert full.json()["header"]["error"] == 4003
        unknown = await stack.post("/api/GetControlNumbersForEO", json=ASK | {"officerCode": "E99999"})
        assert (unknown.status_code, unknown.json()) == (400, {"error_message": "Officer not found"})

        answer = await stack.post("/api/GetControlNumber", json=intent(smsRequired=False))
        assert answer.json()["control_number"] in {n["controlNumber"] for n in numbers}, answer.text
        assert await count(stack, PooledNumber, col(PooledNumber.officer_code).is_(None)) == 2
