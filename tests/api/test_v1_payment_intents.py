"""POST/GET /v1/payment-intents: idempotency, problem+json rejections, tenant isolation."""

from __future__ import annotations

from store.models import Payment
from tests.api.helpers import count
from tests.stack import StackFactory

BODY = {
    "phone_number": "0681333045",
    "request_date": "2026-11-20",
    "officer_code": "E00005",
    "policies": [{"insurance_number": "070707070", "product_code": "FCUL0001", "renewal": True}],
    "sms_required": False,
}


async def test_idempotency_key_returns_the_same_intent(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        key = {"Idempotency-Key": "order-42"}
        first = await stack.post("/v1/payment-intents?wait=5", json=BODY, headers=key)
        assert first.status_code == 201, first.text
        created = first.json()
        assert created["status"] == 3 and created["status_name"] == "ASSIGNED" and created["control_number"]
        assert [t["status_name"] for t in created["timeline"]] == ["CREATED", "ASSIGNED"]

        again = await stack.post("/v1/payment-intents", json=BODY, headers=key)
        assert again.status_code == 200
        assert again.json()["id"] == created["id"]
        assert again.json()["control_number"] == created["control_number"]
        assert await count(stack, Payment) == 1

        other = await stack.post(
            "/v1/payment-intents", json=BODY | {"phone_number": "0700000000"}, headers=key
        )
        assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"

        fresh = await stack.post("/v1/payment-intents", json=BODY, headers={"Idempotency-Key": "order-43"})
        assert fresh.status_code == 201 and fresh.json()["id"] != created["id"]

        got = await stack.get(f"/v1/payment-intents/{created['id']}")
        assert got.status_code == 200 and got.json()["control_number"] == created["control_number"]
        assert got.json()["lines"][0]["product_code"] == "FCUL0001"


async def test_rejected_intent_is_a_422_problem(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        body = BODY | {"officer_code": "E99999"}
        r = await stack.post("/v1/payment-intents", json=body)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "intent_rejected" and problem["openimis_code"] == 3
        assert problem["detail"] == "3-Not valid enrolment officer code"
        got = await stack.get(f"/v1/payment-intents/{problem['intent_id']}")
        assert got.json()["status"] == -1 and got.json()["status_name"] == "REJECTED"

        r = await stack.post(
            "/v1/payment-intents", json=BODY | {"officer_code": None, "amount_to_be_paid": "5"}
        )
        assert r.status_code == 422 and r.json()["code"] == "amount_requires_officer"


async def test_tenants_do_not_see_each_other(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        created = (await stack.post("/v1/payment-intents", json=BODY)).json()
        r = await stack.get(f"/v1/payment-intents/{created['id']}", as_="other")
        assert r.status_code == 404 and r.json()["code"] == "intent_not_found"
        r = await stack.get("/v1/payment-intents/00000000-0000-0000-0000-000000000000")
        assert r.status_code == 404
        r = await stack.get("/v1/payment-intents/not-a-uuid")
        assert r.status_code == 422
