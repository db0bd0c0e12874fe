"""`payflow reconciliation …`: the statement days, and an operator's mark on a day that has none.

A day stays pending until a run reconciled its statement; every scheduled run tries the pending days
again. A day the gateway will never give a statement for is marked here, with the reason.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

import typer

from infra.settings import get_settings
from payflow.cli.output import JsonFlag, console, fail, show_rows
from store.db import migrated_sessions
from store.reconciliation import day_rows, mark_day

reconciliation_app = typer.Typer(help="Reconciliation: statement days and operator marks.")


@reconciliation_app.command("days")
def reconciliation_days(
    pending: Annotated[bool, typer.Option(help="only days still without a statement")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Each statement day: pending, done (reconciled) or marked, its attempts and last outcome."""
    rows = asyncio.run(day_rows(migrated_sessions(get_settings().database_url)))
    show_rows(
        [
            {"day": r.day, "state": r.state, "attempts": r.attempts, "outcome": r.outcome or ""}
            for r in rows
            if r.state == "pending" or not pending
        ],
        as_json,
        empty="no statement day recorded",
    )


@reconciliation_app.command("mark")
def reconciliation_mark(
    day: Annotated[str, typer.Argument(help="the statement day, YYYY-MM-DD")],
    reason: Annotated[str, typer.Option(help="why this day needs no statement (kept with the day)")],
) -> None:
    """Stop retrying a day the gateway has no statement for; `payflow check` then stops naming it."""
    try:
        when = date.fromisoformat(day)
    except ValueError:
        fail(f"{day!r} is not a day (YYYY-MM-DD)")
    if not reason.strip():
        fail("give the reason with --reason")
    if not asyncio.run(mark_day(migrated_sessions(get_settings().database_url), when, reason.strip())):
        fail(f"{when} has its statement already")
    console.print(f"{when} marked: {reason.strip()}")
