"""P7's peer: GetControlNumber as a plain FastAPI + SQLAlchemy service would do it, without Temporal.

What a user would write instead of payflow: one request, one transaction. It parses the openIMIS
body, reads the registry, validates and values the intent with payflow's own `domain/` code, then
inserts the payment, its details, its two events (created, control number assigned), an internal
control number and the "control number assigned" SMS as an outbox row (sent later by someone else),
on the same database through payflow's store models, and answers like payflow. No auth, no retries,
no durability beyond the commit. Run with the interpreter under test, `PAYFLOW_*` settings:

    python bench/peers/plain_cn.py --port P
"""

from __future__ import annotations

import argparse
import inspect
import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from activities.sms import _text as sms_text  # the SMS activity's own renderer: same text, same work
from api.openimis_wire import WireError, intent_of_pay
from domain.control_number import with_check_digits
from domain.intent import INTENT_MESSAGES, PaymentIntentInput, validate_intent
from domain.money import amount_to_be_paid, transfer_fee
from domain.payment_flow import SmsNotice
from domain.sms import SmsKind, is_primary
from domain.status import PaymentStatus
from domain.valuation import expected_amount, value_line
from infra.settings import Settings
from store.db import make_engine, session_factory, transaction
from store.events import publish_payment
from store.models import Location, Payment, PaymentDetail, Product, SmsMessage, utcnow
from store.registry import SqlRegistry

PAID = (None,) if "paid" in inspect.signature(sms_text).parameters else ()
"""No paid facts for this notice, where the renderer under test takes them (since d3b4501)."""

TENANT = "demo"
DRAWS = 5


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="plain GetControlNumber")
    sessions = session_factory(make_engine(settings.database_url))
    registry = SqlRegistry(sessions)

    @app.post("/api/GetControlNumber")
    async def get_control_number(request: Request) -> JSONResponse:
        try:
            fields = intent_of_pay(json.loads(await request.body() or b"null"))
        except (WireError, ValueError) as err:
            message = str(err) if isinstance(err, WireError) else "2-Wrong format of input data"
            return JSONResponse({"error_occured": True, "error_message": message}, status_code=400)
        intent = PaymentIntentInput(
            intent_id=str(uuid.uuid4()), tenant=TENANT, options=settings.intent_options, **fields
        )
        facts = await registry.intent_facts(intent)
        error = validate_intent(
            intent, facts.officer, [ln.facts for ln in facts.lines], prior_enrolment=settings.prior_enrolment
        )
        if error is not None:
            return JSONResponse({"error_occured": True, "error_message": error.message})
        for _ in range(DRAWS):
            try:
                payment = await _insert(sessions, settings, intent, facts)
            except IntegrityError:  # the drawn control number is taken: draw again
                continue
            return JSONResponse(
                {
                    "error_occured": False,
                    "error_message": INTENT_MESSAGES[0],
                    "internal_identifier": str(payment.id),
                    "control_number": payment.control_number,
                }
            )
        return JSONResponse({"error_occured": True, "error_message": INTENT_MESSAGES[8]}, status_code=500)

    return app


def _control_number(settings: Settings) -> str:
    digits = settings.cn_length - 2
    return with_check_digits(str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1)))


async def _insert(sessions: Any, settings: Settings, intent: PaymentIntentInput, facts: Any) -> Payment:
    """Value the lines and write everything in one transaction."""
    today = datetime.now(UTC).date()
    values = [
        value_line(
            found.product,
            found.family,
            line.stage,
            is_eo=bool(intent.officer_code),
            enroll_date=today,
            provided_amount=line.amount,
            proxy=settings.proxy_family,
            age_of_majority=settings.age_of_majority,
        )
        for line, found in zip(intent.lines, facts.lines, strict=True)
    ]
    expected = expected_amount(values, intent.amount_to_be_paid)
    fee = transfer_fee(expected, intent.type_of_payment, settings.fee_policy)
    async with transaction(sessions) as s:
        payment = Payment(
            intent_id=intent.intent_id,
            tenant=intent.tenant,
            status=int(PaymentStatus.CREATED),
            officer_code=intent.officer_code,
            phone_number=intent.phone_number,
            language=intent.language,
            sms_required=intent.sms_required,
            request_date=intent.request_date,
            type_of_payment=intent.type_of_payment.name if intent.type_of_payment is not None else None,
            expected_amount=expected,
            transfer_fee=fee,
            amount_to_be_paid=amount_to_be_paid(expected, fee, settings.fee_policy),
        )
        s.add(payment)
        await s.flush()
        details = [
            PaymentDetail(
                payment_id=payment.id,
                line_no=n,
                insurance_number=(ln.insurance_number or "").strip()[:12] or None,
                product_code=ln.product_code[:8],
                stage=ln.stage.value,
                expected_amount=v.amount,
                basis=v.basis.value,
            )
            for n, (ln, v) in enumerate(zip(intent.lines, values, strict=True), 1)
        ]
        s.add_all(details)
        await publish_payment(s, payment, PaymentStatus.CREATED)
        payment.control_number = _control_number(settings)
        payment.status = int(PaymentStatus.ASSIGNED)
        payment.cn_received_at = utcnow()
        await s.flush()
        await publish_payment(s, payment, PaymentStatus.ASSIGNED)
        if intent.sms_required:
            location = (
                await s.exec(
                    select(Location.name)
                    .join(Product, col(Product.location_id) == col(Location.id))
                    .where(Product.code == details[0].product_code)
                )
            ).first() or ""
            kind = SmsKind.CN_ASSIGNED
            notice = SmsNotice(payment_id=payment.id, kind=kind, key=f"{intent.intent_id}:{kind}")
            primary = is_primary(payment.language, settings.primary_languages)
            s.add(
                SmsMessage(
                    key=notice.key,
                    payment_id=payment.id,
                    kind=kind.value,
                    recipient=payment.phone_number,
                    language="primary" if primary else "secondary",
                    text=sms_text(notice, payment, details, primary, location, *PAID),
                )
            )
    return payment


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    uvicorn.run(create_app(Settings()), host="127.0.0.1", port=p.parse_args().port)
