"""Recorded histories must replay on the current code with the production converter.

A change that would break running workflows fails here; such a change needs `workflow.patched`.
Re-record (PAYFLOW_RECORD_HISTORIES=1 pytest tests/workflows) only for an intentionally patched change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from payflow.temporal_setup import WORKFLOWS
from tests.keys import CONVERTER
from tests.workflows.harness import HISTORIES

FILES = sorted(HISTORIES.parent.glob("*/*.json"))


def test_histories_are_recorded() -> None:
    assert {f.stem for f in FILES} >= {
        "internal_assigned_expired",
        "gateway_assigned",
        "gateway_timeout",
        "rejected",
    }


@pytest.mark.parametrize("path", FILES, ids=[f"{f.parent.name}/{f.stem}" for f in FILES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=CONVERTER)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
