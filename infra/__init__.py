"""The base every process stands on: settings, the Temporal connection, the payload codec, egress
(SSRF-safe outbound HTTP) and logs. It imports only `domain/` below it; activities, store users, the
API, the worker and the CLI all build on it (see tests/test_floor_plan.py)."""
