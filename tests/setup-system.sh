#!/bin/sh
# Debian packages the tests run for real, installed once. Part of README command (2) and .ci/run;
# without root or Debian's packages it says so and the tests that need a missing one skip.
#   chromium  headless browser: tests/test_codec_ui.py, tests/test_operator_ui.py
#   haproxy   reverse proxy in front of two API replicas: tests/test_api_replicas.py (deploy/haproxy.cfg);
#             TLS/mTLS and API-key front of the Temporal dev server: tests/test_temporal_tls.py
#   faketime  the whole test run with the clock a year ahead: tests/a-year-ahead.sh
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v haproxy >/dev/null 2>&1 || need="$need haproxy"
command -v faketime >/dev/null 2>&1 || need="$need faketime"
if [ -n "$need" ]; then
  { apt-get update -qq && apt-get install -y -qq $need >/dev/null; } 2>/dev/null ||
    echo "could not install$need (apt-get, as root): the tests that need them will skip"
fi
command -v chromium >/dev/null 2>&1 && chromium --version
command -v haproxy >/dev/null 2>&1 && haproxy -v | head -n 1
command -v faketime >/dev/null 2>&1 && echo "faketime $(dpkg-query -W -f='${Version}' faketime 2>/dev/null)"
exit 0
