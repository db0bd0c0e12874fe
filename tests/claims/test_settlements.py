"""Flow B over real HTTP: settle → case_settled in the Events API and the revision in the Settlement API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.claims.sample import published_sample, settlement, validate
from tests.stack import Stack, StackFactory

V3 = {"Accept": "application/vnd.scalepoint.content.settlement.v3+json"}
HANDLER = {"changed_by": {"full_name": "Hanne Holm", "username": "hh"}}


async def new_case(stack: Stack, number: str = "4711") -> dict[str, Any]:
    r = await stack.post("/v1/cases", as_="claims", json={"number": number, "policy_number": "P-1"})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def events(stack: Stack, after: str = "_0", as_: str = "claims") -> dict[str, Any]:
    r = await stack.get(f"/api/events/v1/dk/external/demo/receive?lastEventId={after}", as_=as_)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_settle_then_events_api_and_settlement_api(make_stack: StackFactory) -> None:
    async with make_stack(events_hold_s=1) as stack:
        case = await new_case(stack)
        assert case["case_created_event_id"] and case["closed"] is False
        r = await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=settlement())
        assert r.status_code == 201, r.text
        settled = r.json()
        token = settled["revision_token"]

        started = asyncio.get_running_loop().time()
        page = await events(stack)
        assert asyncio.get_running_loop().time() - started < 1  # the event is there when settle answers
        types = [item["type"] for item in page["data"]]
        assert types == ["case_created", "case_settled", "claim_updated"]
        assert [int(i["id"][1:]) for i in page["data"]] == [
            case["case_created_event_id"],
            *settled["event_ids"],
        ]
        assert page["links"]["next"].endswith(f"lastEventId={page['data'][-1]['id']}") and page["meta"] == {}
        event = page["data"][1]["attributes"]
        validate(event)
        assert event["settlement"]["revisionToken"] == token
        assert event["case"] == {"uuid": case["id"], "token": case["token"], "number": "4711"}
        repair = next(e for e in event["expenses"] if e["expenseType"] == "repairInvoice")
        provider = next(p for p in event["parties"] if p["$id"] == repair["payeeParty"]["$ref"])
        assert provider["roles"] == ["serviceProvider"] and repair["total"] == 2500  # RV invoice
        closed = page["data"][2]["attributes"]
        assert closed["changes"] == [
            {
                "property": "CaseClosed",
                "isTerminated": False,
                "terminationReason": "None",
                "terminationReasonDescription": None,
            }
        ]

        r = await stack.get(f"/webapp/ScalePoint/dk/case/demo/revision/{token}", as_="claims", headers=V3)
        assert r.status_code == 200 and r.headers["content-type"] == V3["Accept"]
        details = r.json()["settlementDetails"]
        assert (details["revisionToken"], details["status"], details["deductible"]) == (token, "SETTLED", 250)
        assert details["subTotalAmount"] == 12500 and details["settledItems"][0]["ageMonths"] == 26
        assert r.json()["case"] == {"token": case["token"], "number": "4711", "policyNumber": "P-1"}
        assert (await stack.get(f"/v1/settlements/{token}", as_="claims")).json() == r.json()

        refused = [
            (f"/webapp/ScalePoint/dk/case/other-tenant/revision/{token}", "claims-other", 400),
            (f"/webapp/ScalePoint/dk/case/demo/revision/{token}", "claims-other", 400),
            ("/webapp/ScalePoint/dk/case/demo/revision/d1a72df4-f7d5-402c-a495-cc31b8b39a59", "claims", 400),
            ("/webapp/ScalePoint/dk/case/demo/revision/not-a-token", "claims", 400),
            (f"/v1/settlements/{token}", "claims-other", 400),
            (f"/webapp/ScalePoint/dk/case/demo/revision/{token}", "eo", 403),
        ]
        for path, who, status in refused:
            r = await stack.get(path, as_=who)
            assert r.status_code == status, (path, who, r.text)
        r = await stack.http.get(
            f"/v1/settlements/{token}",
            headers={"Authorization": f"Bearer {await stack.token('claims')}", "Accept": "text/html"},
        )
        assert r.status_code == 406
        other = await stack.get("/api/events/v1/dk/external/other-tenant/receive", as_="claims-other")
        assert other.json()["data"] == []  # the other tenant's log is its own
        r = await stack.get("/api/events/v1/dk/external/demo/receive", as_="claims-other")
        assert r.status_code == 403
        r = await stack.post(f"/v1/cases/{case['id']}/reopen", as_="claims-other", json=HANDLER)
        assert r.status_code == 404  # another tenant cannot address this case at all


async def test_reopen_and_settle_again_emits_the_delta(make_stack: StackFactory) -> None:
    async with make_stack(events_hold_s=1) as stack:
        case = await new_case(stack)
        first = (
            await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=settlement())
        ).json()
        r = await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=settlement())
        assert r.status_code == 409 and r.json()["code"] == "case_closed"
        r = await stack.post(f"/v1/cases/{case['id']}/reopen", as_="claims", json=HANDLER)
        assert r.status_code == 200 and r.json()["closed"] is False
        second_body = settlement(compensation=9300, deductible=100, depreciation=0, close=False)
        second = (
            await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=second_body)
        ).json()
        assert second["revision_no"] == 2 and second["revision_token"] != first["revision_token"]
        r = await stack.post(
            f"/v1/cases/{case['id']}/close",
            as_="claims",
            json=HANDLER | {"termination_reason": "BelowDeductible"},
        )
        assert r.status_code == 200 and r.json()["closed"] is True

        data = (await events(stack))["data"]
        assert [i["type"] for i in data] == [
            "case_created",
            "case_settled",
            "claim_updated",
            "claim_updated",
            "case_settled",
            "claim_updated",
        ]
        ids = [int(i["id"][1:]) for i in data]
        assert ids == sorted(ids)  # in case order
        assert data[3]["attributes"]["changes"][0]["property"] == "CaseReopened"
        last = data[5]["attributes"]["changes"][0]
        assert (last["property"], last["isTerminated"], last["terminationReason"]) == (
            "CaseClosed",
            True,
            "BelowDeductible",
        )

        delta = data[4]["attributes"]
        validate(delta)
        assert delta["settlement"]["summary"] == {
            "manualReduction": 0,
            "shareOfVat": 0,
            "deductible": -150,
            "depreciation": -700,
        }
        claimant, insurer = {"$ref": "/parties/2"}, {"$ref": "/parties/1"}
        [credit] = delta["expenses"]  # the repair invoice did not change
        assert (credit["expenseType"], credit["total"]) == ("creditNote", 700)  # the parties say "back"
        assert (credit["payerParty"], credit["payeeParty"]) == (claimant, insurer)
        obligations = [
            (o["obligationType"], o["total"], o["payerParty"], o["payeeParty"]) for o in delta["obligations"]
        ]
        assert obligations == [
            ("deductible", 150, insurer, insurer),  # it fell: the insurer keeps it, no money moves
            ("compensation", 550, claimant, insurer),
        ]
        [payment] = delta["payments"]
        assert (payment["total"], payment["payerParty"], payment["payeeParty"]) == (550, claimant, insurer)

        # the Settlement API keeps answering each revision whole
        r = await stack.get(f"/v1/settlements/{first['revision_token']}", as_="claims")
        assert r.json()["settlementDetails"]["deductible"] == 250
        r = await stack.get(f"/v1/settlements/{second['revision_token']}", as_="claims")
        assert r.json()["settlementDetails"]["deductible"] == 100


async def test_cancelled_revision_still_answers(make_stack: StackFactory) -> None:
    async with make_stack() as stack:
        case = await new_case(stack)
        token = (
            await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=settlement())
        ).json()["revision_token"]
        r = await stack.post(f"/v1/cases/{case['id']}/settlements/{token}/cancel", as_="claims")
        assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
        r = await stack.get(f"/v1/settlements/{token}", as_="claims")
        details = r.json()["settlementDetails"]
        assert r.status_code == 200 and (details["status"], details["settlementType"]) == (
            "CANCELLED",
            "CANCELLED",
        )
        r = await stack.post(f"/v1/cases/{case['id']}/settlements/{token}/cancel", as_="claims")
        assert r.status_code == 409 and r.json()["code"] == "already_cancelled"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {
                "expenses": [
                    {
                        "$id": "/expenses/1",
                        "total": 1,
                        "currencyCode": "DKK",
                        "payerParty": {"$ref": "/parties/9"},
                        "payeeParty": {"$ref": "/parties/1"},
                        "expenseType": "invoice",
                    }
                ]
            },
            "$ref to nothing",
        ),
        ({"approvedBy": {"name": "x", "type": "robot"}}, "approvedBy"),
        ({"parties": []}, "parties"),
    ],
)
async def test_bad_settlements_are_422_and_change_nothing(
    make_stack: StackFactory, change: dict[str, Any], problem: str
) -> None:
    async with make_stack() as stack:
        case = await new_case(stack)
        body = settlement() | change
        if "expenses" in change:
            body |= {"obligations": [], "payments": []}
        r = await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=body)
        assert r.status_code == 422 and problem in r.text
        assert [i["type"] for i in (await events(stack))["data"]] == ["case_created"]
        r = await stack.post(
            "/v1/cases/00000000-0000-4000-8000-000000000000/close", as_="claims", json=HANDLER
        )
        assert r.status_code == 404 and r.json()["code"] == "case_not_found"
        r = await stack.post(f"/v1/cases/{case['id']}/settlements", as_="eo", json=settlement())
        assert r.status_code == 403


async def test_scalepoint_sample_settles_as_sent_and_what_its_schema_forbids_is_named(
    make_stack: StackFactory,
) -> None:
    """Scalepoint's published sample (empty strings, millisecond date-times) is a settlement whose event
    carries those values unchanged; a non-UUID uuid or a missing required field is a 422 naming it."""
    bad_uuid, no_due_date, no_refs = published_sample(), published_sample(), published_sample()
    bad_uuid["expenses"][0]["uuid"] = "e1"
    del no_due_date["payments"][0]["dueDate"]
    del no_refs["payments"][0]["obligations"]
    async with make_stack(events_hold_s=1) as stack:
        case = await new_case(stack, "CH10203040")
        path = f"/v1/cases/{case['id']}/settlements"
        for doc, loc in [
            (bad_uuid, ["body", "expenses", 0, "uuid"]),
            (no_due_date, ["body", "payments", 0, "dueDate"]),
            (no_refs, ["body", "payments", 0, "obligations"]),
        ]:
            r = await stack.post(path, as_="claims", json=doc)
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
            assert r.json()["code"] == "validation_failed"
            assert [e["loc"] for e in r.json()["errors"]] == [loc]

        r = await stack.post(path, as_="claims", json=published_sample())
        assert r.status_code == 201, r.text
        event = (await events(stack))["data"][1]["attributes"]
        validate(event)
        sent = published_sample()
        assert [p["address"] for p in event["parties"]] == [p["address"] for p in sent["parties"]]
        assert [(e["issueDate"], e["dueDate"]) for e in event["expenses"]] == [
            ("2018-09-10T11:22:39.760Z", "2018-09-10T11:22:39.760Z")
        ]
        assert [p["dueDate"] for p in event["payments"]] == ["2018-09-10T11:22:39.776Z"]
        assert event["parties"][0]["contact"] == sent["parties"][0]["contact"]

        revision = await stack.get(f"/v1/settlements/{r.json()['revision_token']}", as_="claims")
        assert revision.status_code == 200 and revision.json()["settlementDetails"]["deductible"] == 1000


async def test_an_idempotency_key_reused_for_another_settlement_is_refused(make_stack: StackFactory) -> None:
    """Item 16: a key reused on a later revision with another body answered the old revision (even a
    cancelled one) and lost the re-settlement; now a 422 problem+json, and a true retry still answers."""
    async with make_stack(events_hold_s=1) as stack:
        case = await new_case(stack)
        path = f"/v1/cases/{case['id']}/settlements"
        key = {"Idempotency-Key": "settle-4711-a"}
        first = await stack.post(path, as_="claims", json=settlement(), headers=key)
        assert first.status_code == 201, first.text
        await stack.post(f"{path}/{first.json()['revision_token']}/cancel", as_="claims")
        await stack.post(f"/v1/cases/{case['id']}/reopen", as_="claims", json=HANDLER)
        r = await stack.post(path, as_="claims", json=settlement(compensation=9000), headers=key)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        assert r.json()["code"] == "idempotency_key_reused"
        again = await stack.post(path, as_="claims", json=settlement(), headers=key)
        assert again.status_code == 201 and again.json() == first.json()
        r = await stack.post(path, as_="claims", json=settlement(compensation=9000))
        assert r.status_code == 201 and r.json()["revision_no"] == 2


async def test_settlement_api_follows_how_the_case_was_closed_and_points_to_the_successor(
    make_stack: StackFactory,
) -> None:
    """Item 18: a case closed externally answered SETTLED (Scalepoint: CLOSED_EXTERNAL, so the insurer
    knows it pays the claimant itself); a superseded revision gave no pointer to its successor; an RV
    invoice paid to the claimant was accepted."""
    async with make_stack() as stack:
        case = await new_case(stack)
        path = f"/v1/cases/{case['id']}/settlements"
        external = settlement() | {
            "details": settlement()["details"] | {"settlementType": "SETTLED_EXTERNALLY"}
        }
        first = (await stack.post(path, as_="claims", json=external)).json()["revision_token"]
        details = (await stack.get(f"/v1/settlements/{first}", as_="claims")).json()["settlementDetails"]
        assert (details["status"], details["settlementType"]) == ("CLOSED_EXTERNAL", "SETTLED_EXTERNALLY")
        assert "supersededBy" not in details

        await stack.post(f"/v1/cases/{case['id']}/reopen", as_="claims", json=HANDLER)
        rv_to_claimant = settlement()
        rv_to_claimant["expenses"][1]["payeeParty"] = {"$ref": "/parties/2"}
        r = await stack.post(path, as_="claims", json=rv_to_claimant)
        assert r.status_code == 422 and "serviceProvider" in r.text, r.text
        second = (await stack.post(path, as_="claims", json=settlement())).json()["revision_token"]
        details = (await stack.get(f"/v1/settlements/{first}", as_="claims")).json()["settlementDetails"]
        assert details["supersededBy"] == second
        details = (await stack.get(f"/v1/settlements/{second}", as_="claims")).json()["settlementDetails"]
        assert (details["status"], details["settlementType"]) == ("SETTLED", "SETTLED_WITH_EMAIL")
