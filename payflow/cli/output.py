"""CLI output: a table for people, JSON (`--json`) for scripts, from the same rows.

Tables never cut a value that is one word (ids, control numbers, secrets, times): such a column is as
wide as its longest value and the table grows past the terminal if it must; only text with spaces
wraps."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Column, Table

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
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], title: str | None = None, *, header: bool = True) -> Table:
    """Rows as a table whose one-word values are never cut (see the module's docstring)."""
    texts = [[cell(v) for v in row.values()] for row in rows]
    columns = []
    for i, name in enumerate(rows[0].keys()):
        values = [t[i] for t in texts]
        words = [v for v in values if v and " " not in v]
        widest = max((len(v) for v in words), default=0)
        columns.append(Column(name, min_width=max(widest, len(name) if header else 0), overflow="fold"))
    grid = Table(*columns, title=title, show_header=header)
    for row in texts:
        grid.add_row(*row)
    return grid


def print_table(grid: Table) -> None:
    """Print at the terminal's width, or wider when the table's uncut columns need it."""
    needed = sum(c.min_width or 0 for c in grid.columns) + 3 * len(grid.columns) + 1
    console.print(grid, width=max(console.width, needed), crop=False)


def show_rows(rows: Sequence[dict[str, Any]], as_json: bool, empty: str = "nothing matches") -> None:
    if as_json:
        console.print_json(json.dumps(list(rows), default=str))
        return
    if not rows:
        console.print(empty)
        return
    print_table(table(rows))


def show_fields(data: Mapping[str, Any], as_json: bool = False) -> None:
    """One record as `name  value` lines (nested parts as compact JSON), or as JSON."""
    if as_json:
        console.print_json(json.dumps(data, default=str))
        return
    width = max((len(k) for k in data), default=0)
    for name, value in data.items():
        console.print(f"{name.ljust(width)}  {cell(value)}", markup=False, highlight=False, soft_wrap=True)


def exit_hard(code: int) -> NoReturn:
    """Leave without interpreter finalisation (sdk-python #300 can crash it after Temporal use)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
