"""Property-based fuzzing of the whole API with schemathesis, against a real stack (worker, Temporal,
database): every operation in /openapi.json, the openIMIS `/api/*` routes with their request schemas
included, with valid and invalid inputs and a token holding every scope, so requests reach the
handlers. Checks: no 5xx, and every response matches the schema declared for its status.

Each operation's examples are drawn deterministically (`derandomize`) so a failure reproduces; the
requests go out from a thread because the API serves from this test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from store.clients import OPERATOR_SCOPES, SCOPES
from tests.api.tokens import issued
from tests.stack import StackFactory

EXAMPLES = 32
"""Per operation and run: about 1,250 requests over the API's ~32 operations in about 15 s."""
MINIMUM_REQUESTS = 1000
EVERY_SCOPE = frozenset((*SCOPES, *OPERATOR_SCOPES))
"""Tenant and operator scopes in one token (no client holds both), so the codec routes are fuzzed too."""


@dataclass
class Tally:
    requests: int = 0
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)


def _fuzz(schema: schemathesis.BaseSchema, base_url: str, token: str) -> Tally:
    tally = Tally()
    session = requests.Session()
    auth = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, session=session, headers=auth, timeout=30)
            tally.requests += 1
            tally.server_errors += response.status_code >= 500
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except Exception as failure:  # every operation runs; all failures are reported together
            tally.failures.append(f"{operation.label}: {failure}")
    return tally


async def test_fuzzing_finds_no_server_error_and_no_schema_break(
    make_stack: StackFactory, report_count: Callable[[str], None]
) -> None:
    async with make_stack(cn_mode="internal", events_hold_s=0.05, webhook_allow_hosts="127.0.0.1") as stack:
        schema = schemathesis.openapi.from_dict(stack.app.openapi())
        tally = await asyncio.to_thread(
            _fuzz, schema, str(stack.http.base_url), issued(stack, scopes=EVERY_SCOPE)
        )
    operations = len(list(schema.get_all_operations()))
    report_count(
        f"schemathesis: {tally.requests} requests generated over {operations} operations, "
        f"5xx = {tally.server_errors}, failing operations = {len(tally.failures)}"
    )
    assert not tally.failures, "\n\n".join(tally.failures)
    assert tally.server_errors == 0
    assert tally.requests >= MINIMUM_REQUESTS
