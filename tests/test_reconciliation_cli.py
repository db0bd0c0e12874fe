"""`payflow reconciliation days|mark`: an operator sees the days without a statement and marks one the
gateway will never have; `payflow check` then stops naming it, and a reconciled day cannot be marked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from domain.reconciliation import ReconciliationReport, RunDays
from payflow.check import check
from store.db import make_engine, session_factory
from store.models import utcnow
from store.reconciliation import finish_day, open_days

PAYFLOW = str(Path(sys.executable).with_name("payflow"))


def _cli(db_url: str, *args: str, code: int = 0) -> str:
    env = os.environ | {"PAYFLOW_DATABASE_URL": db_url, "COLUMNS": "200"}
    done = subprocess.run([PAYFLOW, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done.stdout if code == 0 else done.stderr


async def test_an_operator_marks_a_day_without_a_statement(db_url: str) -> None:
    sessions = session_factory(make_engine(db_url))
    old, yesterday = date.today() - timedelta(days=5), date.today() - timedelta(days=1)
    await open_days(sessions, RunDays(yesterday=old))
    await open_days(sessions, RunDays(yesterday=yesterday))  # the days between are opened too
    for day in (old + timedelta(days=n) for n in range(1, 5)):
        done = ReconciliationReport(day=day, checked=1, recorded=0, mismatches=0, unknown=0)
        await finish_day(sessions, done, utcnow())
    refused = ReconciliationReport(day=old, checked=0, recorded=0, mismatches=0, unknown=0, refused="403")
    await finish_day(sessions, refused, utcnow())

    named = [f.subject for f in (await check(sessions, None)).violations]
    assert named == [f"reconciliation day {old}"]
    listed = json.loads(_cli(db_url, "reconciliation", "days", "--pending", "--json"))
    assert [(d["day"], d["attempts"], d["outcome"]) for d in listed] == [
        (old.isoformat(), 1, "statement refused: 403")
    ]
    assert f"{old} marked" in _cli(db_url, "reconciliation", "mark", old.isoformat(), "--reason", "GePG down")
    assert not (await check(sessions, None)).violations
    assert "has its statement already" in _cli(
        db_url, "reconciliation", "mark", yesterday.isoformat(), "--reason", "x", code=2
    )
