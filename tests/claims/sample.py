"""A ClaimShop-like settlement: insurer pays the claimant (less the deductible) and a repairer (RV)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "case_settled.schema.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)

INSURER = {"$ref": "/parties/1"}
CLAIMANT = {"$ref": "/parties/2"}
REPAIRER = {"$ref": "/parties/3"}


def settlement(
    compensation: int = 10000, deductible: int = 250, depreciation: int = 700, close: bool = True
) -> dict[str, Any]:
    return copy.deepcopy(
        {
            "approvedBy": {
                "name": "Hanne Holm",
                "username": "hh",
                "email": "hh@insurer.example",
                "type": "user",
            },
            "summary": {
                "manualReduction": 0,
                "shareOfVat": 0,
                "deductible": deductible,
                "depreciation": depreciation,
            },
            "parties": [
                {
                    "$id": "/parties/1",
                    "id": {"schemeId": "DK:CVR", "value": "12345678"},
                    "name": "ABC Insurance",
                    "address": {
                        "street": "Havnegade 1",
                        "city": "København",
                        "postalCode": "1058",
                        "countryCode": "DK",
                    },
                    "roles": ["insuranceCompany"],
                },
                {
                    "$id": "/parties/2",
                    "id": {"schemeId": "DK:CPR", "value": "0101801234"},
                    "name": "Mette Jensen",
                    "address": {
                        "street": "Vestergade 2",
                        "city": "Aarhus",
                        "postalCode": "8000",
                        "countryCode": "DK",
                    },
                    "roles": ["policyHolder", "claimant"],
                },
                {
                    "$id": "/parties/3",
                    "id": {"schemeId": "DK:CVR", "value": "87654321"},
                    "name": "Glas & Rude ApS",
                    "address": {"city": "Odense", "postalCode": "5000", "countryCode": "DK"},
                    "roles": ["serviceProvider"],
                },
            ],
            "expenses": [
                {
                    "$id": "/expenses/1",
                    "uuid": "e1",
                    "total": compensation,
                    "currencyCode": "DKK",
                    "payerParty": INSURER,
                    "payeeParty": CLAIMANT,
                    "expenseType": "cashCompensation",
                },
                {
                    "$id": "/expenses/2",
                    "uuid": "e2",
                    "subtotal": 2000,
                    "vat": 500,
                    "total": 2500,
                    "currencyCode": "DKK",
                    "issueDate": "2026-11-20",
                    "payerParty": INSURER,
                    "payeeParty": REPAIRER,
                    "expenseType": "repairInvoice",
                },
            ],
            "obligations": [
                {
                    "$id": "/obligations/1",
                    "obligationType": "compensation",
                    "total": compensation,
                    "currencyCode": "DKK",
                    "payerParty": INSURER,
                    "payeeParty": CLAIMANT,
                    "expense": {"$ref": "/expenses/1"},
                },
                {
                    "$id": "/obligations/2",
                    "obligationType": "deductible",
                    "total": deductible,
                    "currencyCode": "DKK",
                    "payerParty": CLAIMANT,
                    "payeeParty": INSURER,
                },
                {
                    "$id": "/obligations/3",
                    "obligationType": "compensation",
                    "total": 2500,
                    "currencyCode": "DKK",
                    "payerParty": INSURER,
                    "payeeParty": REPAIRER,
                    "expense": {"$ref": "/expenses/2"},
                },
            ],
            "payments": [
                {
                    "uuid": "p1",
                    "dueDate": "2026-11-30",
                    "total": compensation - deductible,
                    "currencyCode": "DKK",
                    "payerParty": INSURER,
                    "payeeParty": CLAIMANT,
                    "paymentMeans": {
                        "paymentMeansCode": "NEMKONTO_BANK_TRANSFER",
                        "paymentChannelCode": "DK:NEMKONTO",
                    },
                    "expenses": [{"$ref": "/expenses/1"}],
                    "obligations": [{"$ref": "/obligations/1"}, {"$ref": "/obligations/2"}],
                },
                {
                    "uuid": "p2",
                    "dueDate": "2026-11-30",
                    "total": 2500,
                    "currencyCode": "DKK",
                    "payerParty": INSURER,
                    "payeeParty": REPAIRER,
                    "paymentMeans": {
                        "paymentMeansCode": "DOMESTIC_BANK_TRANSFER",
                        "paymentChannelCode": "DK:BANK",
                        "payeeFinancialAccount": {
                            "id": "0001234567",
                            "fiBranch": {"id": "1234"},
                            "paymentNote": "Skade 4711",
                        },
                    },
                    "expenses": [{"$ref": "/expenses/2"}],
                    "obligations": [{"$ref": "/obligations/3"}],
                },
            ],
            "details": {
                "settlementType": "SETTLED_WITH_EMAIL",
                "replacementAmount": compensation,
                "repairAmount": 2500,
                "settledItems": [
                    {
                        "category": "Electronics",
                        "description": "TV 55 inch",
                        "itemId": "i1",
                        "replacementAmount": compensation,
                        "depreciation": depreciation,
                        "quantity": 1,
                        "ageMonths": 26,
                    }
                ],
            },
            "close": close,
        }
    )


def validate(event: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(event), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
