"""CLI output: a table for people, JSON (`--json`) for scripts, from the same rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True, soft_wrap=True)
"""Errors are one line whatever the terminal's width (scripts and tests read them)."""
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def fail(message: str) -> NoReturn:
    """A clear CLI error: one red line on stderr, exit code 2."""
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def show_rows(rows: Sequence[dict[str, Any]], as_json: bool, empty: str = "nothing matches") -> None:
    if as_json:
        console.print_json(json.dumps(list(rows), default=str))
        return
    if not rows:
        console.print(empty)
        return
    table = Table(*rows[0].keys())
    for row in rows:
        table.add_row(*(cell(v) for v in row.values()))
    console.print(table)
