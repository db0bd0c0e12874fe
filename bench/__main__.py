"""`python -m bench all [--quick] [--db sqlite|postgres]`: issue 11's capacity figures in one run.

One stack in the production process layout (bench.stack), the benchmarks one after the other on it,
every figure printed beside its goal, one table at the end, JSON (and the table as Markdown) in
bench/results/. Name benchmarks instead of `all` to run some: `python -m bench p2 p7 --quick`.
`python -m bench profile` records py-spy profiles of the API and the worker under load;
`python -m bench capacity` counts what one flow A and one flow B cost (docs/capacity.md);
`python -m bench flows …` is the older intent → control number comparison (bench/flows.py).
`--stack dev` measures `payflow dev` (bench/dev_stack.py) instead of the production layout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bench import capacity, p1, p2, p4, p5, p6, p7, profile, run_and_exit
from bench.context import Context
from bench.dev_stack import DevStack
from bench.report import RESULTS, Report, console
from bench.stack import Stack, StackOptions, Sut

Bench = Callable[[Context], Awaitable[None]]


async def _p2_gateway(ctx: Context) -> None:
    await p2.run(ctx, "gateway")


BENCHES: dict[str, Bench] = {
    "p2": p2.run,
    "p7": p7.run,
    "p5": p5.run,
    "p4": p4.run,
    "p1": p1.run,
    "p2-gateway": _p2_gateway,
    "p6": p6.run,
}
"""In run order: P6 last, since it leaves thousands of flows waiting; gateway mode late, so the
internal-mode benchmarks share one start of the API and workers."""
COUNTS: dict[str, Bench] = {"capacity": capacity.run}
"""Run only when named, first: costs counted per flow (not timed), on a stack nothing else has loaded."""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "benches",
        nargs="+",
        choices=["all", *COUNTS, *BENCHES, "profile"],
        metavar="BENCH",
        help=f"all, or some of: {', '.join(BENCHES)}; or capacity, profile",
    )
    p.add_argument("--quick", action="store_true", help="small sizes: the whole run in under 5 minutes")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument(
        "--stack",
        choices=["production", "dev"],
        default="production",
        help="production: payflow api + payflow worker processes (default); dev: `payflow dev`",
    )
    p.add_argument(
        "--payflow",
        type=Path,
        default=Path(sys.executable).with_name("payflow"),
        help="the payflow command under test (default: beside this interpreter)",
    )
    p.add_argument("--api-workers", type=int, default=1, help="API processes (payflow api --workers)")
    p.add_argument("--workers", type=int, default=1, help="`payflow worker` processes")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PAYFLOW_NAME=VALUE",
        help="a setting for the API and the workers, e.g. PAYFLOW_WEBHOOK_FIRST_ATTEMPT_BY_RELAY=false",
    )
    p.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    p.add_argument("--keep", action="store_true", help="keep the run's directory (logs, databases)")
    p.add_argument("--p4-events", type=int, help="P4's events (default 1,000; --quick 200)")
    p.add_argument("--p6-intents", type=int, help="P6's waiting intents (default 10,000; --quick 1,000)")
    profile.add_arguments(p)
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    sut = Sut(args.payflow.absolute())
    if not sut.payflow.exists():
        raise SystemExit(f"no payflow command at {sut.payflow}")
    named = [b for b in COUNTS if b in args.benches]
    wanted = set(BENCHES) if "all" in args.benches else set(args.benches)
    if "p2" in wanted:
        wanted.add("p7")  # the plain peer in the same run as P2, at P2's 10 req/s
    names = named + [b for b in BENCHES if b in wanted]
    workdir = Path(tempfile.mkdtemp(prefix="payflow-bench-"))
    report = Report(args={k: str(v) for k, v in vars(args).items()})
    settings = dict(pair.partition("=")[::2] for pair in args.set)
    if bad := [pair for pair in args.set if not pair.startswith("PAYFLOW_") or "=" not in pair]:
        raise SystemExit(f"--set takes PAYFLOW_NAME=VALUE, not {', '.join(bad)}")
    options = StackOptions(db=args.db, api_workers=args.api_workers, workers=args.workers, env=settings)
    failed = False
    console.print(f"payflow under test: {sut.payflow} ({args.stack} stack); run directory {workdir}")
    try:
        async with (DevStack if args.stack == "dev" else Stack)(sut, options, workdir) as stack:
            report.data["stack"] = stack.info | {"db_url": stack.db_url, "workdir": str(workdir)}
            console.print(f"stack ready in {stack.info['ready_after_s']} s (source {stack.info['source']})")
            if "profile" in args.benches:
                await profile.run(stack, args, report)
            ctx = Context(stack, report, args)
            for name in names:
                console.rule(name.upper())
                t0 = time.monotonic()
                try:
                    await (COUNTS | BENCHES)[name](ctx)
                except Exception:
                    failed = True
                    traceback.print_exc()
                    report.add(name.upper(), "benchmark failed", "see the traceback above")
                report.data.setdefault("seconds", {})[name] = round(time.monotonic() - t0, 1)
    finally:
        report.data["total_s"] = round(time.monotonic() - started, 1)
        console.print(report.table())
        console.print(f"results: {report.write(args.results)}  ({report.data['total_s']} s in all)")
        if args.keep or failed:
            console.print(f"run directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["flows"]:
        from bench.flows import main as flows_main

        flows_main(argv[1:])
    run_and_exit(run(parse(argv)))


if __name__ == "__main__":
    main()
