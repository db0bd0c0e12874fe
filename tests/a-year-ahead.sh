#!/bin/sh
# The whole test run with the clock a year ahead (issue 22): libfaketime (Debian's `faketime`,
# tests/setup-system.sh installs it) moves the wall clock of every process this starts by +365 days;
# monotonic clocks are left alone (timeouts and polls keep their real length). The Temporal servers
# are Go binaries that read the clock without libc, so they keep the real date, and so does
# PostgreSQL's server (started outside), so the SQLite variants run: this checks that nothing payflow
# or a test computes from "today" on the Python side depends on the day the test runs.
#   sh tests/a-year-ahead.sh                 the whole suite (README command (2)'s pytest, a year ahead)
#   sh tests/a-year-ahead.sh tests/domain    any selection, pytest options included
#   sh tests/a-year-ahead.sh --dated         the tests that meet "today" most (fixed dates, the clock
#                                            mixes found): what .ci/run runs, in a minute, not ~13
set -eu
cd "$(dirname "$0")/.."
command -v faketime >/dev/null 2>&1 || { echo "no faketime: run sh tests/setup-system.sh" >&2; exit 2; }
if [ "${1:-}" = "--dated" ]; then
  shift
  set -- tests/test_dev_stack.py::test_paid_bill_is_matched_against_payflow_dev \
    tests/domain/test_valuation.py tests/domain/test_intent_rules.py tests/store/test_store.py \
    tests/api/test_payments.py tests/test_check.py tests/workflows/test_sms_resend.py \
    "tests/faults/test_injected_faults.py::test_faults_after_the_commit_change_nothing[scheduled_reconciliation]" \
    "tests/faults/test_injected_faults.py::test_faults_after_the_commit_change_nothing[sms_resent]" \
    "$@"
fi
export FAKETIME_DONT_FAKE_MONOTONIC=1
# libfaketime 0.9.10's "monotonic fix" for condition variables makes every hand-over between Python
# threads (the GIL, aiosqlite's worker) 10-40 times slower: without it timed waits still last as asked
export FAKETIME_FORCE_MONOTONIC_FIX=0
unset PAYFLOW_TEST_POSTGRES_URL  # PostgreSQL's own clock stays real: the SQLite variants only
# time.sleep in every Python process sleeps around a libfaketime bug (tests/faketime/sitecustomize.py)
export PYTHONPATH="$PWD/tests/faketime${PYTHONPATH:+:$PYTHONPATH}"
faketime -f +365d .venv/bin/python -c 'import datetime; print("tests run on", datetime.date.today())'
exec faketime -f +365d .venv/bin/pytest -q -p no:cacheprovider "$@"
