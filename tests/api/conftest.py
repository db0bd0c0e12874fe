"""Counts the security tests report (auth matrix, fuzzing), shown in the run's terminal summary so
CI's output carries them even though pytest captures the tests' own output."""

from __future__ import annotations

from collections.abc import Callable

import pytest

COUNTS = pytest.StashKey[list[str]]()


@pytest.fixture
def report_count(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Adds one line to the summary."""
    return request.config.stash.setdefault(COUNTS, []).append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(COUNTS, [])
    if lines:
        terminalreporter.section("payflow security counts")
        for line in lines:
            terminalreporter.write_line(line)
