"""Issue 20 item 13: GePG's callbacks are authenticated by GePG's signature, as GePG does it, not by
a bearer token it never sends. The deployment maps GePG's certificate and its SpCode to the tenant;
a message signed by another certificate, or for another SpCode, leaves no trace: no row, no audit
log entry, no workflow update. JSON gateway callbacks keep their tokens."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import select

from gepg import messages
from gepg.signing import Signer
from store.models import GepgStatement, PaymentNotification
from tests.api.test_get_control_number import SEED_SAMPLE
from tests.pool.test_pool_flow import behave
from tests.security.test_gepg_wrapping import gepg_post, gepg_signer, intent, payment, row, updates
from tests.stack import Stack, StackFactory
from tests.test_dev_stack import dev_stack

STRANGER = Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))
"""A key GePG's certificate does not vouch for."""


async def nothing_logged(s: Stack) -> None:
    async with s.sessions() as session:
        assert (await session.exec(select(PaymentNotification))).all() == []
        assert (await session.exec(select(GepgStatement))).all() == []


async def test_gepg_callbacks_need_no_token_and_only_gepgs_certificate_counts(
    make_stack: StackFactory,
) -> None:
    async with make_stack(gepg=True, cn_wait_s=0.1) as s:  # held numbers: GetControlNumber need not wait
        await behave(s, callback="hold")
        payment_id = await intent(s, 2)
        before = await updates(s, payment_id)
        number = messages.bill_submission_response(
            [messages.ControlNumberResult(str(payment_id), "990000000777", "GS", "7101")]
        )
        path, ack = "/api/GetReqControlNumber", messages.BILL_RESPONSE_ACK
        assert await gepg_post(s, path, messages.signed(STRANGER, number), ack) == "7303"
        assert (await row(s, payment_id)).status == 2
        assert await updates(s, payment_id) == before

        assert await gepg_post(s, path, messages.signed(gepg_signer(s), number), ack) == "7101"
        assigned = await row(s, payment_id)
        assert (assigned.status, assigned.control_number) == (3, "990000000777")
        before = await updates(s, payment_id)

        paid = payment("990000000777", "TX-STRANGER", assigned.amount_to_be_paid)
        notified = messages.payment_info([paid])
        assert await gepg_post(
            s, "/api/GetPaymentData", messages.signed(STRANGER, notified), messages.PAYMENT_ACK
        ) == ("7303")
        other_sp = messages.payment_info([replace(paid, sp_code="SP999")])
        assert await gepg_post(
            s, "/api/GetPaymentData", messages.signed(gepg_signer(s), other_sp), messages.PAYMENT_ACK
        ) == ("7242")
        for signer, sp_code, code in ((STRANGER, "SP001", "7303"), (gepg_signer(s), "SP999", "7242")):
            answer = messages.Reconciliation("42", sp_code, "payflow", "7101", [])
            signed = messages.signed(signer, messages.reconciliation(answer))
            path, ack = "/api/GetReconciliationData", messages.RECONCILIATION_ACK
            assert await gepg_post(s, path, signed, ack, "ReconcStsCode") == code
        await nothing_logged(s)
        assert (await row(s, payment_id)).status == 3
        assert await updates(s, payment_id) == before

        for route in ("/api/GetPaymentData", "/api/GetReqControlNumber"):  # JSON keeps its token
            r = await s.http.post(route, json={"control_number": "990000000777"})
            assert r.status_code == 401, r.text


async def test_payflow_dev_over_gepg_takes_callbacks_without_a_token(tmp_path: Path) -> None:
    """`payflow dev --gateway gepg`: the gateway client is revoked before anything is billed, so the
    simulator could not get a token if it wanted one; flow A still reaches 5. A payment signed by
    another certificate, sent first, changes nothing and is named nowhere."""
    body = json.loads(SEED_SAMPLE) | {"enrolment_officer_code": None, "amount_to_be_paid": None}
    async with (
        dev_stack(tmp_path, "gateway", args=("--gateway=gepg",)) as manifest,
        httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http,
    ):
        db = sqlite3.connect(manifest["database"].split("///", 1)[1])
        gateway_client = manifest["clients"]["demo-gateway"]["client_id"]
        with db:
            db.execute("update oauthclient set revoked = 1 where client_id = ?", (gateway_client,))
        eo = manifest["clients"]["demo-eo-app"]
        token = await http.post(
            "/connect/token",
            data={"grant_type": "client_credentials"},
            auth=(eo["client_id"], eo["client_secret"]),
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answer = (await http.post("/api/GetControlNumber", json=body, headers=headers)).json()
        cn, payment_id = answer["control_number"], int(answer["internal_identifier"])
        assert cn, answer

        def status() -> int:
            return int(db.execute("select status from payment where id=?", (payment_id,)).fetchone()[0])

        forged = payment(
            cn,
            "TX-OTHER-CERT",
            db.execute("select amount_to_be_paid from payment where id=?", (payment_id,)).fetchone()[0],
        )
        r = await http.post(
            "/api/GetPaymentData",
            content=messages.signed(STRANGER, messages.payment_info([forged])),
            headers={"Content-Type": "application/xml"},
        )
        assert r.status_code == 200 and b"<TrxStsCode>7303</TrxStsCode>" in r.content, r.text
        assert db.execute("select count(*) from paymentnotification").fetchone()[0] == 0
        assert status() == 3

        await http.post(f"{manifest['gateway_simulator']}/payments", json={"control_number": cn})
        started = time.monotonic()

        def notified() -> int:
            return int(db.execute("select count(*) from paymentnotification").fetchone()[0])

        while (status(), notified()) != (5, 1):  # the audit entry is written once the update answered
            assert time.monotonic() - started < 15, f"status {status()}, {notified()} logged after 15 s"
            await asyncio.sleep(0.05)
        db.close()
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "data").glob("*.log"))
    assert "TX-OTHER-CERT" not in logs
