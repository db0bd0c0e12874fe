"""Cancelling a settlement (SPEC §4): the reversing `case_settled` when the revision stood, then a
`claim_updated` whose change names the cancelled revision by its token, for the Settlement API."""

from __future__ import annotations

from tests.claims.sample import settlement
from tests.claims.test_settlements import events, new_case
from tests.stack import StackFactory


async def test_each_cancel_emits_claim_updated_naming_the_revision(make_stack: StackFactory) -> None:
    async with make_stack(events_hold_s=1) as stack:
        case = await new_case(stack)
        path = f"/v1/cases/{case['id']}/settlements"
        tokens = [
            (await stack.post(path, as_="claims", json=settlement(close=False))).json()["revision_token"]
            for _ in range(2)
        ]
        handler = {"changed_by": {"full_name": "Hanne Holm", "username": "hh"}}
        r = await stack.post(f"{path}/{tokens[0]}/cancel", as_="claims", json=handler)  # under rev 2
        assert r.status_code == 200, r.text
        r = await stack.post(f"{path}/{tokens[1]}/cancel", as_="claims")  # standing: reversed
        assert r.status_code == 200, r.text

        data = (await events(stack))["data"]
        assert [i["type"] for i in data] == [
            "case_created",
            *["case_settled"] * 2,
            "claim_updated",
            "case_settled",
            "claim_updated",
        ]
        assert data[4]["attributes"]["settlement"]["revisionToken"] == tokens[1]
        first, second = data[3]["attributes"], data[5]["attributes"]
        assert first["case"] == {"number": "4711", "token": case["token"], "caseType": "ContentsClaim"}
        assert [first["changedBy"], second["changedBy"]] == [
            {"fullName": "Hanne Holm", "username": "hh", "userType": "user"},
            {"fullName": stack.clients["claims"].client_id, "userType": "system"},
        ]
        assert [e["changes"] for e in (first, second)] == [
            [
                {
                    "property": "SettlementCancelled",
                    "isTerminated": False,
                    "terminationReason": "None",
                    "terminationReasonDescription": None,
                    "revisionToken": token,
                }
            ]
            for token in tokens
        ]
