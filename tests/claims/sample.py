"""Settlements for tests, and the check every emitted `case_settled` event must pass.

- `settlement()`: the demo settlement (payflow/data/demo-settlement.json) with the amounts a test
  needs. A ClaimShop-like settlement: the insurer pays the claimant (less the deductible) and a
  repairer (RV).
- `published_sample()`: the settlement parts of the sample on https://dev.scalepoint.com/case-settled,
  shape for shape (parties without ids or roles, empty address strings, `countryCode: ""`, a
  `contact`, millisecond UTC date-times, amounts as `9763.00`), with our own names, amounts and uuids.
  The stored copy of the page is cut off inside `obligations[0]`; the obligations here are the ones
  its payment's refs name.
- `validate()`: tests/schemas/case_settled.schema.json, the published schema's constraints.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema

from payflow.demo import DEMO_SETTLEMENT

SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "case_settled.schema.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)


def settlement(
    compensation: int = 10000, deductible: int = 250, depreciation: int = 700, close: bool = True
) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DEMO_SETTLEMENT.read_text())
    doc["summary"] |= {"deductible": deductible, "depreciation": depreciation}
    doc["expenses"][0]["total"] = compensation
    doc["obligations"][0]["total"] = compensation
    doc["obligations"][1]["total"] = deductible
    doc["payments"][0]["total"] = compensation - deductible
    doc["details"]["replacementAmount"] = compensation
    doc["details"]["settledItems"][0] |= {"replacementAmount": compensation, "depreciation": depreciation}
    doc["close"] = close
    return doc


def published_sample() -> dict[str, Any]:
    blank = {"street": "", "street2": "", "city": "", "postalCode": "", "countryCode": ""}
    claimant, scalepoint, insurer = ({"$ref": f"/parties/{n}"} for n in (2, 0, 1))
    at = "2018-09-10T11:22:39.760Z"
    return copy.deepcopy(  # the shared address and refs become separate objects a test may change
        {
            "approvedBy": {"email": "kh@insurer.example", "name": "khinsurer", "type": "user"},
            "summary": {"deductible": 1000.0, "shareOfVat": 0.0, "depreciation": 0.0, "manualReduction": 0.0},
            "parties": [
                {
                    "$id": "/parties/2",
                    "name": "Karen Holt",
                    "address": blank | {"street": "12 Elm Rd", "city": "Vejle", "postalCode": "7100"},
                    "contact": {"name": "Karen Holt", "telephone": "20304050", "email": "kh@example.org"},
                },
                {"$id": "/parties/0", "name": "Scalepoint", "address": blank},
                {"$id": "/parties/1", "name": "Insurer", "address": blank},
            ],
            "expenses": [
                {
                    "$id": "/expenses/0",
                    "uuid": "3f1c9a52-7d2e-4b8a-9c61-0e5d4a7b2c90",
                    "dueDate": at,
                    "issueDate": at,
                    "total": 9763.00,
                    "currencyCode": "NOK",
                    "payerParty": insurer,
                    "payeeParty": claimant,
                    "expenseType": "cashCompensation",
                }
            ],
            "payments": [
                {
                    "uuid": "8b2e4d6f-1a3c-4e5b-9d7f-2c4a6e8b0d13",
                    "dueDate": "2018-09-10T11:22:39.776Z",
                    "total": 8763.00,
                    "currencyCode": "NOK",
                    "payerParty": insurer,
                    "payeeParty": scalepoint,
                    "expenses": [{"$ref": "/expenses/0"}],
                    "obligations": [{"$ref": "/obligations/1"}],
                    "paymentMeans": {
                        "payeeFinancialAccount": {
                            "id": "987698769876",
                            "fiBranch": {"id": "9876"},
                            "paymentNote": "CH10203040",
                            "paymentDescription": "CH10203040",
                        },
                        "paymentMeansCode": "DOMESTIC_BANK_TRANSFER",
                        "paymentChannelCode": "DK:BANK",
                    },
                }
            ],
            "obligations": [
                {
                    "$id": "/obligations/0",
                    "obligationType": "compensation",
                    "total": 9763.00,
                    "currencyCode": "NOK",
                    "payerParty": insurer,
                    "payeeParty": claimant,
                    "expense": {"$ref": "/expenses/0"},
                },
                {
                    "$id": "/obligations/1",
                    "obligationType": "compensation",
                    "total": 8763.00,
                    "currencyCode": "NOK",
                    "payerParty": insurer,
                    "payeeParty": scalepoint,
                },
            ],
        }
    )


def validate(event: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(event), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
