"""GePG reconciliation answers, between the API that receives them and the worker that asked."""

from __future__ import annotations

from pydantic import TypeAdapter

from domain.reconciliation import StatementLine
from gepg import codes
from store.db import SessionFactory, add_once, transaction
from store.models import GepgStatement, utcnow

LINES = TypeAdapter(list[StatementLine])
STATEMENT = (codes.SUCCESS, codes.NO_PAYMENT_FOUND)
"""The answers that are the day's statement (7324: a day without payments); any other is a failure."""


async def keep(
    sessions: SessionFactory, request_id: str, tenant: str, status_code: str, lines: list[StatementLine]
) -> None:
    """Keep an answer to a request. GePG delivers again when our ack is lost, with the same lines; a
    failure answer gives way to a statement that comes later for the same id, never the reverse."""
    answer = {"tenant": tenant, "status_code": status_code, "lines": LINES.dump_json(lines).decode()}
    if (
        await add_once(sessions, GepgStatement(request_id=request_id, **answer))
        or status_code not in STATEMENT
    ):
        return
    async with transaction(sessions) as s:
        kept = await s.get(GepgStatement, request_id, with_for_update=True)
        if kept is not None and kept.status_code not in STATEMENT:
            kept.sqlmodel_update(answer | {"received_at": utcnow()})
            s.add(kept)


async def answer(sessions: SessionFactory, request_id: str) -> tuple[str, list[StatementLine]] | None:
    """(ReconcStsCode, the statement's lines) once GePG has answered `request_id`."""
    async with sessions() as s:
        row = await s.get(GepgStatement, request_id)
    return None if row is None else (row.status_code, LINES.validate_json(row.lines))
