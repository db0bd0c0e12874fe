#!/bin/sh
# The date-bearing tests with the clock a year ahead (issue 22): libfaketime (Debian's `faketime`,
# tests/setup-system.sh installs it) moves the wall clock of every process this starts by +365 days;
# monotonic clocks are left alone (timeouts and polls keep their real length). The Temporal servers
# are Go binaries that read the clock without libc, so they keep the real date: these tests check that
# nothing payflow computes from "today" on the Python side depends on the day the test runs.
#   sh tests/a-year-ahead.sh                 the date-bearing tests (fixed dates that meet "today")
#   sh tests/a-year-ahead.sh tests/domain    any other selection, pytest options included
set -eu
cd "$(dirname "$0")/.."
command -v faketime >/dev/null 2>&1 || { echo "no faketime: run sh tests/setup-system.sh" >&2; exit 2; }
if [ "$#" -eq 0 ]; then
  set -- tests/test_dev_stack.py::test_paid_bill_is_matched_against_payflow_dev \
    tests/domain/test_valuation.py tests/domain/test_intent_rules.py tests/store/test_store.py \
    tests/api/test_payments.py tests/test_check.py::test_a_clean_stack_has_no_violations
fi
export FAKETIME_DONT_FAKE_MONOTONIC=1
unset PAYFLOW_TEST_POSTGRES_URL  # PostgreSQL's own clock stays real: the SQLite variants only
faketime -f +365d .venv/bin/python -c 'import datetime; print("tests run on", datetime.date.today())'
exec faketime -f +365d .venv/bin/pytest -q -p no:cacheprovider "$@"
