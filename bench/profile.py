"""Where GetControlNumber's time goes: py-spy on the API and the worker under an open-loop load.

`python -m bench profile [--rate 10] [--seconds 20]` starts the stack, sends the seed request at
`--rate` for `--seconds` while `py-spy record` samples every thread of the API and every worker
(100 Hz), and reports per process: CPU used, and of the busy samples (a thread blocked in select,
a queue or a lock is counted as waiting) the share per thread kind (event loop, workflow threads,
aiosqlite's connection threads), the top functions by own time, and the share of samples that pass
through each library and each payflow function (inclusive). The raw collapsed stacks stay
in bench/results/profile-<time>/ (feed them to flamegraph.pl or speedscope). py-spy comes from PyPI
(the `dev` extra installs it); it needs ptrace rights on the processes (root, or
kernel.yama.ptrace_scope = 0).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import load, p5
from bench.context import Context
from bench.dev_stack import DevStack, RoleProcess
from bench.p2 import line
from bench.report import Report, console
from bench.stack import Proc, Stack, cpu_share

LIBRARIES = {
    "sqlalchemy / sqlmodel": r"sqlalchemy/|sqlmodel/",
    "aiosqlite / sqlite3": r"aiosqlite/|sqlite3/",
    "asyncpg": r"asyncpg/",
    "pydantic": r"pydantic/|pydantic_core",
    "temporalio (SDK)": r"temporalio/(?!worker/workflow_sandbox)",
    "workflow sandbox": r"workflow_sandbox/",
    "uvicorn / starlette / fastapi": r"uvicorn/|starlette/|fastapi/|h11/|httptools",
    "httpx / httpcore": r"httpx/|httpcore/",
    "jwt / cryptography": r"jwt/|cryptography/",
    "json": r"json/",
    "logging": r"logging/",
    "asyncio": r"asyncio/",
    "payflow code": r"\((?:api|store|domain|workflows|activities|payflow)/(?!cli\.py)",
}
TOP = 15
IDLE = re.compile(
    r"^(EpollSelector\.select|Condition\.wait|_worker \(concurrent/futures/thread\.py:8[01]\)"
    r"|_connection_worker_thread \(aiosqlite/core\.py:(59|60)\)|SimpleQueue\.get|Queue\.get|Event\.wait)"
)
"""Leaf frames of a thread waiting (for I/O, a queue, a lock) that py-spy still reports as active."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("profile")
    g.add_argument("--rate", type=float, default=10, help="requests per second while profiling")
    g.add_argument("--seconds", type=int, default=20, help="how long to profile")
    g.add_argument(
        "--py-spy", type=Path, default=None, help="py-spy binary (default: beside payflow, or PATH)"
    )
    g.add_argument(
        "--target",
        choices=["cn", "reads"],
        default="cn",
        help="cn: GetControlNumber at --rate (API and workers); reads: Settlement API under wrk (API)",
    )


def _py_spy(stack: Stack, given: Path | None) -> str:
    found = (
        str(given)
        if given
        else stack.sut.binary("py-spy")
        if stack.sut.payflow.with_name("py-spy").exists()
        else shutil.which("py-spy")
    )
    if not found:
        raise SystemExit("py-spy not found: `pip install py-spy` into the venv under test, or pass --py-spy")
    return found


def _thread_kind(frame: str) -> str:
    """`thread (123): temporal_workflow__4` → `temporal_workflow`; unnamed threads → `unnamed`."""
    name = frame.split(":", 1)[1].strip() if ":" in frame else "unnamed"
    return re.sub(r"[_-]*\d+$", "", re.sub(r"\s*\(.*\)$", "", name)) or "unnamed"


