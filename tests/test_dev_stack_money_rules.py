"""Issue 23's money rules end to end on `payflow dev` as the Tanzania CHF build runs it (1.1 % mobile-money
fee, whole shillings): one stack start shows the four points the acceptance names."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from domain.money import FeePolicy, TypeOfPayment, amount_to_be_paid, transfer_fee
from tests.api.test_get_control_number import SEED_SAMPLE
from tests.test_dev_stack import _token, dev_stack

CHF = {"PAYFLOW_MOBILE_FEE_RATE": "0.011", "PAYFLOW_TO_BE_PAID_PLACES": "0"}
CHF_FEES = FeePolicy(mobile_rate=Decimal("0.011"), to_be_paid_places=0)
REFUSED = {"error_occured": True, "error_message": "2-Wrong format of input data"}
NO_PREMIUM_YET = 109


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


def _row(db: sqlite3.Connection, query: str, *params: Any) -> sqlite3.Row | None:
    return db.execute(query, params).fetchone()


def _column(db: sqlite3.Connection, query: str, *params: Any) -> list[Any]:
    return [row[0] for row in db.execute(query, params)]


async def _until(db: sqlite3.Connection, query: str, *params: Any, bound_s: float = 15) -> sqlite3.Row:
    """The first row `query` answers, polled for at most `bound_s` seconds."""
    started = time.monotonic()
    while (row := _row(db, query, *params)) is None:
        assert time.monotonic() - started < bound_s, f"nothing for {query} {params} after {bound_s} s"
        await asyncio.sleep(0.05)
    return row


async def _billed(
    http: httpx.AsyncClient, db: sqlite3.Connection, headers: dict[str, str], body: dict[str, Any]
) -> sqlite3.Row:
    """GetControlNumber, then the payment's row once its control number is assigned (a loaded machine
    may answer with the intent id before the payment exists)."""
    answer = (await http.post("/api/GetControlNumber", json=body, headers=headers)).json()
    assert answer["error_occured"] is False, answer
    ref = answer["internal_identifier"]
    return await _until(
        db,
        "select * from payment where (id = ? or intent_id = ?) and control_number is not null",
        int(ref) if ref.isdigit() else -1,
        ref,
    )


async def _pay(http: httpx.AsyncClient, manifest: dict[str, Any], payment: sqlite3.Row) -> dict[str, Any]:
    """The payer pays exactly what the bill asks, at the gateway simulator."""
    r = await http.post(
        f"{manifest['gateway_simulator']}/payments",
        json={
            "control_number": payment["control_number"],
            "amount": str(_money(payment["amount_to_be_paid"])),
            "payer_phone": "0681333045",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_chf_fee_officer_negative_and_repeated_lines_on_payflow_dev(tmp_path: Path) -> None:
    seed = json.loads(SEED_SAMPLE)
    self_payer = seed | {"enrolment_officer_code": None, "amount_to_be_paid": None}
    renewal = seed["policies"][0]
    async with (
        dev_stack(tmp_path, "gateway", env=CHF) as manifest,
        httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http,
    ):
        headers = await _token(http, manifest, "demo-eo-app")
        db = sqlite3.connect(manifest["database"].split("///", 1)[1])
        db.row_factory = sqlite3.Row
        # (3) a negative line amount and (4) a policy named twice are refused before anything is written
        second = renewal | {"insurance_product_code": "FCUL0002", "amount": -20999}
        negative = self_payer | {"policies": [renewal, second]}
        twice = self_payer | {"policies": [renewal, dict(renewal)]}
        for refused in (negative, twice):
            r = await http.post("/api/GetControlNumber", json=refused, headers=headers)
            assert (r.status_code, r.json()) == (400, REFUSED), refused
        assert _column(db, "select id from payment") == []

        # (2) the README's officer example, paid after the demo policy expired (2026-11-30): matching
        # finds no contribution of a running renewal, so it waits at 4 (error 109), linked to nothing
        officer = await _billed(http, db, headers, seed)
        await _pay(http, manifest, officer)
        waiting = await _until(
            db,
            "select status, match_note from payment where id = ? and match_note is not null",
            officer["id"],
        )
        assert waiting["status"] == 4, dict(waiting)
        assert [line["error"] for line in json.loads(waiting["match_note"])["lines"]] == [NO_PREMIUM_YET]
        assert _column(db, "select premium_id from paymentdetail where premium_id is not null") == []
        assert _column(db, "select receipt from premium") == ["DEMO-0001"]  # no premium booked either

        # (1) a self-payer's mobile-money renewal: billed with the fee taken off, paid as billed,
        # matched with the fee added back and its renewal Active
        payment = await _billed(http, db, headers, self_payer)
        expected = _money(payment["expected_amount"])
        fee = transfer_fee(expected, TypeOfPayment.MOBILE_PHONE, CHF_FEES)
        billed = _money(payment["amount_to_be_paid"])
        assert fee > 0 and _money(payment["transfer_fee"]) == fee, dict(payment)
        assert billed == amount_to_be_paid(expected, fee, CHF_FEES) == expected - fee  # 20,772 for 21,000
        sim = (await http.get(f"{manifest['gateway_simulator']}/_sim/bills")).json()
        [bill] = [b for b in sim["bills"] if b.get("control_number") == payment["control_number"]]
        assert _money(bill["amount"]) == billed
        paid = await _pay(http, manifest, payment)
        matched = await _until(db, "select * from payment where id = ? and status = 5", payment["id"])
        assert (
            _money(matched["received_amount"]),
            _money(matched["fee_added"]),
            _money(matched["surplus"]),
        ) == (
            billed,
            fee,
            0,
        )
        [(stage, status, value, premium)] = db.execute(
            "select stage, status, value, premium.amount from policy join premium "
            "on premium.policy_id = policy.id where receipt = ?",
            (paid["transaction_id"],),
        ).fetchall()
        assert (stage, status) == ("R", 2) and _money(value) == _money(premium) == expected
        db.close()
