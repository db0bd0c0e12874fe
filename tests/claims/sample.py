"""The demo settlement (payflow/data/demo-settlement.json) with the amounts a test needs.

A ClaimShop-like settlement: the insurer pays the claimant (less the deductible) and a repairer (RV).
"""

from __future__ import annotations

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


def validate(event: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(event), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