def analyse(raw: Path) -> dict[str, Any]:
    """From collapsed stacks: the share of samples spent waiting, and of the busy ones: per thread kind,
    top functions by own time, each library's and each payflow function's inclusive share."""
    own, libraries, threads, ours = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    busy = waiting = 0
    for row in raw.read_text().splitlines():
        stack, _, count = row.rpartition(" ")
        if not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        thread = "unnamed"
        while frames and frames[0].startswith(("process ", "thread ")):
            if frames[0].startswith("thread "):
                thread = _thread_kind(frames[0])
            frames = frames[1:]
        leaf = frames[-1] if frames else "(no Python frame)"
        if IDLE.match(leaf):
            waiting += n
            continue
        busy += n
        threads[thread] += n
        own[leaf] += n
        ours.update({f: n for f in set(frames) if re.search(LIBRARIES["payflow code"], f)})
        libraries.update({name: n for name, pattern in LIBRARIES.items() if re.search(pattern, stack)})

    def pct(counter: Counter[str], top: int | None = None) -> list[tuple[str, float]]:
        return [(k, round(100 * v / busy, 1)) for k, v in counter.most_common(top)] if busy else []

    return {
        "busy_samples": busy,
        "waiting_samples": waiting,
        "threads": dict(pct(threads)),
        "libraries_inclusive": dict(pct(libraries)),
        "top_own": pct(own, TOP),
        "payflow_inclusive": pct(ours, TOP),
    }


async def run(stack: Stack, args: argparse.Namespace, report: Report) -> None:
    py_spy = _py_spy(stack, args.py_spy)
    out = args.results / f"profile-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(stack, report, args)
    await ctx.settle()
    reads = args.target == "reads"
    targets: list[Proc | RoleProcess]
    if isinstance(stack, DevStack):  # its API and worker are children of the dev process
        targets = stack.role_processes(["api"] if reads else ["api", "worker"])
    else:
        targets = [*stack.apps] if reads else [*stack.apps, *stack.workers]
    if reads:
        async with httpx.AsyncClient(timeout=30) as http:
            auth = {"Authorization": f"Bearer {await stack.token('claims')}"}
            tenant, token = await p5.settled_case(ctx, http, auth)
        url = f"{stack.url['api']}/webapp/ScalePoint/dk/case/{tenant}/revision/{token}"
    spies = [await _record(py_spy, p, args.seconds, out) for p in targets]
    await asyncio.sleep(1)  # py-spy attached
    cpu0, t0 = stack.cpu(), time.monotonic()
    if reads:
        s = await p5.wrk(url, auth | {"Accept": p5.V3}, args.seconds)
        what = f"settlement reads, wrk -c{p5.CONNECTIONS}, {args.seconds} s: {s['requests_per_s']:,.0f} req/s"
    else:
        async with load.client(ctx.timeout_s) as http:
            outcomes = await load.open_loop(await ctx.control_numbers(http), args.rate, args.seconds)
        s = load.summary(outcomes, args.seconds)
        what = f"GetControlNumber {args.rate:g} req/s for {args.seconds} s: {line(s)}"
    cpu = cpu_share(cpu0, stack.cpu(), time.monotonic() - t0)
    for spy in spies:
        _, err = await spy.communicate()
        if spy.returncode:
            console.print(f"[red]py-spy failed:[/red] {err.decode()[-500:]}")
    result: dict[str, Any] = {"target": args.target, "load": s, "cpu_percent": cpu, "processes": {}}
    console.print(f"profile, {what}; CPU % of one core {cpu}")
    for p in targets:
        raw = out / f"{p.name}.txt"
        if raw.exists():
            result["processes"][p.name] = found = analyse(raw)
            _show(p.name, found)
    report.data["profile"] = result | {"raw": str(out)}
    report.add("profile", args.target, what)
    report.add("profile", "CPU % of one core", ", ".join(f"{k} {v}" for k, v in cpu.items()))


async def _record(
    py_spy: str, proc: Proc | RoleProcess, seconds: int, out: Path
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *[py_spy, "record", "--pid", str(proc.pid), "--subprocesses", "--threads", "--rate", "100"],
        *["--duration", str(seconds), "--format", "raw", "--output", str(out / f"{proc.name}.txt")],
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def _show(name: str, found: dict[str, Any]) -> None:
    console.print(
        f"[bold]{name}[/bold]: {found['busy_samples']} busy samples (100 Hz, every thread; "
        f"{found['waiting_samples']} more waiting); shares of the busy ones:"
    )
    console.print(
        "  libraries (inclusive %): " + ", ".join(f"{k} {v}" for k, v in found["libraries_inclusive"].items())
    )
    console.print("  threads (%): " + ", ".join(f"{k} {v}" for k, v in found["threads"].items()))
    console.print("  top functions by own time:")
    for frame, pct in found["top_own"]:
        console.print(f"  {pct:5.1f}%  {frame}")
    console.print("  payflow functions by inclusive time:")
    for frame, pct in found["payflow_inclusive"]:
        console.print(f"  {pct:5.1f}%  {frame}")
