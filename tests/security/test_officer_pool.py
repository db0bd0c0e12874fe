"""Issue 20 item 4: GetControlNumbersForEO does not trust the client's `AvailableControlNumbers`, and a
client of another tenant neither reserves the deployment's pool numbers for its officers nor learns
an officer's phone number."""

from __future__ import annotations

from sqlmodel import col

from store.models import PooledNumber
from tests.api.helpers import count
from tests.pool.test_pool_flow import POOL, PRODUCT, top_up
from tests.stack import StackFactory

ASK = {"OfficerCode": "E00005", "ProductCode": PRODUCT}


async def test_the_pool_is_not_drained_by_a_client_nor_by_another_tenant(make_stack: StackFactory) -> None:
    async with make_stack(**POOL, pool_officer_max=3) as stack:
        await top_up(stack, minimum=8, batch=8)
        held = col(PooledNumber.officer_code).is_not(None)

        other = await stack.post("/api/GetControlNumbersForEO", as_="other", json=ASK)
        assert other.status_code == 403, other.text
        assert "0755000005" not in other.text
        assert await count(stack, PooledNumber, held) == 0

        for claimed in (-1000, 4, "x"):
            claim = ASK | {"AvailableControlNumbers": claimed}
            r = await stack.post("/api/GetControlNumbersForEO", json=claim)
            assert r.status_code == 400 and "AvailableControlNumbers" in r.json()["error_message"], r.text
        assert await count(stack, PooledNumber, held) == 0

        first = await stack.post("/api/GetControlNumbersForEO", json=ASK | {"AvailableControlNumbers": 0})
        assert len(first.json()["controlNumbers"]) == 3, first.text
        # the app says it holds none again: the store knows he holds three, his whole quota
        again = await stack.post("/api/GetControlNumbersForEO", json=ASK | {"AvailableControlNumbers": 0})
        assert again.json()["header"] == {"error": 4003, "errorMessage": "ThresholdReached"}, again.text
        assert await count(stack, PooledNumber, held) == 3
