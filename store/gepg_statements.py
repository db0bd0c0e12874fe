"""GePG reconciliation answers, between the API that receives them and the worker that asked."""

from __future__ import annotations

from pydantic import TypeAdapter

from domain.reconciliation import StatementLine
from store.db import SessionFactory, add_once
from store.models import GepgStatement

LINES = TypeAdapter(list[StatementLine])


async def keep(
    sessions: SessionFactory, request_id: str, tenant: str, status_code: str, lines: list[StatementLine]
) -> None:
    """Keep the first answer to a request: GePG delivers again when our ack is lost, with the same lines."""
    row = GepgStatement(
        request_id=request_id, tenant=tenant, status_code=status_code, lines=LINES.dump_json(lines).decode()
    )
    await add_once(sessions, row)


async def answer(sessions: SessionFactory, request_id: str) -> tuple[str, list[StatementLine]] | None:
    """(ReconcStsCode, the statement's lines) once GePG has answered `request_id`."""
    async with sessions() as s:
        row = await s.get(GepgStatement, request_id)
    return None if row is None else (row.status_code, LINES.validate_json(row.lines))
