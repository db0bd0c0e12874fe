"""The /v1 query routes over a real stack: intents found and read by their legacy id, cases read live
and from the store, support's event log, cursor pages walked end to end, and nothing across tenants."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.intent import IntentLine, PaymentIntentInput
from domain.registry import PolicyStage
from domain.settlement import CaseRef
from domain.status import PaymentStatus
from store import claims
from store.payments import PaymentStore
from tests.api.helpers import intent
from tests.claims.sample import settlement
from tests.stack import Stack, StackFactory

SEEDED = 250


async def _walk(stack: Stack, url: str, as_: str) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following `next` from page to page; and the number of pages."""
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        r = await stack.get(next_url, as_=as_)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        next_url = r.json()["next"]
        pages += 1
    return items, pages


async def _seed(stack: Stack, count: int) -> list[int]:
    """`count` intents written straight to the store (the list reads the store, not workflows)."""
    store = PaymentStore(stack.sessions)
    ids = []
    for n in range(count):
        request = PaymentIntentInput(
            intent_id=str(uuid.uuid4()),
            tenant="demo",
            phone_number="0700000000",
            request_date=date(2026, 11, 20),
            lines=[IntentLine(insurance_number=f"9{n:08d}", product_code="FCUL0001", stage=PolicyStage.NEW)],
        )
        payment, _ = await store.create(request, PaymentStatus.CREATED)
        assert payment.id is not None
        ids.append(payment.id)
    return ids


async def test_intents_are_found_read_by_legacy_id_and_paged(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        legacy = (await stack.post("/api/GetControlNumber", json=intent())).json()
        cn, payment_id = legacy["control_number"], int(legacy["internal_identifier"])
        assert cn

        found = await stack.get("/v1/payment-intents", params={"control_number": cn})
        assert found.status_code == 200, found.text
        [item] = found.json()["items"]
        assert item["payment_id"] == payment_id and item["status_name"] == "ASSIGNED"
        assert item["insurance_numbers"] == ["070707070"] and found.json()["next"] is None
        by_insuree = await stack.get("/v1/payment-intents?insurance_number=070707070&status=3")
        assert [i["id"] for i in by_insuree.json()["items"]] == [item["id"]]
        none_matched = await stack.get("/v1/payment-intents?insurance_number=070707070&status=5")
        assert none_matched.json()["items"] == []

        by_legacy = await stack.get(f"/v1/payment-intents/{payment_id}")
        by_uuid = await stack.get(f"/v1/payment-intents/{item['id']}")
        assert by_legacy.status_code == by_uuid.status_code == 200, by_legacy.text
        assert by_legacy.json()["id"] == by_uuid.json()["id"] == item["id"]
        assert by_legacy.json()["control_number"] == cn and by_legacy.json()["timeline"]
        rematch = await stack.post(f"/v1/payment-intents/{payment_id}/rematch")
        assert rematch.status_code == 409 and rematch.json()["code"] == "nothing_to_match"

        seeded = await _seed(stack, SEEDED)
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        walked, pages = await _walk(
            stack, f"/v1/payment-intents?limit=100&created_since={since.replace('+', '%2B')}", "eo"
        )
        ids = [i["payment_id"] for i in walked]
        assert pages == 3 and len(ids) == len(set(ids)) == SEEDED + 1
        assert ids == sorted([payment_id, *seeded])

        other, _ = await _walk(stack, "/v1/payment-intents?limit=200", "other")
        assert other == []
        r = await stack.get(f"/v1/payment-intents?control_number={cn}", as_="other")
        assert r.json()["items"] == []
        r = await stack.get(f"/v1/payment-intents/{payment_id}", as_="other")
        assert r.status_code == 404 and r.json()["code"] == "intent_not_found"

        r = await stack.get("/v1/payment-intents?cursor=bm90LW91cnM")
        assert r.status_code == 422 and r.json()["code"] == "bad_cursor"
        r = await stack.get("/v1/payment-intents?limit=201")
        assert r.status_code == 422


async def test_cases_and_events_are_read_and_listed(make_stack: StackFactory) -> None:
    async with make_stack() as stack:
        before = datetime.now(UTC).isoformat().replace("+", "%2B")
        case = (await stack.post("/v1/cases", as_="claims", json={"number": "Q-1"})).json()
        settled = await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=settlement())
        assert settled.status_code == 201, settled.text

        r = await stack.get(f"/v1/cases/{case['id']}", as_="claims")
        assert r.status_code == 200, r.text
        read = r.json()
        assert read["source"] == "workflow" and read["number"] == "Q-1" and read["status"] == "closed"
        assert [(v["revision_no"], v["token"], v["status"]) for v in read["revisions"]] == [
            (1, settled.json()["revision_token"], "SETTLED")
        ]
        assert [e["type"] for e in read["last_events"]] == ["claim_updated", "case_settled", "case_created"]

        stored_only = await _store_only_case(stack)
        r = await stack.get(f"/v1/cases/{stored_only}", as_="claims")
        assert r.status_code == 200 and r.json()["source"] == "store", r.text
        assert r.json()["status"] == "open" and r.json()["last_events"][0]["type"] == "case_created"

        listed = (await stack.get(f"/v1/cases?status=closed&updated_since={before}", as_="claims")).json()
        assert [c["id"] for c in listed["items"]] == [case["id"]]
        walked, pages = await _walk(stack, "/v1/cases?limit=1", "claims")
        assert [c["id"] for c in walked] == [case["id"], stored_only] and pages == 2
        assert (await stack.get("/v1/cases?number=Q-1&status=open", as_="claims")).json()["items"] == []

        r = await stack.get(f"/v1/cases/{case['id']}", as_="claims-other")
        assert r.status_code == 404 and r.json()["code"] == "case_not_found"
        assert (await stack.get("/v1/cases", as_="claims-other")).json()["items"] == []

        events = (await stack.get("/v1/events?type=case_settled", as_="support")).json()["items"]
        assert [e["id"] for e in events] == settled.json()["event_ids"][:1]
        one = await stack.get(f"/v1/events/{events[0]['id']}", as_="support")
        assert one.json()["payload"]["settlement"]["revisionToken"] == settled.json()["revision_token"]
        assert (await stack.get("/v1/events", as_="support-other")).json()["items"] == []
        r = await stack.get(f"/v1/events/{events[0]['id']}", as_="support-other")
        assert r.status_code == 404


async def _store_only_case(stack: Stack) -> str:
    """A case in the store whose workflow does not exist (gone, say): its read falls back to the store."""
    ref = CaseRef(uuid=str(uuid.uuid4()), token="c.0", number="Q-2", tenant="demo", country="dk")
    await claims.create_case(stack.sessions, ref, str(uuid.uuid4()), datetime.now(UTC))
    return ref.uuid
