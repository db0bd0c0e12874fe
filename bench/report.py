"""The run's results: every figure beside its goal from issue 11, one table, one JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

RESULTS = Path(__file__).with_name("results")
console = Console(width=150)


@dataclass
class Figure:
    bench: str
    what: str
    value: str
    goal: str = ""
    met: bool | None = None
    """None: no goal, or not measurable in this run."""


@dataclass
class Report:
    args: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def add(self, bench: str, what: str, value: str, goal: str = "", met: bool | None = None) -> None:
        self.figures.append(Figure(bench, what, value, goal, met))
        mark = {True: "[green]met[/green]", False: "[red]NOT met[/red]", None: ""}[met]
        console.print(
            f"  {bench} {what}: [bold]{value}[/bold]" + (f"  (goal {goal}: {mark})" if goal else "")
        )

    def table(self) -> Table:
        where = "payflow dev" if self.args.get("stack") == "dev" else self.args.get("db")
        t = Table(title=f"payflow capacity, {self.started:%Y-%m-%d %H:%M} UTC ({where})")
        for column in ("bench", "figure", "measured", "goal", ""):
            t.add_column(column, justify="right" if column == "measured" else "left")
        for f in self.figures:
            mark = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: ""}[f.met]
            t.add_row(escape(f.bench), escape(f.what), escape(f.value), escape(f.goal), mark)
        return t

    def markdown(self) -> str:
        lines = ["| bench | figure | measured | goal | met |", "|---|---|---|---|---|"]
        for f in self.figures:
            met = {True: "yes", False: "**no**", None: ""}[f.met]
            lines.append(f"| {f.bench} | {f.what} | {f.value} | {f.goal} | {met} |")
        return "\n".join(lines)

    def write(self, directory: Path = RESULTS) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"capacity-{self.started:%Y%m%dT%H%M%SZ}.json"
        body = {
            "benchmark": "capacity",
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "args": self.args,
            "environment": environment(),
            "figures": [asdict(f) for f in self.figures],
            "data": self.data,
        }
        path.write_text(json.dumps(body, indent=2, default=str) + "\n")
        path.with_suffix(".md").write_text(self.markdown() + "\n")
        return path


def environment() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cpu_model": _cpu_model(),
        "load_average_at_end": [round(x, 2) for x in load],
    }


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")


def ms(value: float) -> str:
    return "–" if value != value else f"{value:,.0f} ms"  # NaN: nothing measured
