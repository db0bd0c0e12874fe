"""What the workflow sandbox costs the worker per flow: one recorded history replayed with each runner.

`python -m bench.sandbox [--runs 60] [--history tests/histories/payment_intent/at_rest_flow_a_patched.json]`
replays the history `--runs` times per runner, the runners taking turns in rounds of 10 so that the
load other people put on the machine falls on all of them alike, and prints the worker's CPU (process
time, all threads) per replay. A replay runs exactly the workflow code a worker runs for that flow,
task by task (a new run in a fresh sandbox, every activation), without the server, the store or the
activities: the difference between the runners is the sandbox's own cost per flow.

Runners: `sandbox` is production's until issue 21 (`payflow.workers.WORKFLOW_RUNNER`: our packages
passed through), `sandbox, all passed through` passes every module through (the import checks off,
the call checks kept), `unsandboxed` is `UnsandboxedWorkflowRunner` (production's since issue 21).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from payflow.temporal_setup import WORKFLOWS
from payflow.workers import SANDBOXED
from tests.keys import CONVERTER

ROUND = 10
RUNNERS: dict[str, WorkflowRunner] = {
    "sandbox": SANDBOXED,
    "sandbox, all passed through": SandboxedWorkflowRunner(
        restrictions=SANDBOXED.restrictions.with_passthrough_all_modules()
    ),
    "unsandboxed": UnsandboxedWorkflowRunner(),
}


async def _replay(runner: WorkflowRunner, history: WorkflowHistory, times: int) -> float:
    """CPU seconds of `times` replays."""
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=CONVERTER, workflow_runner=runner)
    start = time.process_time()
    for _ in range(times):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
    return time.process_time() - start


async def run(args: argparse.Namespace) -> None:
    history = WorkflowHistory.from_json("bench", args.history.read_text())
    for runner in RUNNERS.values():  # warm up: imports, the sandbox's module cache
        await _replay(runner, history, 3)
    per_flow: dict[str, list[float]] = {name: [] for name in RUNNERS}
    for _ in range(max(1, args.runs // ROUND)):
        for name, runner in RUNNERS.items():
            per_flow[name].append(await _replay(runner, history, ROUND) / ROUND * 1000)
    events = len(history.events)
    print(f"{args.history} ({events} events), {args.runs} replays per runner, CPU ms per flow:")
    base = statistics.median(per_flow["unsandboxed"])
    for name, samples in per_flow.items():
        mid = statistics.median(samples)
        spread = f"min {min(samples):.1f}, max {max(samples):.1f}"
        print(f"  {name:30} median {mid:6.1f} ({spread}), {mid / base:.2f}×")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=60)
    p.add_argument(
        "--history", type=Path, default=Path("tests/histories/payment_intent/at_rest_flow_a_patched.json")
    )
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
