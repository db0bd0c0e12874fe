"""Imported by every Python process tests/a-year-ahead.sh starts (it puts this folder on PYTHONPATH).

Debian's libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC shifts the absolute deadline of
clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) as if it were wall-clock time, and Python 3.11+ sleeps
that way, so every `time.sleep` fails with EINVAL (wolfcw/libfaketime#426). A relative `select` timeout
is left alone: sleep with that instead, so the run a year ahead tests payflow, not that bug.
"""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)  # retried with the time left when a signal interrupts it (PEP 475)


time.sleep = _sleep
